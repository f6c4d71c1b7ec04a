// Alert generation: an event of High or Critical severity has exactly one alert, written in the
// same transaction as the event. The unique index on alerts.event_id makes "exactly one" hold
// even when two requests race.
import { eq, sql } from 'drizzle-orm'
import type { Tx } from '../db/index.js'
import { ALERTING_SEVERITIES, alerts, type Event, type Severity } from '../db/schema.js'

export const raisesAlert = (severity: Severity) => ALERTING_SEVERITIES.includes(severity)

/** Creates the event's alert if its severity calls for one and it has none yet. */
export async function ensureAlert(tx: Tx, event: Pick<Event, 'id' | 'severity' | 'eventType' | 'source'>) {
  if (!raisesAlert(event.severity)) return
  await tx
    .insert(alerts)
    .values({ eventId: event.id, severity: event.severity, eventType: event.eventType, source: event.source })
    .onConflictDoNothing({ target: alerts.eventId })
}

/** Keeps the copies of the event's fields on its alert in step with the event. */
export async function syncAlertCopies(tx: Tx, event: Pick<Event, 'id' | 'severity' | 'eventType' | 'source'>) {
  await tx
    .update(alerts)
    .set({ severity: event.severity, eventType: event.eventType, source: event.source, updatedAt: sql`now()` })
    .where(eq(alerts.eventId, event.id))
}
