// Events through the REST API: list, get, create, change, delete. Alerts follow in the same
// transaction (or statement), always through src/services/alerts.ts.
import { and, eq, gte, lte, sql } from 'drizzle-orm'
import { groupCommit } from '../db/group-commit.js'
import type { Database, Db, Tx } from '../db/index.js'
import { alertEvents, alerts, eventKeys, events, type Event, type EventType, type Severity } from '../db/schema.js'
import { badRequest, conflict, notFound } from '../errors.js'
import type { Detector } from '../detection/detector.js'
import type { FieldSource } from '../detection/types.js'
import type { AlertScreen } from './grouping.js'
import { recordView } from '../detection/record.js'
import { maxSeverity } from '../detection/engine.js'
import { insertRows, type RowOutcome } from '../ingest/insert.js'
import type { EventRow } from '../ingest/map.js'
import { filter, listPage, type PageEnvelope, type PageLocation, type PageParams, type PageSource } from '../pagination.js'
import { time, view } from '../views.js'
import { followEvent, pageOfAlert, raiseForEvent, storedTimestamp } from './alerts.js'

/** The one view: what an event looks like to API clients (routes/events/schema.ts EventOut). */
export const eventView = view(events, {
  id: events.id,
  source: events.source,
  event_type: events.eventType,
  severity: events.severity,
  description: events.description,
  timestamp: time(events.timestamp),
  occurred_at: time(events.occurredAt),
  external_id: events.externalId,
  attributes: events.attributes,
  detections: events.detections,
  suppression: events.suppressionId,
  updated_at: time(events.updatedAt)
})

export const eventOut = eventView.out

export type EventView = ReturnType<typeof eventOut>

export interface EventInput {
  source: string
  event_type: EventType
  severity: Severity
  description?: string
  occurred_at?: string | null
  external_id?: string | null
  attributes?: Record<string, unknown> | null
}

function toColumns(input: Partial<EventInput>) {
  return {
    ...(input.source !== undefined && { source: input.source }),
    ...(input.event_type !== undefined && { eventType: input.event_type }),
    ...(input.severity !== undefined && { severity: input.severity }),
    ...(input.description !== undefined && { description: input.description }),
    ...(input.occurred_at !== undefined && { occurredAt: input.occurred_at ? new Date(input.occurred_at) : null }),
    ...(input.external_id !== undefined && { externalId: input.external_id }),
    ...(input.attributes !== undefined && { attributes: input.attributes })
  }
}

/**
 * Concurrent creates share one statement (src/db/group-commit.ts), the same one the bulk
 * endpoint uses (src/ingest/insert.ts): the events and their alerts commit together, one round
 * trip and one WAL flush for the group. Two groups in flight: one commits while the next forms
 * (and PostgreSQL merges their WAL flushes); on our 2-core machines that beat one group at a
 * time and every request on its own (bench/ingest.ts, single-event phase).
 */
const GROUP = { concurrency: 2, maxGroup: 100 }

/** The attributes as the JSON text to store; refused (400) when longer than `maxBytes`. */
export function attributesJson(attributes: EventInput['attributes'], maxBytes: number): string | null {
  if (attributes == null) return null
  const json = JSON.stringify(attributes)
  if (Buffer.byteLength(json) > maxBytes) throw badRequest(`attributes must be at most ${maxBytes} bytes of JSON.`, 'attributes')
  return json
}

const writers = new WeakMap<Database, (row: EventRow) => Promise<RowOutcome>>()

/**
 * Stores one event through the ingest statement, which also raises its alert when the policy
 * calls for one; 409 for a (source, external_id) already stored. The detection models see the
 * event as sent, its attributes as top-level fields; a match raises its severity to the rule's.
 */
export async function createEvent(database: Database, input: EventInput, maxAttributesBytes: number, detector?: Detector, screen?: AlertScreen): Promise<EventView> {
  let write = writers.get(database)
  if (!write) {
    const writeGroup = async (rows: EventRow[]) => {
      const outcomes = await insertRows(database, rows, true)
      screen?.settle(rows, outcomes)
      await detector?.settle(rows, outcomes)
      return outcomes
    }
    writers.set(database, (write = groupCommit(writeGroup, GROUP)))
  }
  const attributes = attributesJson(input.attributes, maxAttributesBytes)
  const { attributes: sent, ...fields } = input
  let view: FieldSource | undefined
  const viewOf = () => (view ??= recordView({ ...sent, ...fields }, { message: input.description }))
  const found = detector?.active ? detector.evaluate(viewOf()) : null
  const severity = maxSeverity(input.severity, found?.severity ?? null)
  const screened = screen?.active
    ? screen.screen({ source: input.source, eventType: input.event_type, severity, detections: found?.detections ?? [], field: (path) => viewOf().get(path) })
    : null
  const row: EventRow = {
    source: input.source,
    eventType: input.event_type,
    severity,
    description: input.description ?? '',
    occurredAt: input.occurred_at ? new Date(input.occurred_at).toISOString() : null,
    externalId: input.external_id ?? null,
    attributes,
    detections: found?.detections.length ? JSON.stringify(found.detections) : null,
    hits: found?.hits ?? [],
    models: found?.models.size ? found.models : null,
    counted: found?.counted ?? [],
    suppressionId: screened?.suppressionId ?? null,
    fingerprint: screened?.fingerprint ?? null
  }
  const outcome = await write(row)
  if (outcome === null) throw conflict('An event with this source and external_id already exists.', 'external_id')
  if ('refused' in outcome) throw badRequest(outcome.refused)
  return eventOut({
    id: outcome.id,
    source: row.source,
    eventType: row.eventType,
    severity: row.severity,
    description: row.description,
    timestamp: outcome.timestamp!,
    occurredAt: row.occurredAt === null ? null : new Date(row.occurredAt),
    externalId: row.externalId,
    attributes: outcome.attributes as Event['attributes'],
    detections: row.detections === null ? null : (JSON.parse(row.detections) as Event['detections']),
    suppressionId: row.suppressionId ?? null,
    // Both columns default to now(), the statement's transaction time.
    updatedAt: outcome.timestamp!
  })
}

/**
 * Changes an event (PUT or PATCH); its alert's copies of the event's fields follow, and raising
 * its severity to one the policy alerts on raises the alert it lacked. A new (source, external_id)
 * moves the event's key (409 when another event holds it). 404 without the event.
 */
export async function updateEvent(db: Db, id: number, patch: Partial<EventInput>, maxAttributesBytes: number): Promise<EventView> {
  attributesJson(patch.attributes, maxAttributesBytes)
  return db.transaction(async (tx) => {
    // The row as it was is read only when the patch may move the event's key.
    const movesKey = patch.source !== undefined || patch.external_id !== undefined
    const [before] = movesKey ? await tx.select().from(events).where(eq(events.id, id)).for('update') : []
    const columns = toColumns(patch)
    const [event] =
      Object.keys(columns).length > 0
        ? await tx
            .update(events)
            .set({ ...columns, updatedAt: sql`now()` })
            .where(eq(events.id, id))
            .returning()
        : await tx.select().from(events).where(eq(events.id, id)).for('update')
    if (!event) throw notFound()
    if (before && (event.source !== before.source || event.externalId !== before.externalId)) await moveKey(tx, before, event)
    await followEvent(tx, event)
    await raiseForEvent(tx, event)
    return eventOut(event)
  })
}

type Keyed = Pick<Event, 'id' | 'source' | 'externalId'>

const keyOf = (e: Keyed) => and(eq(eventKeys.source, e.source), eq(eventKeys.externalId, e.externalId!))

/** Gives up the event's old key and claims its new one; 409 when another event holds it. */
async function moveKey(tx: Tx, before: Keyed, after: Keyed): Promise<void> {
  if (before.externalId !== null) await tx.delete(eventKeys).where(keyOf(before))
  if (after.externalId === null) return
  const claimed = await tx
    .insert(eventKeys)
    .values({ source: after.source, externalId: after.externalId, eventTimestamp: storedTimestamp(after.id) })
    .onConflictDoNothing()
    .returning({ source: eventKeys.source })
  if (claimed.length === 0) throw conflict('An event with this source and external_id already exists.', 'external_id')
}

/** Deletes an event and its key; its alert goes with it (ON DELETE CASCADE). 404 without the event. */
export async function deleteEvent(db: Db, id: number): Promise<void> {
  await db.transaction(async (tx) => {
    const [deleted] = await tx
      .delete(events)
      .where(eq(events.id, id))
      .returning({ id: events.id, source: events.source, externalId: events.externalId })
    if (!deleted) throw notFound()
    if (deleted.externalId !== null) await tx.delete(eventKeys).where(keyOf(deleted))
  })
}

/** One event, or a 404. */
export async function getEvent(db: Db, id: number): Promise<EventView> {
  const [event] = await db.select(eventView.select).from(events).where(eq(events.id, id))
  if (!event) throw notFound()
  return event
}

export interface EventFilter extends PageParams {
  severity?: Severity
  event_type?: EventType
  source?: string
  timestamp_after?: string
  timestamp_before?: string
  /** Only events changed at or after this time, newest change first (for clients that sync). */
  updated_since?: string
}

/**
 * What an event list reads: newest first (timestamp, then id), or newest change first (updated_at,
 * then id) with updated_since; filters combine with AND.
 */
export function eventList(q: EventFilter): PageSource<EventView> {
  const filters = [
    filter('severity', q.severity || undefined, (v) => eq(events.severity, v)),
    filter('event_type', q.event_type || undefined, (v) => eq(events.eventType, v)),
    filter('source', q.source || undefined, (v) => eq(events.source, v)),
    filter('timestamp_after', q.timestamp_after ? new Date(q.timestamp_after).toISOString() : undefined, (v) => gte(events.timestamp, v)),
    filter('timestamp_before', q.timestamp_before ? new Date(q.timestamp_before).toISOString() : undefined, (v) => lte(events.timestamp, v)),
    filter('updated_since', q.updated_since ? new Date(q.updated_since).toISOString() : undefined, (v) => gte(events.updatedAt, v))
  ]
  return { table: events, filters, newest: q.updated_since ? events.updatedAt : events.timestamp, select: eventView.select }
}

/**
 * One page of the events an alert stands for, newest first: a grouped alert's (alert_events), or
 * the one event of an alert that was not grouped. A 404 without the alert.
 */
export async function listAlertEvents(db: Db, alertId: number, q: PageParams, at: PageLocation): Promise<PageEnvelope<EventView>> {
  const source: PageSource<EventView> = {
    table: events,
    filters: [
      filter('alert', alertId, (v) => sql`(${events.id} in (select ${alertEvents.eventId} from ${alertEvents} where ${alertEvents.alertId} = ${v})
        or ${events.id} = (select ${alerts.eventId} from ${alerts} where ${alerts.id} = ${v}))`)
    ],
    newest: events.timestamp,
    select: eventView.select
  }
  return pageOfAlert(db, alertId, q, at, source)
}

/** One page of events. */
export async function listEvents(db: Db, q: EventFilter, at: PageLocation): Promise<PageEnvelope<EventView>> {
  return listPage(db, at, q, eventList(q))
}
