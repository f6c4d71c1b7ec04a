// The insert: one statement per chunk of rows, so each chunk is its own transaction. Rows travel
// as one array parameter per column, expanded by unnest() on the server (far faster than a
// multi-row VALUES built by a query builder); the attributes, already JSON text, travel as one
// JSON array, which spares escaping each document into an array literal. A few rows (up to
// SMALL_CHUNK) go as a multi-row VALUES instead, which costs the server less. ON CONFLICT
// (source, external_id) DO NOTHING makes re-sent records duplicates; the alerts for the rows
// actually inserted are written by the same statement, from its RETURNING rows, by the alert
// step the alerts module provides (src/services/alerts.ts decides which rows raise one).
// The same SQL runs on PostgreSQL through postgres.js and on PGlite through Drizzle.
import { setTimeout as sleep } from 'node:timers/promises'
import { sql, type SQL } from 'drizzle-orm'
import type { Database } from '../db/index.js'
import { rowsOf } from '../db/queries.js'
import { driverError } from '../errors.js'
import { INGEST_ALERT_STEP } from '../services/alerts.js'
import type { EventRow } from './map.js'

/** A stored row as the statement returns it: its time and attributes only when asked for (full). */
export interface StoredRow {
  id: number
  timestamp: Date | null
  attributes: unknown
}

/** Per row: the new event, null for a duplicate, or why the database refused the row. */
export type RowOutcome = StoredRow | null | { refused: string }

type Tag<T> = (strings: TemplateStringsArray, ...values: unknown[]) => T

/** Chunks of at most this many rows use the VALUES statement; larger ones the unnest statement. */
const SMALL_CHUNK = 32

// Both statements begin with whether the caller wants whole rows back (the REST API answers with
// the stored time and attributes; bulk replies need only ids, and copying every document into
// RETURNING would cost the server for nothing), then insert, then write the alerts.
const WANT = `
    WITH want AS (SELECT `
const INSERT_HEAD = `::boolean AS whole_rows), inserted AS (
      INSERT INTO events (source, event_type, severity, description, occurred_at, external_id, attributes)`
const CONFLICT_AND_RETURNING = `
      ON CONFLICT (source, external_id) DO NOTHING
      RETURNING id, source, external_id, severity, event_type,
                CASE WHEN (SELECT whole_rows FROM want) THEN "timestamp" END AS "timestamp",
                CASE WHEN (SELECT whole_rows FROM want) THEN attributes END AS attributes`
// After the insert: the alert step from the alerts module (its text here, its parameters after
// the rows'), then the reply. TAIL is the statement's text from the end of the insert on, as
// template strings: TAIL[0] continues the insert's last string, the rest follow parameters.
const TAIL = [`
    ), ${INGEST_ALERT_STEP.strings[0]}`, ...INGEST_ALERT_STEP.strings.slice(1)]
TAIL[TAIL.length - 1] += `
    SELECT id, source, external_id, "timestamp", attributes FROM inserted`

/**
 * The statements are tagged-template calls made from constant text, so both tags (postgres.js
 * and Drizzle's sql) see parameters where the values go and never splice a value into the SQL.
 */
const template = (strings: string[]) => Object.assign(strings, { raw: strings }) as unknown as TemplateStringsArray

/** The text between a row's parameters: casts, as in the unnest statement. */
const COLUMN_CASTS = [', ', '::text::event_type, ', '::text::severity, ', ', ', '::text::timestamptz, ', ', ']
const templates = new Map<number, TemplateStringsArray>()

/** The VALUES statement's template for `n` rows, made once per size (and prepared once per connection). */
function valuesTemplate(n: number): TemplateStringsArray {
  let t = templates.get(n)
  if (t) return t
  const strings = [WANT, `${INSERT_HEAD}\n      VALUES (`]
  for (let i = 0; i < n; i++) {
    strings.push(...COLUMN_CASTS)
    strings.push(`::text::jsonb)${i < n - 1 ? ', (' : `${CONFLICT_AND_RETURNING}${TAIL[0]}`}`)
  }
  strings.push(...TAIL.slice(1))
  templates.set(n, (t = template(strings)))
  return t
}

/**
 * A multi-row VALUES insert for a few rows (a group of REST requests, a small shipper batch):
 * for one row PostgreSQL spends about 40 % less CPU on it than on the unnest statement, whose
 * array expansion and join pay off only for bigger chunks.
 */
function valuesStatement<T>(tag: Tag<T>, param: (value: unknown) => unknown, rows: EventRow[], full: boolean): T {
  const values: unknown[] = [full]
  for (const r of rows) values.push(r.source, r.eventType, r.severity, r.description, r.occurredAt, r.externalId, r.attributes)
  for (const v of INGEST_ALERT_STEP.params) values.push(param(v))
  return tag(valuesTemplate(rows.length), ...values)
}

/** The unnest statement, written once for both drivers: `param` wraps a JS array as ONE parameter. */
function statement<T>(tag: Tag<T>, param: (value: unknown) => unknown, rows: EventRow[], full: boolean): T {
  const n = rows.length
  const source = new Array<string>(n)
  const eventType = new Array<string>(n)
  const severity = new Array<string>(n)
  const description = new Array<string>(n)
  const occurredAt = new Array<string | null>(n)
  const externalId = new Array<string | null>(n)
  let attributes = '['
  for (let i = 0; i < n; i++) {
    const r = rows[i]
    source[i] = r.source
    eventType[i] = r.eventType
    severity[i] = r.severity
    description[i] = r.description
    occurredAt[i] = r.occurredAt
    externalId[i] = r.externalId
    attributes += (i === 0 ? '' : ',') + (r.attributes ?? 'null')
  }
  attributes += ']'
  return tag(
    UNNEST_TEMPLATE,
    full,
    param(source),
    param(eventType),
    param(severity),
    param(description),
    param(occurredAt),
    param(externalId),
    attributes,
    ...INGEST_ALERT_STEP.params.map((v) => param(v))
  )
}

const UNNEST_TEMPLATE = template([
  WANT,
  `${INSERT_HEAD}
      SELECT r.source, r.event_type::event_type, r.severity::severity, r.description, r.occurred_at::timestamptz,
             r.external_id, NULLIF(a.doc, 'null'::jsonb)
      FROM unnest(`,
  '::text[], ',
  '::text[], ',
  '::text[],\n                  ',
  '::text[], ',
  '::text[], ',
  `::text[])
           WITH ORDINALITY AS r(source, event_type, severity, description, occurred_at, external_id, n)
      JOIN jsonb_array_elements(`,
  `::jsonb) WITH ORDINALITY AS a(doc, n) USING (n)
      ORDER BY n${CONFLICT_AND_RETURNING}${TAIL[0]}`,
  ...TAIL.slice(1)
])

interface Returned {
  id: number | string
  source: string
  external_id: string | null
  timestamp: Date | string | null
  attributes: unknown
}

function build<T>(tag: Tag<T>, param: (value: unknown) => unknown, rows: EventRow[], full: boolean): T {
  return rows.length <= SMALL_CHUNK ? valuesStatement(tag, param, rows, full) : statement(tag, param, rows, full)
}

async function insertOnce(database: Database, rows: EventRow[], full: boolean): Promise<Returned[]> {
  if (database.pg) return build(database.pg as unknown as Tag<Promise<Returned[]>>, (v) => v, rows, full)
  return rowsOf<Returned>(database.db, build(sql as Tag<SQL>, (v) => sql.param(v), rows, full))
}

const key = (source: string, externalId: string) => `${source}\u0000${externalId}`
const stored = (r: Returned): StoredRow => ({
  id: Number(r.id),
  timestamp: r.timestamp === null ? null : new Date(r.timestamp),
  attributes: r.attributes ?? null
})

/** Lines the RETURNING rows up with the input rows. */
function outcomes(rows: EventRow[], returned: Returned[]): RowOutcome[] {
  const byKey = new Map<string, StoredRow>()
  // Rows without an external id never conflict, so all of them come back; they are inserted in
  // input order (ORDER BY n) and take increasing ids, which pairs them with their input rows.
  const anonymous: StoredRow[] = []
  for (const r of returned) {
    if (r.external_id === null) anonymous.push(stored(r))
    else byKey.set(key(r.source, r.external_id), stored(r))
  }
  anonymous.sort((a, b) => a.id - b.id)
  let next = 0
  return rows.map((r) => (r.externalId === null ? (anonymous[next++] ?? null) : (byKey.get(key(r.source, r.externalId)) ?? null)))
}

/** Errors caused by one row's values (bad input, check or size limits) rather than by the database. */
const isRowError = (code: string | undefined) =>
  !!code && (code.startsWith('22') || code === '23502' || code === '23514' || code === '54000')
const isRetryable = (code: string | undefined) => code === '40P01' || code === '40001'

/**
 * Inserts rows and reports each one's outcome, with the stored time and attributes when `full`
 * (the REST API answers with them; bulk replies do not). A (source, external_id) repeated among
 * the rows is a duplicate of its first occurrence, as it would be of a row already stored.
 */
export async function insertRows(database: Database, rows: EventRow[], full = false): Promise<RowOutcome[]> {
  const seen = new Set<string>()
  const unique: EventRow[] = []
  const slots = rows.map((r) => {
    if (r.externalId !== null) {
      const k = key(r.source, r.externalId)
      if (seen.has(k)) return -1
      seen.add(k)
    }
    return unique.push(r) - 1
  })
  const outcomes = await insertUnique(database, unique, full)
  return slots.map((slot) => (slot < 0 ? null : outcomes[slot]))
}

/**
 * Inserts rows whose (source, external_id) are unique among them. A deadlock is retried; a chunk
 * the database refuses because of some row's values is split until the guilty rows are found, so
 * they are rejected alone and the rest is stored.
 */
async function insertUnique(database: Database, rows: EventRow[], full: boolean): Promise<RowOutcome[]> {
  if (rows.length === 0) return []
  for (let attempt = 1; ; attempt++) {
    try {
      return outcomes(rows, await insertOnce(database, rows, full))
    } catch (err) {
      const state = driverError(err)
      if (isRetryable(state?.code) && attempt < 3) {
        await sleep(20 * attempt)
        continue
      }
      if (!isRowError(state?.code)) throw err
      if (rows.length === 1) return [{ refused: `The database refused this record: ${state?.message ?? 'invalid value'}.` }]
      const mid = rows.length >>> 1
      return [
        ...(await insertUnique(database, rows.slice(0, mid), full)),
        ...(await insertUnique(database, rows.slice(mid), full))
      ]
    }
  }
}
