// Creating and changing events through the REST API; alerts follow in the same transaction.
import { eq } from 'drizzle-orm'
import { groupCommit } from '../db/group-commit.js'
import type { Database, Db } from '../db/index.js'
import { events, type Event, type EventType, type Severity } from '../db/schema.js'
import { badRequest, conflict, notFound } from '../errors.js'
import { insertRows, type RowOutcome } from '../ingest/insert.js'
import type { EventRow } from '../ingest/map.js'
import { ensureAlert, syncAlertCopies } from './alerts.js'

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

export async function createEvent(database: Database, input: EventInput, maxAttributesBytes: number): Promise<Event> {
  let write = writers.get(database)
  if (!write) writers.set(database, (write = groupCommit((rows: EventRow[]) => insertRows(database, rows, true), GROUP)))
  const row: EventRow = {
    source: input.source,
    eventType: input.event_type,
    severity: input.severity,
    description: input.description ?? '',
    occurredAt: input.occurred_at ? new Date(input.occurred_at).toISOString() : null,
    externalId: input.external_id ?? null,
    attributes: attributesJson(input.attributes, maxAttributesBytes)
  }
  const outcome = await write(row)
  if (outcome === null) throw conflict('An event with this source and external_id already exists.', 'external_id')
  if ('refused' in outcome) throw badRequest(outcome.refused)
  return {
    id: outcome.id,
    source: row.source,
    eventType: row.eventType,
    severity: row.severity,
    description: row.description,
    timestamp: outcome.timestamp!,
    occurredAt: row.occurredAt === null ? null : new Date(row.occurredAt),
    externalId: row.externalId,
    attributes: outcome.attributes
  }
}

export async function updateEvent(db: Db, id: number, patch: Partial<EventInput>): Promise<Event> {
  return db.transaction(async (tx) => {
    const columns = toColumns(patch)
    const [event] =
      Object.keys(columns).length > 0
        ? await tx.update(events).set(columns).where(eq(events.id, id)).returning()
        : await tx.select().from(events).where(eq(events.id, id)).for('update')
    if (!event) throw notFound()
    await syncAlertCopies(tx, event)
    await ensureAlert(tx, event)
    return event
  })
}
