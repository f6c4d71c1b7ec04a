// The insert: one statement per chunk of rows, so each chunk is its own transaction. Rows travel
// as one array parameter per column, expanded by unnest() on the server (far faster than a
// multi-row VALUES built by a query builder); the attributes, already JSON text, travel as one
// JSON array, which spares escaping each document into an array literal. ON CONFLICT
// (source, external_id) DO NOTHING makes re-sent records duplicates; the alerts for the High and
// Critical rows actually inserted are written by the same statement, from its RETURNING rows.
// The same SQL runs on PostgreSQL through postgres.js and on PGlite through Drizzle.
import { setTimeout as sleep } from 'node:timers/promises'
import { sql, type SQL } from 'drizzle-orm'
import type { Database } from '../db/index.js'
import { driverError } from '../errors.js'
import { ALERTING_SEVERITIES } from '../db/schema.js'
import type { EventRow } from './map.js'

/** Per row: the new event's id, null for a duplicate, or why the database refused the row. */
export type RowOutcome = number | null | { refused: string }

type Tag<T> = (strings: TemplateStringsArray, ...values: unknown[]) => T

/** The statement, written once for both drivers: `param` wraps a JS array as ONE parameter. */
function statement<T>(tag: Tag<T>, param: (values: unknown[]) => unknown, rows: EventRow[]): T {
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
  return tag`
    WITH inserted AS (
      INSERT INTO events (source, event_type, severity, description, occurred_at, external_id, attributes)
      SELECT r.source, r.event_type::event_type, r.severity::severity, r.description, r.occurred_at::timestamptz,
             r.external_id, NULLIF(a.doc, 'null'::jsonb)
      FROM unnest(${param(source)}::text[], ${param(eventType)}::text[], ${param(severity)}::text[],
                  ${param(description)}::text[], ${param(occurredAt)}::text[], ${param(externalId)}::text[])
           WITH ORDINALITY AS r(source, event_type, severity, description, occurred_at, external_id, n)
      JOIN jsonb_array_elements(${attributes}::jsonb) WITH ORDINALITY AS a(doc, n) USING (n)
      ORDER BY n
      ON CONFLICT (source, external_id) DO NOTHING
      RETURNING id, source, external_id, severity, event_type
    ), raised AS (
      INSERT INTO alerts (event_id, severity, event_type, source)
      SELECT id, severity, event_type, source FROM inserted
      WHERE severity::text = ANY(${param([...ALERTING_SEVERITIES])}::text[])
    )
    SELECT id, source, external_id FROM inserted`
}

interface Returned {
  id: number | string
  source: string
  external_id: string | null
}

async function insertOnce(database: Database, rows: EventRow[]): Promise<Returned[]> {
  if (database.pg) return statement(database.pg as unknown as Tag<Promise<Returned[]>>, (v) => v, rows)
  const result = await database.db.execute(statement(sql as Tag<SQL>, (v) => sql.param(v), rows))
  return (result as unknown as { rows: Returned[] }).rows
}

const key = (source: string, externalId: string) => `${source}\u0000${externalId}`

/** Lines the RETURNING rows up with the input rows. */
function outcomes(rows: EventRow[], returned: Returned[]): RowOutcome[] {
  const byKey = new Map<string, number>()
  // Rows without an external id never conflict, so all of them come back; they are inserted in
  // input order (ORDER BY n) and take increasing ids, which pairs them with their input rows.
  const anonymous: number[] = []
  for (const r of returned) {
    if (r.external_id === null) anonymous.push(Number(r.id))
    else byKey.set(key(r.source, r.external_id), Number(r.id))
  }
  anonymous.sort((a, b) => a - b)
  let next = 0
  return rows.map((r) => (r.externalId === null ? (anonymous[next++] ?? null) : (byKey.get(key(r.source, r.externalId)) ?? null)))
}

/** Errors caused by one row's values (bad input, check or size limits) rather than by the database. */
const isRowError = (code: string | undefined) =>
  !!code && (code.startsWith('22') || code === '23502' || code === '23514' || code === '54000')
const isRetryable = (code: string | undefined) => code === '40P01' || code === '40001'

/**
 * Inserts rows (source, external_id unique among them) and reports each one's outcome. A
 * deadlock is retried; a chunk the database refuses because of some row's values is split until
 * the guilty rows are found, so they are rejected alone and the rest is stored.
 */
export async function insertRows(database: Database, rows: EventRow[]): Promise<RowOutcome[]> {
  if (rows.length === 0) return []
  for (let attempt = 1; ; attempt++) {
    try {
      return outcomes(rows, await insertOnce(database, rows))
    } catch (err) {
      const state = driverError(err)
      if (isRetryable(state?.code) && attempt < 3) {
        await sleep(20 * attempt)
        continue
      }
      if (!isRowError(state?.code)) throw err
      if (rows.length === 1) return [{ refused: `The database refused this record: ${state?.message ?? 'invalid value'}.` }]
      const mid = rows.length >>> 1
      return [...(await insertRows(database, rows.slice(0, mid))), ...(await insertRows(database, rows.slice(mid)))]
    }
  }
}
