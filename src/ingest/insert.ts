// The insert: one statement per chunk of rows, so each chunk is its own transaction. Rows travel
// as one array parameter per column, expanded by unnest() on the server (far faster than a
// multi-row VALUES built by a query builder); the attributes, already JSON text, travel as one
// JSON array, which spares escaping each document into an array literal. A few rows (up to
// SMALL_CHUNK) go as a multi-row VALUES instead, which costs the server less. Claiming each
// record's (source, external_id) in event_keys (ON CONFLICT DO NOTHING) makes re-sent records
// duplicates; the alerts for the rows actually inserted are written by the same statement, from
// its RETURNING rows, by the alert step the alerts module provides (src/services/alerts.ts
// decides which rows raise one).
// The same SQL runs on PostgreSQL through postgres.js and on PGlite through Drizzle.
import { setTimeout as sleep } from 'node:timers/promises'
import { sql, type SQL } from 'drizzle-orm'
import type { Database } from '../db/index.js'
import { makeEventPartitions } from '../db/partitions.js'
import { rowsOf } from '../db/queries.js'
import { driverError } from '../errors.js'
import { ingestAlertStep } from '../services/alerts.js'
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
// the stored attributes; bulk replies need only ids, and copying every document into RETURNING
// would cost the server for nothing), then the rows as `input`, each with its new id (events are
// partitioned, so ids come from their sequence, drizzle/0005) and its place `n` in the chunk.
// Then the keys are claimed in event_keys, and only the events whose key was claimed (or that
// have none) are stored: a key already there, or claimed by a concurrent statement that commits,
// makes its record a duplicate. Then the alerts.
const WANT = `
    WITH want AS (SELECT `
const INPUT_HEAD = `::boolean AS whole_rows), input AS MATERIALIZED (
      SELECT nextval('events_id_seq') AS id, now() AS ts, r.*`
const INPUT_COLUMNS = 'source, event_type, severity, description, occurred_at, external_id, attributes, detections, suppression_id, fingerprint, n'
const STORE = `
    ), claimed AS (
      INSERT INTO event_keys (source, external_id, event_timestamp)
      SELECT source, external_id, ts FROM input WHERE external_id IS NOT NULL
      ON CONFLICT DO NOTHING
      RETURNING source, external_id
    ), inserted AS (
      INSERT INTO events (id, source, event_type, severity, description, "timestamp", occurred_at, external_id, attributes, detections, suppression_id, updated_at)
      SELECT id, source, event_type, severity, description, ts, occurred_at, external_id, attributes, detections, suppression_id, ts FROM input
      WHERE external_id IS NULL OR (source, external_id) IN (SELECT source, external_id FROM claimed)
      RETURNING id, "timestamp", source, severity, event_type, detections, suppression_id,
                CASE WHEN (SELECT whole_rows FROM want) THEN attributes END AS attributes`
// The stored events' correlation hits (src/detection/state.ts), in the same statement as their
// events: a hit is never kept for an event that was not, nor lost for one that was. Each row's
// hits travel as parallel arrays with the row's place `n`; the time of a hit is the event's own.
const HITS = [`
    ), hits AS (
      INSERT INTO detection_hits (model_id, rule, group_key, member, value, at, event_id, source, expires_at)
      SELECT h.model_id, h.rule, h.group_key, h.member, h.value, coalesce(input.occurred_at, input.ts), input.id, input.source,
             greatest(coalesce(input.occurred_at, input.ts), input.ts) + h.span_ms * interval '1 millisecond'
      FROM unnest(`,
  '::text[]::bigint[], ',
  '::text[], ',
  '::text[], ',
  '::text[]::int[], ',
  '::text[], ',
  '::text[]::bigint[], ',
  `::text[]::int[]) AS h(model_id, rule, group_key, member, value, span_ms, n)
      JOIN input ON input.n = h.n
      WHERE input.id IN (SELECT id FROM inserted)`]
// After the insert: the alert step from the alerts module (its text here, its parameters after
// the rows'), then the reply. A tail is the statement's text from the end of the insert on, as
// template strings: its first continues the insert's last string, the rest follow parameters.
// Two statements: a chunk in which no event is grouped takes the plain alert step, which never
// reads the rows' fingerprints (grouping is off by default and costs nothing then).
function tailOf(grouped: boolean): string[] {
  const step = ingestAlertStep(grouped)
  const tail = [`${HITS[0]}`, ...HITS.slice(1, -1), `${HITS[HITS.length - 1]}
    ), ${step.strings[0]}`, ...step.strings.slice(1)]
  tail[tail.length - 1] += `
    SELECT input.n, inserted.id, inserted."timestamp", inserted.attributes FROM inserted JOIN input USING (id)`
  return tail
}
const TAILS = { plain: tailOf(false), grouped: tailOf(true) }
const tail = (grouped: boolean) => (grouped ? TAILS.grouped : TAILS.plain)
/** Whether a chunk needs the grouping alert step. */
const isGrouped = (rows: EventRow[]) => rows.some((r) => r.fingerprint)

/**
 * The statements are tagged-template calls made from constant text, so both tags (postgres.js
 * and Drizzle's sql) see parameters where the values go and never splice a value into the SQL.
 */
const template = (strings: string[]) => Object.assign(strings, { raw: strings }) as unknown as TemplateStringsArray

/** An id as text, as the other columns travel (numbers through Drizzle go wrong on postgres.js). */
const idText = (id: number | null | undefined) => (id == null ? null : String(id))

/** The text between a row's parameters: casts, as in the unnest statement. */
const COLUMN_CASTS = [', ', '::text::event_type, ', '::text::severity, ', ', ', '::text::timestamptz, ', ', ', '::text::jsonb, ', '::text::jsonb, ', '::text::bigint, ']
const templates = new Map<string, TemplateStringsArray>()

/** The VALUES statement's template for `n` rows, made once per size and alert step (and prepared once per connection). */
function valuesTemplate(n: number, grouped: boolean): TemplateStringsArray {
  const key = `${n}${grouped ? 'g' : ''}`
  let t = templates.get(key)
  if (t) return t
  const TAIL = tail(grouped)
  const strings = [WANT, `${INPUT_HEAD}\n      FROM (VALUES (`]
  for (let i = 0; i < n; i++) {
    strings.push(...COLUMN_CASTS)
    // The row's place is constant text, like the casts.
    strings.push(`::text, ${i + 1})${i < n - 1 ? ', (' : `) AS r(${INPUT_COLUMNS})${STORE}${TAIL[0]}`}`)
  }
  strings.push(...TAIL.slice(1))
  templates.set(key, (t = template(strings)))
  return t
}

/**
 * A multi-row VALUES insert for a few rows (a group of REST requests, a small shipper batch):
 * for one row PostgreSQL spends about 40 % less CPU on it than on the unnest statement, whose
 * array expansion and join pay off only for bigger chunks.
 */
function valuesStatement<T>(tag: Tag<T>, param: (value: unknown) => unknown, rows: EventRow[], full: boolean): T {
  const values: unknown[] = [full]
  for (const r of rows) {
    values.push(r.source, r.eventType, r.severity, r.description, r.occurredAt, r.externalId, r.attributes, r.detections, idText(r.suppressionId), r.fingerprint ?? null)
  }
  for (const v of hitParams(rows)) values.push(param(v))
  const grouped = isGrouped(rows)
  for (const v of ingestAlertStep(grouped).params) values.push(param(v))
  return tag(valuesTemplate(rows.length, grouped), ...values)
}

/** The chunk's correlation hits as the HITS step's parallel arrays (text, as the other columns travel). */
function hitParams(rows: EventRow[]): (string | null)[][] {
  const cols: (string | null)[][] = [[], [], [], [], [], [], []]
  rows.forEach((r, i) => {
    for (const h of r.hits) {
      cols[0].push(String(h.correlation.model.id))
      cols[1].push(h.correlation.ruleId)
      cols[2].push(h.group)
      cols[3].push(String(h.member))
      cols[4].push(h.value)
      cols[5].push(String(h.correlation.correlation.timespanMs))
      cols[6].push(String(i + 1))
    }
  })
  return cols
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
  const detections = new Array<string | null>(n)
  const suppressionId = new Array<string | null>(n)
  const fingerprint = new Array<string | null>(n)
  let attributes = '['
  for (let i = 0; i < n; i++) {
    const r = rows[i]
    source[i] = r.source
    eventType[i] = r.eventType
    severity[i] = r.severity
    description[i] = r.description
    occurredAt[i] = r.occurredAt
    externalId[i] = r.externalId
    detections[i] = r.detections
    suppressionId[i] = idText(r.suppressionId)
    fingerprint[i] = r.fingerprint ?? null
    attributes += (i === 0 ? '' : ',') + (r.attributes ?? 'null')
  }
  attributes += ']'
  const grouped = isGrouped(rows)
  return tag(
    grouped ? UNNEST_TEMPLATES.grouped : UNNEST_TEMPLATES.plain,
    full,
    param(source),
    param(eventType),
    param(severity),
    param(description),
    param(occurredAt),
    param(externalId),
    param(detections),
    param(suppressionId),
    param(fingerprint),
    attributes,
    ...hitParams(rows).map((v) => param(v)),
    ...ingestAlertStep(grouped).params.map((v) => param(v))
  )
}

const unnestTemplate = (TAIL: string[]) =>
  template([
  WANT,
  `${INPUT_HEAD}
      FROM (SELECT u.source, u.event_type::event_type, u.severity::severity, u.description, u.occurred_at::timestamptz,
                   u.external_id, NULLIF(a.doc, 'null'::jsonb), u.detections::jsonb, u.suppression_id::bigint, u.fingerprint, u.n
            FROM unnest(`,
  '::text[], ',
  '::text[], ',
  '::text[],\n                  ',
  '::text[], ',
  '::text[], ',
  '::text[], ',
  '::text[], ',
  '::text[], ',
  `::text[])
                 WITH ORDINALITY AS u(source, event_type, severity, description, occurred_at, external_id, detections, suppression_id, fingerprint, n)
            JOIN jsonb_array_elements(`,
  `::jsonb) WITH ORDINALITY AS a(doc, n) USING (n)) AS r(${INPUT_COLUMNS})${STORE}${TAIL[0]}`,
  ...TAIL.slice(1)
  ])
const UNNEST_TEMPLATES = { plain: unnestTemplate(TAILS.plain), grouped: unnestTemplate(TAILS.grouped) }

interface Returned {
  n: number | string
  id: number | string
  timestamp: Date | string
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

/** Lines the returned rows up with the input rows by their place; a row not returned was a duplicate. */
function outcomes(rows: EventRow[], returned: Returned[], full: boolean): RowOutcome[] {
  const out = new Array<RowOutcome>(rows.length).fill(null)
  for (const r of returned) {
    out[Number(r.n) - 1] = { id: Number(r.id), timestamp: full ? new Date(r.timestamp) : null, attributes: r.attributes ?? null }
  }
  return out
}

/** Errors caused by one row's values (bad input, check or size limits) rather than by the database. */
const isRowError = (code: string | undefined) =>
  !!code && (code.startsWith('22') || code === '23502' || code === '23514' || code === '54000')
const isRetryable = (code: string | undefined) => code === '40P01' || code === '40001'
/** No partition of events holds now(): made ahead at every start and hour, so this is a database restored without them or a clock that jumped. */
const isMissingPartition = (state: { code?: string; message?: string } | undefined) =>
  state?.code === '23514' && /^no partition of relation "events"/.test(state.message ?? '')

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
      return outcomes(rows, await insertOnce(database, rows, full), full)
    } catch (err) {
      const state = driverError(err)
      if (isMissingPartition(state) && attempt < 3) {
        await makeEventPartitions(database.db)
        continue
      }
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
