// Creating and changing events through the REST API; alerts follow in the same transaction.
import { eq, sql } from 'drizzle-orm'
import type { Db } from '../db/index.js'
import { ALERTING_SEVERITIES, alerts, events, type Event, type EventType, type Severity } from '../db/schema.js'
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

/**
 * The create path as ONE prepared statement: the event and, when its severity calls for one, its
 * alert (the same rule as ensureAlert). A single statement is atomic, so the two still commit
 * together, without BEGIN/COMMIT round trips; the SQL is built once per database, and postgres.js
 * prepares it on each connection. The foreign key from the alert to the event is checked at the end
 * of the statement, when the event row exists.
 */
function prepareCreate(db: Db) {
  const e = db.$with('e').as(
    db
      .insert(events)
      .values({
        source: sql.placeholder('source'),
        eventType: sql.placeholder('eventType'),
        severity: sql.placeholder('severity'),
        description: sql.placeholder('description'),
        // Wrapped in sql so the column encoders (which reject null) are bypassed: the values
        // passed are already what the drivers expect (ISO text, JSON text or null).
        occurredAt: sql`${sql.placeholder('occurredAt')}`,
        externalId: sql.placeholder('externalId'),
        attributes: sql`${sql.placeholder('attributes')}`
      })
      .returning()
  )
  const severities = sql.join(ALERTING_SEVERITIES.map((s) => sql`${s}`), sql`, `)
  const a = db.$with('a', {}).as(
    sql`insert into ${alerts} (${sql.identifier(alerts.eventId.name)}, ${sql.identifier(alerts.severity.name)}, ${sql.identifier(alerts.eventType.name)}, ${sql.identifier(alerts.source.name)})
      select ${sql.identifier(events.id.name)}, ${sql.identifier(events.severity.name)}, ${sql.identifier(events.eventType.name)}, ${sql.identifier(events.source.name)}
      from ${e} where ${sql.identifier(events.severity.name)} in (${severities})
      on conflict (${sql.identifier(alerts.eventId.name)}) do nothing`
  )
  return db.with(e, a).select().from(e).prepare('vigil_create_event')
}

const createStatements = new WeakMap<Db, ReturnType<typeof prepareCreate>>()

export async function createEvent(db: Db, input: EventInput): Promise<Event> {
  let statement = createStatements.get(db)
  if (!statement) createStatements.set(db, (statement = prepareCreate(db)))
  const [event] = await statement.execute({
    source: input.source,
    eventType: input.event_type,
    severity: input.severity,
    description: input.description ?? '',
    occurredAt: input.occurred_at ? new Date(input.occurred_at).toISOString() : null,
    externalId: input.external_id ?? null,
    attributes: input.attributes == null ? null : JSON.stringify(input.attributes)
  })
  return event
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
