// Creating and changing events through the REST API; alerts follow in the same transaction.
import { eq } from 'drizzle-orm'
import type { Db } from '../db/index.js'
import { events, type Event, type EventType, type Severity } from '../db/schema.js'
import { notFound } from '../errors.js'
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

export async function createEvent(db: Db, input: EventInput): Promise<Event> {
  return db.transaction(async (tx) => {
    const [event] = await tx
      .insert(events)
      .values({ ...toColumns(input), description: input.description ?? '' } as typeof events.$inferInsert)
      .returning()
    await ensureAlert(tx, event)
    return event
  })
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
