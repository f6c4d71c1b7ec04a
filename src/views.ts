// What a resource looks like to API clients, defined once per resource and read two ways:
// - `select`: a Drizzle selection, fields under their API names and timestamps read as text and
//   rewritten as text, so a list page reaches the serializer with no Date parsed and formatted
//   again per row (the per-row cost of a list);
// - `out`: the same view of a row already read whole (the reply after a write, which has the row
//   from RETURNING, and what other resources embed).
// Timestamps are RFC 3339 in UTC with milliseconds, as Date#toISOString writes them (the stored
// microseconds truncated, as a JS Date truncates them). PostgreSQL sends them as its own text, which
// every connection asks for in UTC and the ISO style (src/db/index.ts), and they are rewritten as
// text: to_char, which formatted them in PostgreSQL before, made a list page's statement about a
// fifth dearer for the database than the same page of plain columns.
import { getTableColumns, sql, type GetColumnData, type SQL } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'

/** A timestamp column, shown as ISO 8601 text (null stays null). */
interface Time<C extends PgColumn = PgColumn> {
  time: C
}

type Field = PgColumn | Time

export const time = <C extends PgColumn>(column: C): Time<C> => ({ time: column })

type FieldValue<F> =
  F extends Time<infer C> ? (C['_']['notNull'] extends true ? string : string | null) : F extends PgColumn ? GetColumnData<F> : never

export type ViewOf<F extends Record<string, Field>> = { [K in keyof F]: FieldValue<F[K]> }

export interface View<T extends PgTable, F extends Record<string, Field>> {
  /** For `db.select(view.select)`: every field under its API name, computed by PostgreSQL. */
  select: { [K in keyof F]: F[K] extends Time ? SQL<FieldValue<F[K]>> : F[K] }
  /** The same view of a row read whole. */
  out: (row: T['$inferSelect']) => ViewOf<F>
}

const isTime = (f: Field): f is Time => 'time' in f && !('table' in f)

/** How many digits of the second's fraction a timestamp's text keeps: milliseconds or microseconds. */
type Fraction = 3 | 6

/**
 * PostgreSQL's text of a timestamptz in UTC, ISO style (`2026-12-03 19:07:33.123456+00`, the
 * fraction without trailing zeros or absent), as RFC 3339 text to `digits` of the second
 * (`2026-12-03T19:07:33.123Z`). Any other text (another zone, a year past 9999) goes through a
 * Date, which keeps milliseconds only; the microseconds are the text's own digits, zone or not.
 */
export function rfc3339(text: string, digits: Fraction): string {
  const n = text.length
  if (n >= 22 && text.charCodeAt(10) === 32 && text.charCodeAt(n - 3) === 43 && text.endsWith('00') && (n === 22 || text.charCodeAt(19) === 46)) {
    const fraction = n === 22 ? '' : text.slice(20, n - 3)
    return `${text.slice(0, 10)}T${text.slice(11, 19)}.${(fraction + '000000').slice(0, digits)}Z`
  }
  const iso = new Date(text).toISOString()
  if (digits === 3) return iso
  const fraction = /^[^.]*\.(\d+)/.exec(text)?.[1] ?? ''
  return `${iso.slice(0, -1)}${(fraction + '000000').slice(3, 6)}Z`
}

/**
 * A timestamp as ISO 8601 text in UTC, to the millisecond (3: what clients see, as a Date shows
 * it) or to the microsecond (6: exact, for sort keys in cursors).
 */
export const utcText = (column: PgColumn, digits: Fraction) => {
  const field = sql<string>`${column}`.mapWith((text: string) => rfc3339(text, digits))
  timeFields.set(field, column)
  return field
}

/** The column each field made by utcText reads (its text is the column's own, whatever the digits shown). */
const timeFields = new WeakMap<SQL, PgColumn>()

/** The timestamp column a selection's field reads as text, if it is one made by utcText. */
export const timeColumnOf = (field: unknown): PgColumn | undefined => timeFields.get(field as SQL)

export function view<T extends PgTable, F extends Record<string, Field>>(table: T, fields: F): View<T, F> {
  // The row's property for each column (eventId for event_id), found once.
  const columns = Object.entries(getTableColumns(table)) as [string, PgColumn][]
  const keyOf = (column: PgColumn) => {
    const found = columns.find(([, c]) => c === column)
    if (!found) throw new Error(`column ${column.name} is not a column of this view's table`)
    return found[0]
  }
  const entries = Object.entries(fields).map(([name, f]) => ({ name, key: keyOf(isTime(f) ? f.time : f), isTime: isTime(f) }))
  const select = Object.fromEntries(Object.entries(fields).map(([name, f]) => [name, isTime(f) ? utcText(f.time, 3) : f]))
  return {
    select: select as View<T, F>['select'],
    out: (row) => {
      const r = row as Record<string, unknown>
      const o: Record<string, unknown> = {}
      for (const e of entries) {
        const v = r[e.key]
        o[e.name] = e.isTime ? (v === null || v === undefined ? null : (v as Date).toISOString()) : v
      }
      return o as ViewOf<F>
    }
  }
}
