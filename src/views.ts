// What a resource looks like to API clients, defined once per resource and read two ways:
// - `select`: a Drizzle selection PostgreSQL computes, fields under their API names and timestamps
//   already formatted, so a list page reaches the serializer as the driver hands it over: no Date
//   parsed, mapped and formatted again per row in JavaScript (the per-row cost of a list);
// - `out`: the same view of a row already read whole (the reply after a write, which has the row
//   from RETURNING, and what other resources embed).
// Timestamps are RFC 3339 in UTC with milliseconds, as Date#toISOString writes them: to_char's MS
// truncates the stored microseconds as a JS Date does.
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

/**
 * A timestamp as ISO 8601 text in UTC, to the millisecond (MS: what clients see, as a Date shows
 * it) or to the microsecond (US: exact, for sort keys in cursors).
 */
export const utcText = (column: PgColumn, fraction: 'MS' | 'US') =>
  sql<string>`to_char(${column} at time zone 'UTC', ${sql.raw(`'YYYY-MM-DD"T"HH24:MI:SS.${fraction}"Z"'`)})`

export function view<T extends PgTable, F extends Record<string, Field>>(table: T, fields: F): View<T, F> {
  // The row's property for each column (eventId for event_id), found once.
  const columns = Object.entries(getTableColumns(table)) as [string, PgColumn][]
  const keyOf = (column: PgColumn) => {
    const found = columns.find(([, c]) => c === column)
    if (!found) throw new Error(`column ${column.name} is not a column of this view's table`)
    return found[0]
  }
  const entries = Object.entries(fields).map(([name, f]) => ({ name, key: keyOf(isTime(f) ? f.time : f), isTime: isTime(f) }))
  const select = Object.fromEntries(Object.entries(fields).map(([name, f]) => [name, isTime(f) ? utcText(f.time, 'MS') : f]))
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
