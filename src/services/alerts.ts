// Alerts: the one module that decides whether an event raises an alert, the only writer of alert
// rows, and the one place every alert change goes through.
//
// - The policy: `raisesAlert` (which severities raise one by themselves).
// - Raising: `INGEST_ALERT_STEP` is the alert part of the ingest statement (src/ingest/insert.ts:
//   REST creates, bulk, HEC and `_bulk` all store events through it, one statement per chunk);
//   `raiseForEvent` raises the alert of one event the policy calls for (an event update);
//   `raiseByHand` is an admin's manual raise (POST /api/alerts/), for an event of any severity.
// - Changing: `changeAlert` locks the alert, applies a change, and runs the change hooks (the
//   audit record first) in the same transaction; status patches and the copies of the event's
//   fields kept in step with it both go through it.
// - Hooks: `onAlertRaised` and `onAlertChanged` are the single place where "an alert was raised
//   or changed" is acted on, inside the transaction that did it. The ingest statement raises its
//   alerts in SQL, in the same statement as its events and with no transaction left open for
//   JavaScript: what must follow every raise there is one more CTE in INGEST_ALERT_STEP (with
//   RETURNING added to `raised`), kept in step with onAlertRaised.
//
// The unique index on alerts.event_id makes "at most one alert per event" hold when requests race.
import { and, eq, gte, lt, lte, sql } from 'drizzle-orm'
import type { PgColumn } from 'drizzle-orm/pg-core'
import type { Db, Tx } from '../db/index.js'
import { alerts, events, incidentAlerts, type Alert, type AlertStatus, type Event, type EventType, type Severity } from '../db/schema.js'
import { conflict, notFound } from '../errors.js'
import { filter, listPage, type Filter, type PageEnvelope, type PageLocation, type PageParams, type PageSource } from '../pagination.js'
import { rowsOf } from '../db/queries.js'
import { time, view } from '../views.js'
import { recordAudit, type Actor } from './audit.js'

// ---------------------------------------------------------------------------------------------
// The policy

/** Severities that raise an alert by themselves. */
export const ALERTING_SEVERITIES: readonly Severity[] = ['High', 'Critical']

/** Whether an event of this severity raises an alert. */
export const raisesAlert = (severity: Severity) => ALERTING_SEVERITIES.includes(severity)

// ---------------------------------------------------------------------------------------------
// The one view: what an alert looks like to API clients (routes/alerts/schema.ts AlertOut).

export const alertView = view(alerts, {
  id: alerts.id,
  event: alerts.eventId,
  status: alerts.status,
  severity: alerts.severity,
  event_type: alerts.eventType,
  source: alerts.source,
  detections: alerts.detections,
  created_at: time(alerts.createdAt),
  updated_at: time(alerts.updatedAt)
})

export const alertOut = alertView.out

export type AlertView = ReturnType<typeof alertView.out>

// ---------------------------------------------------------------------------------------------
// Hooks

/** How an alert came to be: the policy raised it, or an actor raised it by hand. */
export interface AlertRaised {
  alert: Alert
  /** Who raised it by hand; null when the policy raised it. */
  by: Actor | null
}

export interface AlertChanged {
  before: Alert
  after: Alert
  /** Who changed it; null for a change that follows from its event's (the copied fields). */
  by: Actor | null
}

type Hook<E> = (tx: Tx, e: E) => Promise<void>

/** An alert raised by hand is audited; later: grouping, suppression, the webhook outbox. */
const onAlertRaised: Hook<AlertRaised>[] = [
  async (tx, { alert, by }) => {
    if (by) {
      await recordAudit(tx, by, {
        action: 'alert.created',
        targetType: 'alert',
        targetId: alert.id,
        after: { event: alert.eventId, status: alert.status }
      })
    }
  }
]

/** A status change is audited; later: assignee, verdict, tags, the webhook outbox. */
const onAlertChanged: Hook<AlertChanged>[] = [
  async (tx, { before, after, by }) => {
    if (before.status !== after.status) {
      await recordAudit(tx, by ?? {}, {
        action: 'alert.status_changed',
        targetType: 'alert',
        targetId: after.id,
        before: { status: before.status },
        after: { status: after.status }
      })
    }
  }
]

async function raised(tx: Tx, e: AlertRaised) {
  for (const hook of onAlertRaised) await hook(tx, e)
}

// ---------------------------------------------------------------------------------------------
// Raising

/**
 * The ingest statement's alert step: a CTE named `raised` that reads the statement's CTE
 * `inserted` (columns id, timestamp, severity, event_type, source, detections: the events it actually stored, without
 * duplicates) and writes the alerts the policy calls for, so a chunk's events and alerts are one
 * statement and one commit. `strings` is SQL text around the parameters (one more string than
 * parameters); each of `params` travels as ONE bound parameter (an array stays one array), so the
 * policy is never spliced into the SQL and the statement text stays the same (prepared once).
 * The severities become enum values once per statement (ARRAY(SELECT ...) is an InitPlan): a
 * plain `$n::text[]::severity[]` casts the array again for every row, about 1 us per row, as
 * much as the constant IN list this replaced cost in all.
 */
export const INGEST_ALERT_STEP: { strings: readonly string[]; params: readonly unknown[] } = {
  strings: [
    `raised AS (
      INSERT INTO alerts (event_id, event_timestamp, severity, event_type, source, detections)
      SELECT id, "timestamp", severity, event_type, source, detections FROM inserted
      WHERE severity = ANY(ARRAY(SELECT unnest(`,
    `::text[])::severity))
    )`
  ],
  params: [[...ALERTING_SEVERITIES]]
}

type EventCopies = Pick<Event, 'id' | 'severity' | 'eventType' | 'source'> & Partial<Pick<Event, 'detections'>>

/**
 * The event's timestamp as stored, for a reference to it: the database keeps microseconds, a JS
 * Date only milliseconds, so the copy read into JS would not match the event's key.
 */
export const storedTimestamp = (eventId: number) => sql<Date>`(select "timestamp" from ${events} where id = ${eventId})`

/** Inserts the event's alert unless it has one; the alert, or undefined when it had one. */
async function insertAlert(tx: Tx, event: EventCopies, status: AlertStatus = 'Open'): Promise<Alert | undefined> {
  const [alert] = await tx
    .insert(alerts)
    .values({
      eventId: event.id,
      eventTimestamp: storedTimestamp(event.id),
      status,
      severity: event.severity,
      eventType: event.eventType,
      source: event.source,
      detections: event.detections ?? null
    })
    .onConflictDoNothing({ target: alerts.eventId })
    .returning()
  return alert
}

/** Raises the event's alert if the policy calls for one and it has none yet. */
export async function raiseForEvent(tx: Tx, event: EventCopies): Promise<void> {
  if (!raisesAlert(event.severity)) return
  const alert = await insertAlert(tx, event)
  if (alert) await raised(tx, { alert, by: null })
}

export interface ManualAlert {
  event: number
  status?: AlertStatus
}

/**
 * An alert raised by hand, for an existing event of any severity, with the event's fields
 * copied: 404 without the event, 409 if it already has an alert (one per event). Audited.
 */
export async function raiseByHand(db: Db, actor: Actor, input: ManualAlert): Promise<AlertView> {
  return db.transaction(async (tx) => {
    // The share lock keeps the event from being deleted or changed before the alert is written.
    const [event] = await tx.select().from(events).where(eq(events.id, input.event)).for('share')
    if (!event) throw notFound(`Event ${input.event} does not exist.`)
    const alert = await insertAlert(tx, event, input.status)
    if (!alert) throw conflict(`Event ${input.event} already has an alert.`, 'event')
    await raised(tx, { alert, by: actor })
    return alertOut(alert)
  })
}

/**
 * Retention (src/services/retention.ts): deletes the alerts of the events stored in [from, to),
 * which are dropped next in the same transaction; their links to incidents go with them (ON DELETE
 * CASCADE). How many alerts went, and which incident lost which alert.
 */
export async function expireAlerts(tx: Tx, from: Date, to: Date): Promise<{ alerts: number; links: { incidentId: number; alertId: number }[] }> {
  const range = and(gte(alerts.eventTimestamp, from), lt(alerts.eventTimestamp, to))
  const links = await tx
    .select({ incidentId: incidentAlerts.incidentId, alertId: incidentAlerts.alertId })
    .from(incidentAlerts)
    .innerJoin(alerts, eq(alerts.id, incidentAlerts.alertId))
    .where(range)
  // Counted in SQL: a day's alerts can be many, and their ids are not needed.
  const [gone] = await rowsOf<{ n: number }>(tx, sql`with d as (delete from ${alerts} where ${range} returning 1) select count(*)::int as n from d`)
  return { alerts: gone.n, links }
}

// ---------------------------------------------------------------------------------------------
// Changing

/** What may change on an alert. Later issues add assignee, verdict, tags here. */
export type AlertChange = Partial<Pick<Alert, 'status' | 'severity' | 'eventType' | 'source'>>

const CHANGEABLE = ['status', 'severity', 'eventType', 'source'] as const satisfies readonly (keyof AlertChange)[]

/**
 * Every change to an alert: locks it (by its id, or by its event's id), applies the fields that
 * differ, and runs the change hooks (the audit record among them) in the caller's transaction.
 * A change that changes nothing writes nothing and is not audited. Undefined if there is no
 * such alert.
 */
export async function changeAlert(
  tx: Tx,
  by: Actor | null,
  which: { id: number } | { eventId: number },
  change: AlertChange
): Promise<Alert | undefined> {
  const [before] = await tx
    .select()
    .from(alerts)
    .where('id' in which ? eq(alerts.id, which.id) : eq(alerts.eventId, which.eventId))
    .for('update')
  if (!before) return undefined
  const set: AlertChange = {}
  for (const field of CHANGEABLE) {
    if (change[field] !== undefined && change[field] !== before[field]) Object.assign(set, { [field]: change[field] })
  }
  if (Object.keys(set).length === 0) return before
  const [after] = await tx
    .update(alerts)
    .set({ ...set, updatedAt: sql`now()` })
    .where(eq(alerts.id, before.id))
    .returning()
  for (const hook of onAlertChanged) await hook(tx, { before, after, by })
  return after
}

/** Keeps the copies of the event's fields on its alert in step with the event. */
export async function followEvent(tx: Tx, event: EventCopies): Promise<void> {
  await changeAlert(tx, null, { eventId: event.id }, { severity: event.severity, eventType: event.eventType, source: event.source })
}

/** An actor's change to an alert (PATCH /api/alerts/:id), or a 404. */
export async function updateAlert(db: Db, actor: Actor, id: number, change: { status: AlertStatus }): Promise<AlertView> {
  return db.transaction(async (tx) => {
    const alert = await changeAlert(tx, actor, { id }, { status: change.status })
    if (!alert) throw notFound()
    return alertOut(alert)
  })
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface AlertFilter extends PageParams {
  severity?: Severity
  status?: AlertStatus
  event_type?: EventType
  source?: string
  created_after?: string
  created_before?: string
  /** Only alerts changed at or after this time, newest change first (for clients that sync). */
  updated_since?: string
  /** Only alerts with a detection of this model (its id), or of this rule. */
  model?: number
  rule_id?: string
}

/** What alerts are counted by, on alerts and on their hourly counts (src/services/alert-stats.ts). */
export interface CountedColumns {
  severity: PgColumn
  status: PgColumn
  eventType: PgColumn
  source: PgColumn
}

/** The filters on the counted columns: the same for a list, for stats over alerts and over hourly counts. */
export function countedFilters(c: CountedColumns, q: Pick<AlertFilter, 'severity' | 'status' | 'event_type' | 'source'>): (Filter | undefined)[] {
  return [
    filter('severity', q.severity || undefined, (v) => eq(c.severity, v)),
    filter('status', q.status || undefined, (v) => eq(c.status, v)),
    filter('event_type', q.event_type || undefined, (v) => eq(c.eventType, v)),
    filter('source', q.source || undefined, (v) => eq(c.source, v))
  ]
}

/**
 * What an alert list reads: newest first (created_at, then id), or newest change first (updated_at,
 * then id) with updated_since; filters combine with AND.
 */
export function alertList(q: AlertFilter): PageSource<AlertView> {
  const filters = [
    ...countedFilters(alerts, q),
    filter('created_after', q.created_after ? new Date(q.created_after).toISOString() : undefined, (v) => gte(alerts.createdAt, v)),
    filter('created_before', q.created_before ? new Date(q.created_before).toISOString() : undefined, (v) => lte(alerts.createdAt, v)),
    filter('updated_since', q.updated_since ? new Date(q.updated_since).toISOString() : undefined, (v) => gte(alerts.updatedAt, v)),
    // Containment (@>) is what the GIN index on detections answers.
    filter('model', q.model ? JSON.stringify([{ model_id: q.model }]) : undefined, (v) => sql`${alerts.detections} @> ${v}::jsonb`),
    filter('rule_id', q.rule_id || undefined, (v) => sql`${alerts.detections} @> jsonb_build_array(jsonb_build_object('rule_id', ${v}::text))`)
  ]
  return { table: alerts, filters, newest: q.updated_since ? alerts.updatedAt : alerts.createdAt, select: alertView.select }
}

/** One page of alerts. */
export async function listAlerts(db: Db, q: AlertFilter, at: PageLocation): Promise<PageEnvelope<AlertView>> {
  return listPage(db, at, q, alertList(q))
}

/** One alert, or a 404. */
export async function getAlert(db: Db, id: number): Promise<AlertView> {
  const [alert] = await db.select(alertView.select).from(alerts).where(eq(alerts.id, id))
  if (!alert) throw notFound()
  return alert
}
