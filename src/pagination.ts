// Lists: one page of a table, newest first, in the envelope REST clients of the Django original
// parse: { count, count_estimated, next, previous, results }, next/previous as full URLs.
//
// Two ways to walk a list:
// - keyset (the default): `next` and `previous` carry an opaque `cursor`, the position of the row
//   they continue from (its sort key and id). A page is "the rows after (or before) this one", so
//   rows that arrive between two requests never shift a page: nothing is skipped or repeated, and
//   a page deep in the list costs what the first one costs.
// - `page` numbers (the Django original's clients): OFFSET, as before.
// Every page is read in the order of an index built for it (newest DESC NULLS LAST, id DESC NULLS
// LAST, as drizzle-kit writes `.desc()`), so no list sorts its filtered set.
//
// `count` is exact up to LIST_EXACT_COUNT_MAX matching rows; beyond that it is the planner's
// estimate and `count_estimated` is true: an exact count of millions of rows would cost more than
// the page itself. A page found by number that is not full gives the exact count itself.
import { and, Column, count, getTableName, is, noopDecoder, SQL, sql, type SQLWrapper } from 'drizzle-orm'
import { PgDialect, type PgColumn, type PgTable } from 'drizzle-orm/pg-core'
import type { FastifyRequest } from 'fastify'
import type { Db } from './db/index.js'
import { rowsOf } from './db/queries.js'
import { rfc3339, timeColumnOf, utcText } from './views.js'
import { HttpError, invalidQuery, notFound } from './errors.js'

export const DEFAULT_PAGE_SIZE = 20
export const MAX_PAGE_SIZE = 100

/** The query parameters every list takes. */
export interface PageParams {
  page?: number
  page_size?: number
  cursor?: string
}

/**
 * Where a list was asked for (a request's URL, protocol and host: the base of its page links)
 * and the bound on exact counts from the configuration of the app that serves it.
 */
export type PageLocation = Pick<FastifyRequest, 'url' | 'protocol' | 'host'> & {
  server: { config: { LIST_EXACT_COUNT_MAX: number } }
}

export interface PageEnvelope<T> {
  count: number
  count_estimated: boolean
  next: string | null
  previous: string | null
  results: T[]
}

/**
 * One condition of a list's filter: its SQL over a bound value, and the value. The SQL is the same
 * whatever the value, so a page statement is built and prepared once per list, order and set of
 * filters given (its shape), and only bound per request.
 */
export interface Filter {
  name: string
  /** Bound without the column's encoder: times as ISO 8601 text, not Dates. */
  value: unknown
  sql: (value: SQLWrapper) => SQL
}

/** A filter when its value was given, else none. */
export const filter = (name: string, value: unknown, condition: (value: SQLWrapper) => SQL): Filter | undefined =>
  value === undefined ? undefined : { name, value, sql: condition }

/**
 * What a list reads: a table, its filters (combined with AND), the column it is newest-first by,
 * and what each row of a page is (a view's selection, src/views.ts, or the table's columns for a
 * list whose items JavaScript completes). The filters must follow from the list's query
 * parameters alone: the count estimate is cached by them.
 */
export interface PageSource<R> {
  table: PgTable & { id: PgColumn }
  filters: (Filter | undefined)[]
  newest: PgColumn
  select: Record<string, PgColumn | SQL>
  /** Only types the rows `select` reads. */
  readonly row?: R
}

/**
 * A source's filters as one condition, each filter's value given by `bind`: bound as it is by
 * default (statistics, counts, plans), or placeholders for a statement prepared once.
 */
export const whereOf = (source: Pick<PageSource<unknown>, 'filters'>, bind: (f: Filter) => SQLWrapper = (f) => sql.param(f.value)): SQL | undefined =>
  and(...source.filters.map((f) => f && f.sql(bind(f))))

/** A position in a list: the sort key (exact, microseconds included) and id of one row. */
interface Position {
  key: string
  id: number
}

/** Which side of its position a cursor's page lies on: older rows (next) or newer (previous). */
type Direction = 'older' | 'newer'

interface Cursor extends Position {
  direction: Direction
}

const invalidCursor = () => invalidQuery('cursor', 'Invalid cursor.')

const ISO_MICROS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/

// The JSON array [direction, key, id], written out: the key is ISO_MICROS text and the id an
// integer, so nothing in it needs escaping (decodeCursor reads it with JSON.parse).
function encodeCursor(c: Cursor): string {
  return Buffer.from(`["${c.direction === 'older' ? 'o' : 'n'}","${c.key}",${c.id}]`, 'latin1').toString('base64url')
}

function decodeCursor(text: string): Cursor {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'))
  } catch {
    throw invalidCursor()
  }
  if (!Array.isArray(value) || value.length !== 3) throw invalidCursor()
  const [d, key, id] = value as unknown[]
  if ((d !== 'o' && d !== 'n') || typeof key !== 'string' || !ISO_MICROS.test(key) || Number.isNaN(Date.parse(key))) throw invalidCursor()
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) throw invalidCursor()
  return { direction: d === 'o' ? 'older' : 'newer', key, id }
}

/** A query parameter's name as URLSearchParams reads it ('+' a space, %XX decoded), or null when it is not valid percent-encoding. */
function paramName(part: string): string | null {
  const eq = part.indexOf('=')
  const name = eq < 0 ? part : part.slice(0, eq)
  if (!name.includes('%') && !name.includes('+')) return name
  try {
    return decodeURIComponent(name.replaceAll('+', ' '))
  } catch {
    return null
  }
}

/** The request's host as a URL writes it: lower case, without the protocol's default port. */
function hostOf(at: PageLocation): string {
  const host = at.host.toLowerCase()
  const port = at.protocol === 'https' ? ':443' : ':80'
  return host.endsWith(port) ? host.slice(0, -port.length) : host
}

/**
 * The page links of one request: its URL with `page` and `cursor` removed, the rest of its query
 * as the client wrote it, then the new `page` or `cursor`. Made only when a link is made (a lone
 * page has none), by splitting the query's text: parsing it as a URL and editing its
 * searchParams was a thirtieth of a list request's time.
 */
function linker(at: PageLocation) {
  let plain: string | undefined
  let prefix = ''
  return (set: { page?: number; cursor?: string }): string => {
    if (plain === undefined) {
      const q = at.url.indexOf('?')
      const path = q < 0 ? at.url : at.url.slice(0, q)
      const kept = q < 0 ? [] : at.url.slice(q + 1).split('&').filter((part) => {
        if (part === '') return false
        const name = paramName(part)
        return name !== 'page' && name !== 'cursor'
      })
      const base = `${at.protocol}://${hostOf(at)}${path}`
      plain = kept.length > 0 ? `${base}?${kept.join('&')}` : base
      prefix = `${plain}${kept.length > 0 ? '&' : '?'}`
    }
    return set.cursor !== undefined ? `${prefix}cursor=${set.cursor}` : set.page !== undefined && set.page > 1 ? `${prefix}page=${set.page}` : plain
  }
}

/** The sort key as exact UTC text: a JS Date would drop the microseconds and skip or repeat rows. */
const keyOf = (column: PgColumn) => utcText(column, 6)

/** How a page is found: the first rows, the rows past a cursor either way, or by OFFSET. */
type Walk = 'first' | Direction | 'offset'

interface Decoder {
  mapFromDriverValue(value: unknown): unknown
}

/**
 * What a page statement reads: the source's selection, and each row's position for the page
 * links (`_key`, `_id`). A view shows both already (its id, and its newest column as PostgreSQL's
 * text, src/views.ts): then the position is taken from those fields' values, not selected twice
 * (two of a page row's columns for nothing, for the database to write and the driver to read).
 * A selection of plain columns (a Date drops the microseconds) has them selected.
 */
function pageSelection(source: PageSource<unknown>): { select: Record<string, unknown>; copies: Copy[] } {
  const names = Object.keys(source.select)
  const keyField = names.find((n) => timeColumnOf(source.select[n]) === source.newest)
  const idField = names.find((n) => source.select[n] === source.table.id)
  const select: Record<string, unknown> = { ...source.select }
  const copies: Copy[] = []
  if (keyField) copies.push({ name: '_key', of: keyField, decoder: { mapFromDriverValue: (text) => rfc3339(text as string, 6) } })
  else select._key = keyOf(source.newest)
  if (idField) copies.push({ name: '_id', of: idField })
  else select._id = source.table.id
  return { select, copies }
}

/** A row's field read again from another field's value (with a decoder of its own, or that field's). */
interface Copy {
  name: string
  of: string
  decoder?: Decoder
}

/**
 * The page's rows of one shape, in the index's order, read up to `limit`, each value given by
 * `bind` (placeholders to prepare it, bound parameters to run or explain it as it is): the filters
 * by their names, the cursor's position as `_key` and `_id`, and `_offset`.
 */
function pageRows(db: Db, source: PageSource<unknown>, walk: Walk, bind: (name: string) => SQLWrapper, limit: SQLWrapper): SQL {
  const { table, newest } = source
  const at = sql`(${newest}, ${table.id})`
  const position = sql`(${bind('_key')}::timestamptz, ${bind('_id')}::bigint)`
  const query = db
    .select(pageSelection(source).select as Record<string, PgColumn | SQL>)
    .from(table)
    .where(
      and(
        whereOf(source, (f) => bind(f.name)),
        walk === 'older' ? sql`${at} < ${position}` : walk === 'newer' ? sql`${at} > ${position}` : undefined
      )
    )
    .orderBy(
      ...(walk === 'newer'
        ? [sql`${newest} asc nulls first`, sql`${table.id} asc nulls first`]
        : [sql`${newest} desc nulls last`, sql`${table.id} desc nulls last`])
    )
    .limit(limit as unknown as number)
  return (walk === 'offset' ? query.offset(bind('_offset') as unknown as number) : query).getSQL()
}

/**
 * The page statement of one shape, as Vigil prepares it: the page's rows read to the longest
 * page's length, a constant, and cut to `_limit` by an outer query. A prepared statement whose
 * LIMIT is a parameter is planned again on every run: PostgreSQL estimates an unknown limit as a
 * tenth of the table, so the plan made for any limit costs more than each run's own and is never
 * chosen, and planning cost a page about as much again as reading it. With a constant inner limit
 * the plan made once is as cheap as each run's and is kept (test/listing.test.ts), and the outer
 * LIMIT stops the inner scan after the page's own rows. The inner query's order is the page's:
 * nothing between the two reorders rows.
 */
const pageStatement = (db: Db, source: PageSource<unknown>, walk: Walk, bind: (name: string) => SQLWrapper): SQL =>
  sql`select * from (${pageRows(db, source, walk, bind, LONGEST_READ)}) as page limit ${bind('_limit')}`

/** The inner query's limit: the longest page and the row that says another follows, written as a constant. */
const LONGEST_READ = sql.raw(String(MAX_PAGE_SIZE + 1))

/** Where a page starts, how long it is, and every value its statement binds, from the request's parameters. */
function pageWalk(source: PageSource<unknown>, params: PageParams) {
  const size = Math.min(params.page_size ?? DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
  const cursor = params.cursor === undefined ? undefined : decodeCursor(params.cursor)
  const walk: Walk = cursor ? cursor.direction : params.page !== undefined ? 'offset' : 'first'
  // One row more than the page: whether it comes says whether there is a page beyond.
  const values: Record<string, unknown> = { _limit: size + 1, _offset: ((params.page ?? 1) - 1) * size, _key: cursor?.key, _id: cursor?.id }
  for (const f of source.filters) if (f) values[f.name] = f.value
  return { size, cursor, walk, values }
}

/**
 * The page query with its values bound, as Vigil runs it. Exported for the test that checks, on
 * PostgreSQL at a realistic size, that every list is read in index order (test/listing.test.ts).
 */
export function pageQuery(db: Db, source: PageSource<unknown>, params: PageParams) {
  const { walk, values } = pageWalk(source, params)
  return pageStatement(db, source, walk, (name) => sql.param(values[name]))
}

/** Writes a statement's text and parameters (the same for either driver). */
const dialect = new PgDialect()

/** A page query's text and parameters, as pageQuery binds them (the plan test prepares it). */
export const pageQueryText = (db: Db, source: PageSource<unknown>, params: PageParams) => dialect.sqlToQuery(pageQuery(db, source, params))

/**
 * The same page as one plain statement, its length bound in its own LIMIT: bench/list.ts's raw
 * baseline, the leanest statement of the page for a client that plans every query (pgbench's,
 * with its values written in, plans faster than the prepared form around it).
 */
export function plainPageQueryText(db: Db, source: PageSource<unknown>, params: PageParams) {
  const { walk, values } = pageWalk(source, params)
  const bind = (name: string) => sql.param(values[name])
  return dialect.sqlToQuery(pageRows(db, source, walk, bind, bind('_limit')))
}

/** A statement prepared once: run with its values, it gives what its mapper makes of the rows. */
interface Prepared<T> {
  execute(values: Record<string, unknown>): Promise<T>
}
const prepared = new WeakMap<Db, Map<string, Prepared<unknown>>>()

/**
 * The statement of one shape (a list, its walk and the names of its filters), prepared once per
 * database handle: a list's statements are built by Drizzle's query builder and named once,
 * then only bound (the count, built again per request, cost a list within the count bound more
 * than a quarter of its Node time).
 */
function preparedOnce<T>(db: Db, shape: string, make: () => Prepared<T>): Prepared<T> {
  const known = mapOf(prepared, db)
  let statement = known.get(shape) as Prepared<T> | undefined
  if (!statement) known.set(shape, (statement = make()))
  return statement
}

/** A database handle's own map in `maps` (statements and caches are per handle). */
function mapOf<V>(maps: WeakMap<Db, Map<string, V>>, db: Db): Map<string, V> {
  let map = maps.get(db)
  if (!map) maps.set(db, (map = new Map<string, V>()))
  return map
}

/** Sets `key` in a cache bounded like every cache: at 1000 entries, the oldest goes first. */
function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  if (cache.size >= 1000 && !cache.has(key)) cache.delete(cache.keys().next().value!)
  cache.set(key, value)
}

/** A shape's name: the list's table and column, how it is walked, the filters given. */
const shapeOf = (source: PageSource<unknown>, walk: string) =>
  `${getTableName(source.table)}.${source.newest.name} ${walk} ${source.filters.flatMap((f) => (f ? [f.name] : [])).join(',')}`

const decoderOf = (field: SQL) => (field as unknown as { decoder: Decoder }).decoder
/** A decoder that hands the driver's value on as it is (text, enums, booleans, SQL without mapWith). */
const asIs = (d: Decoder) => d === noopDecoder || d.mapFromDriverValue === Column.prototype.mapFromDriverValue

/**
 * How each column of a selection is read from the driver's value, in the statement's column
 * order (Drizzle writes a flat selection's columns in its keys' order). Drizzle's own row mapping
 * asks, for every field of every row, what kind of field it is; a page's rows are all of one
 * shape, so that is asked here once per statement, and each row becomes one object literal with
 * its keys written out (compiled once per statement, as the serializer compiles its schemas):
 * every row then has one shape from its start. Filling an empty object key by key cost a list
 * request about a tenth of its own time in its profile; the literal, about a seventh of that.
 * The keys are the selection's own names, from the code, quoted as JSON strings. `copies` are
 * fields made from another field's value (a row's position, from its view's own fields).
 */
function rowMapper(select: Record<string, unknown>, copies: Copy[]) {
  const fields = Object.entries(select).map(([name, field]) => {
    // An SQL field's decoder is what `.mapWith()` gave it (Drizzle keeps it on the field, untyped).
    const decoder = is(field, Column) ? field : is(field, SQL) ? decoderOf(field) : is(field, SQL.Aliased) ? decoderOf(field.sql) : undefined
    if (!decoder) throw new Error(`page field ${name} is neither a column nor SQL`)
    return { name, decoder: asIs(decoder) ? undefined : decoder, from: undefined as number | undefined }
  })
  const columns = fields.length
  for (const c of copies) {
    const from = fields.findIndex((f) => f.name === c.of)
    fields.push({ name: c.name, decoder: c.decoder ?? fields[from].decoder, from })
  }
  const decoders = fields.map((f) => f.decoder)
  const entries = fields.map(({ name, decoder, from }, i) => {
    const value = `row[${from ?? i}]`
    return `${JSON.stringify(name)}: ${decoder ? `${value} === null ? null : d[${i}].mapFromDriverValue(${value})` : value}`
  })
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- built from the selection's names (code), never from input
  const compile = new Function('d', `return (row) => ({ ${entries.join(', ')} })`) as (d: (Decoder | undefined)[]) => (row: unknown[]) => Record<string, unknown>
  const one = compile(decoders)
  return (rows: unknown[][]) =>
    rows.map((row) => {
      if (row.length !== columns) throw new Error(`a page row has ${row.length} columns, its selection ${columns}`)
      return one(row)
    })
}

/** The page statement of this shape. */
function preparedPage(db: Db, source: PageSource<unknown>, walk: Walk): Prepared<Record<string, unknown>[]> {
  const shape = shapeOf(source, walk)
  return preparedOnce(db, `page ${shape}`, () => {
    const query = pageStatement(db, source, walk, (name) => sql.placeholder(name))
    const { select, copies } = pageSelection(source)
    return db._.session.prepareQuery(dialect.sqlToQuery(query), undefined, `page ${shape}`, true, rowMapper(select, copies)) as Prepared<Record<string, unknown>[]>
  })
}

/** The rows a source's filters match (`where`, from whereOf): what a count counts. */
const matching = (db: Db, source: PageSource<unknown>, where: SQL | undefined) => db.select({ one: sql`1` }).from(source.table).where(where)

/**
 * The exact count's statement of this shape: the matching rows, read up to `_cap`, counted. Its
 * cap stays a parameter, so PostgreSQL plans each count for its values: a count reads up to the
 * bound's worth of rows, its plan matters far more than the planning, and a plan made for any
 * values (what a constant cap let PostgreSQL keep) read a selective filter's rows the slow way.
 */
function preparedCount(db: Db, source: PageSource<unknown>): Prepared<number> {
  const shape = shapeOf(source, 'count')
  return preparedOnce(db, shape, () => {
    const capped = matching(db, source, whereOf(source, (f) => sql.placeholder(f.name)))
      .limit(sql.placeholder('_cap') as unknown as number)
      .as('capped')
    const query = db.select({ n: count() }).from(capped)
    return db._.session.prepareQuery(query.toSQL(), undefined, shape, true, (rows: unknown[][]) => Number(rows[0][0])) as Prepared<number>
  })
}

/**
 * How long an estimated count is reused for the same list and filter. Counting up to the bound
 * costs more than the page itself (it reads the bound's worth of index entries), and past the
 * bound the answer is an estimate anyway; an exact count is never reused.
 */
const ESTIMATE_TTL_MS = 5000
const estimates = new WeakMap<Db, Map<string, { count: number; until: number }>>()

/** What identifies a list's filter for the estimate cache: its table and its query parameters but the paging ones. */
function filterKey(table: PgTable, params: PageParams, max: number): string {
  let key = `${getTableName(table)} ${max}`
  for (const [name, value] of Object.entries(params)) {
    if (name !== 'page' && name !== 'page_size' && name !== 'cursor' && value !== undefined) key += ` ${name}=${JSON.stringify(value)}`
  }
  return key
}

/**
 * Lists whose first page was last seen not full, by filter and page size (listPage). Only which
 * statement runs first is taken from here, never a count.
 */
const shortLists = new WeakMap<Db, Map<string, true>>()

/**
 * The rows of `source` (its filter `key`, its filters' `values` as the page binds them), counted
 * exactly up to `max`; beyond it, the planner's estimate.
 */
async function boundedCount(db: Db, source: PageSource<unknown>, key: string, values: Record<string, unknown>, max: number): Promise<{ count: number; estimated: boolean }> {
  const known = mapOf(estimates, db)
  const hit = known.get(key)
  if (hit && hit.until > Date.now()) return { count: hit.count, estimated: true }
  const n = await preparedCount(db, source).execute({ ...values, _cap: max + 1 })
  if (n <= max) return { count: n, estimated: false }
  const rows = await rowsOf<Record<string, unknown>>(db, sql`explain (format json) ${matching(db, source, whereOf(source))}`)
  const plan = rows[0]?.['QUERY PLAN']
  const parsed = (typeof plan === 'string' ? JSON.parse(plan) : plan) as { Plan?: { 'Plan Rows'?: number } }[]
  // Never below what was just seen to exist.
  const estimate = Math.max(Math.round(parsed?.[0]?.Plan?.['Plan Rows'] ?? 0), max + 1)
  remember(known, key, { count: estimate, until: Date.now() + ESTIMATE_TTL_MS })
  return { count: estimate, estimated: true }
}

/**
 * The one way a list is read (every list service calls this): one page of `source`, its count,
 * and the envelope with links relative to where the list was asked for. The rows are what
 * `source.select` reads, handed to the serializer as they are, or completed by `complete` (a list
 * whose items need more than their table's row).
 */
export async function listPage<R, V = R>(
  db: Db,
  at: PageLocation,
  params: PageParams,
  source: PageSource<R>,
  complete?: (rows: R[]) => V[] | Promise<V[]>
): Promise<PageEnvelope<V>> {
  if (params.page !== undefined && params.cursor !== undefined) {
    const msg = 'Give either page or cursor, not both.'
    throw new HttpError('validation_failed', msg, { errors: { non_field_errors: [msg] } })
  }
  const { size, cursor, walk, values } = pageWalk(source, params)
  const max = at.server.config.LIST_EXACT_COUNT_MAX
  const key = filterKey(source.table, params, max)
  const counted = () => boundedCount(db, source, key, values, max)
  // A page found by number (the first, or by OFFSET) that is not full holds the list's last row:
  // the list's count is the rows before the page and the page's own, exact and of the same
  // snapshot as the page. For a list that ended within its first page last time, the page goes
  // first and the count statement only if the page comes full (the list grew); for any other,
  // both go at once, so a list that needs its count waits for one round trip, not two.
  const byNumber = walk === 'first' || walk === 'offset'
  const hint = walk === 'first' ? `${key} ${size}` : undefined
  const short = mapOf(shortLists, db)
  const pageFirst = hint !== undefined && short.has(hint)
  const [fetched, countedAlready] = await Promise.all([preparedPage(db, source, walk).execute(values), pageFirst ? undefined : counted()])
  const more = fetched.length > size
  const total = byNumber && !more ? { count: (values._offset as number) + fetched.length, estimated: false } : (countedAlready ?? (await counted()))
  if (hint !== undefined) {
    if (more) short.delete(hint)
    else remember(short, hint, true)
  }
  // Each row keeps its _key and _id: the serializer writes only the fields of the item's schema.
  const rows = (more ? fetched.slice(0, size) : fetched) as unknown as (R & { _key: string; _id: number })[]
  if (cursor?.direction === 'newer') rows.reverse()
  const first = rows[0]
  const last = rows[rows.length - 1]
  const link = linker(at)
  const toCursor = (direction: Direction, row: { _key: string; _id: number } | undefined, otherwise: Position = cursor!) =>
    link({ cursor: encodeCursor({ direction, ...(row ? { key: row._key, id: row._id } : otherwise) }) })

  let next: string | null
  let previous: string | null
  if (params.page !== undefined) {
    // A page past the last one is a 404, as in DRF.
    if (params.page > 1 && rows.length === 0) throw notFound('Invalid page.')
    next = more ? link({ page: params.page + 1 }) : null
    previous = params.page > 1 ? link({ page: params.page - 1 }) : null
  } else if (cursor?.direction === 'newer') {
    // Walking back towards the newest rows: older ones lie beyond the cursor's own row.
    previous = more && first ? toCursor('newer', first) : null
    next = toCursor('older', last)
  } else {
    next = more && last ? toCursor('older', last) : null
    previous = cursor ? toCursor('newer', first) : null
  }
  const results = complete ? await complete(rows) : (rows as unknown as V[])
  return { count: total.count, count_estimated: total.estimated, next, previous, results }
}
