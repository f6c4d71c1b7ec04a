// Alerts: the one module that decides whether an event raises an alert, the only writer of alert
// rows, and the one place every alert change goes through.
//
// - The policy: `raisesAlert` (which severities raise one by themselves).
// - Raising: `ingestAlertStep` is the alert part of the ingest statement (src/ingest/insert.ts:
//   REST creates, bulk, HEC and `_bulk` all store events through it, one statement per chunk);
//   `raiseForEvent` raises the alert of one event the policy calls for (an event update);
//   `raiseByHand` is an admin's manual raise (POST /api/alerts/), for an event of any severity.
// - Changing: `changeAlerts` locks a set of alerts, decides each one's change (src/services/
//   triage.ts decides an actor's), writes them in one statement and runs the change hooks (the
//   audit record and the history) in the same transaction. A PATCH, a bulk change by ids, a bulk
//   job's batch and the copies of the event's fields kept in step with it all go through it.
// - Hooks: `onAlertRaised` and `onAlertChanged` are the single place where "an alert was raised
//   or changed" is acted on, inside the transaction that did it. The ingest statement raises its
//   alerts in SQL, in the same statement as its events and with no transaction left open for
//   JavaScript: what must follow every raise there is one more CTE in both alert steps
//   (`ingestAlertStep`), kept in step with onAlertRaised.
//
// The unique index on alerts.event_id makes "at most one alert per event" hold when requests race.
import { and, eq, getTableColumns, gte, inArray, isNotNull, isNull, lt, lte, sql, type SQL } from 'drizzle-orm'
import type { PgColumn } from 'drizzle-orm/pg-core'
import type { Db, Tx } from '../db/index.js'
import { alertEvents, alerts, events, incidentAlerts, type Alert, type AlertStatus, type Event, type EventType, type Severity, type Verdict } from '../db/schema.js'
import { conflict, notFound } from '../errors.js'
import { filter, listPage, type Filter, type PageEnvelope, type PageLocation, type PageParams, type PageSource } from '../pagination.js'
import { rowsOf } from '../db/queries.js'
import { time, view } from '../views.js'
import { recordAudit, recordAudits, type Actor } from './audit.js'
import { historyOfChange, recordHistory } from './alert-history.js'

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
  assignee: alerts.assigneeId,
  verdict: alerts.verdict,
  reason: alerts.reason,
  tags: alerts.tags,
  acknowledged_at: time(alerts.acknowledgedAt),
  resolved_at: time(alerts.resolvedAt),
  version: alerts.version,
  occurrences: alerts.occurrences,
  first_seen: time(alerts.firstSeen),
  last_seen: time(alerts.lastSeen),
  previous_alert: alerts.previousAlertId,
  fingerprint: alerts.fingerprint,
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
  /** Why, when the change takes a reason that the alert does not keep (a reopen's). */
  why?: string
}

type Hook<E> = (tx: Tx, e: E) => Promise<void>

/**
 * An alert raised by hand is audited; every raise starts the alert's history (the ingest
 * statement's `raised_history` step does the same for its raises). Later: grouping, suppression,
 * the webhook outbox.
 */
const onAlertRaised: Hook<AlertRaised>[] = [
  async (tx, { alert, by }) => {
    await recordHistory(tx, by, [{ alertId: alert.id, action: 'raised', after: { status: alert.status, ...(alert.detections ? { detections: alert.detections } : {}) } }])
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

/**
 * The changes of one statement, together: each hook writes its rows for all of them at once (a
 * bulk job's batch is hundreds). A status change is audited; every change is in the alert's
 * history. Later: the webhook outbox.
 */
const onAlertsChanged: Hook<AlertChanged[]>[] = [
  async (tx, changes) => {
    for (const [by, group] of byActor(changes.filter((c) => c.before.status !== c.after.status))) {
      await recordAudits(
        tx,
        by ?? {},
        group.map(({ before, after }) => ({
          action: 'alert.status_changed',
          targetType: 'alert',
          targetId: after.id,
          before: { status: before.status },
          after: { status: after.status }
        }))
      )
    }
  },
  async (tx, changes) => {
    for (const [by, group] of byActor(changes)) await recordHistory(tx, by, group.map(historyOfChange))
  }
]

/** Changes grouped by who made them (one actor per statement in practice). */
function byActor(changes: AlertChanged[]): Map<Actor | null, AlertChanged[]> {
  const out = new Map<Actor | null, AlertChanged[]>()
  for (const c of changes) {
    const group = out.get(c.by)
    if (group) group.push(c)
    else out.set(c.by, [c])
  }
  return out
}

async function raised(tx: Tx, e: AlertRaised) {
  for (const hook of onAlertRaised) await hook(tx, e)
}

// ---------------------------------------------------------------------------------------------
// Raising

/**
 * The ingest statement's alert step: CTEs that read the statement's CTEs `inserted` (the events
 * it actually stored, without duplicates: id, timestamp, severity, event_type, source, detections,
 * suppression_id) and `input` (each row's `fingerprint`), and write the alerts the policy calls
 * for, so a chunk's events and alerts are one statement and one commit. `strings` is SQL text
 * around the parameters (one more string than parameters); each of `params` travels as ONE bound
 * parameter (an array stays one array), so the policy is never spliced into the SQL and the
 * statement text stays the same (prepared once). The severities become enum values once per
 * statement (ARRAY(SELECT ...) is an InitPlan): a plain `$n::text[]::severity[]` casts the array
 * again for every row.
 *
 * - A suppressed event (suppression_id set) raises nothing.
 * - An event without a fingerprint raises its own alert (`raised`), whose history starts with it.
 * - Events with a fingerprint (grouping, src/services/grouping.ts: only events the policy alerts
 *   on get one) fold, per fingerprint, into the one alert of it not yet resolved (the partial
 *   unique index makes that one alert even when statements race): `occurrences` grows, `last_seen` moves, the severity rises to the highest,
 *   the version moves. Without such an alert the chunk's first event of the fingerprint raises
 *   one, naming the latest resolved alert of the fingerprint it follows. Every grouped event is
 *   recorded in alert_events, and each alert's history gets one `raised` or `repeated` row.
 * A chunk in which no event has a fingerprint takes the plain step, which never reads `input`.
 */

/** The plain alert step: every event the policy alerts on that no suppression holds raises its own alert. */
const PLAIN_STEP: { strings: readonly string[]; params: readonly unknown[] } = {
  strings: [
    `raised AS (
      INSERT INTO alerts (event_id, event_timestamp, severity, event_type, source, detections)
      SELECT id, "timestamp", severity, event_type, source, detections FROM inserted
      WHERE suppression_id IS NULL AND severity = ANY(ARRAY(SELECT unnest(`,
    `::text[])::severity))
      RETURNING id, created_at, status, detections
    ), raised_history AS (
      INSERT INTO alert_history (alert_id, created_at, action, after)
      SELECT id, created_at, 'raised', jsonb_strip_nulls(jsonb_build_object('status', status, 'detections', detections)) FROM raised
    )`
  ],
  params: [[...ALERTING_SEVERITIES]]
}

/** The grouping alert step, for a chunk in which some event has a fingerprint. */
const GROUPED_STEP: { strings: readonly string[]; params: readonly unknown[] } = {
  strings: [
    `raised AS (
      INSERT INTO alerts (event_id, event_timestamp, severity, event_type, source, detections)
      SELECT inserted.id, inserted."timestamp", inserted.severity, inserted.event_type, inserted.source, inserted.detections
      FROM inserted JOIN input USING (id)
      WHERE inserted.suppression_id IS NULL AND input.fingerprint IS NULL AND inserted.severity = ANY(ARRAY(SELECT unnest(`,
    `::text[])::severity))
      RETURNING id, created_at, status, detections
    ), raised_history AS (
      INSERT INTO alert_history (alert_id, created_at, action, after)
      SELECT id, created_at, 'raised', jsonb_strip_nulls(jsonb_build_object('status', status, 'detections', detections)) FROM raised
    ), grouped AS MATERIALIZED (
      SELECT input.fingerprint, min(inserted.id) AS first_id, count(*)::int AS n, max(inserted."timestamp") AS last_ts
      FROM inserted JOIN input USING (id)
      WHERE inserted.suppression_id IS NULL AND input.fingerprint IS NOT NULL
      GROUP BY input.fingerprint
    ), folded AS (
      INSERT INTO alerts AS a (event_id, event_timestamp, severity, event_type, source, detections, fingerprint, occurrences, first_seen, last_seen, previous_alert_id)
      SELECT e.id, e."timestamp", e.severity, e.event_type, e.source, e.detections, g.fingerprint, g.n, e."timestamp", g.last_ts,
             (SELECT max(p.id) FROM alerts p WHERE p.fingerprint = g.fingerprint)
      FROM grouped g JOIN inserted e ON e.id = g.first_id
      ORDER BY g.fingerprint
      ON CONFLICT (fingerprint) WHERE fingerprint IS NOT NULL AND status <> 'Resolved'
      DO UPDATE SET occurrences = a.occurrences + excluded.occurrences, last_seen = greatest(a.last_seen, excluded.last_seen),
                    severity = greatest(a.severity, excluded.severity), version = a.version + 1, updated_at = now()
      RETURNING a.id, a.fingerprint, a.status, a.occurrences, a.previous_alert_id, a.detections, (a.xmax = 0) AS fresh
    ), folded_events AS (
      INSERT INTO alert_events (alert_id, event_id, event_timestamp)
      SELECT f.id, inserted.id, inserted."timestamp" FROM folded f JOIN input ON input.fingerprint = f.fingerprint JOIN inserted ON inserted.id = input.id
      WHERE inserted.suppression_id IS NULL
    ), folded_history AS (
      INSERT INTO alert_history (alert_id, action, before, after)
      SELECT f.id, CASE WHEN f.fresh THEN 'raised' ELSE 'repeated' END,
             CASE WHEN f.fresh THEN NULL ELSE jsonb_build_object('occurrences', f.occurrences - g.n) END,
             CASE WHEN f.fresh THEN jsonb_strip_nulls(jsonb_build_object('status', f.status, 'occurrences', f.occurrences, 'previous_alert', f.previous_alert_id, 'detections', f.detections))
                  ELSE jsonb_build_object('occurrences', f.occurrences) END
      FROM folded f JOIN grouped g USING (fingerprint)
    )`
  ],
  params: [[...ALERTING_SEVERITIES]]
}

/** The alert step of an ingest statement: grouping or plain (src/ingest/insert.ts picks per chunk). */
export const ingestAlertStep = (grouped: boolean) => (grouped ? GROUPED_STEP : PLAIN_STEP)

type EventCopies = Pick<Event, 'id' | 'severity' | 'eventType' | 'source'> & Partial<Pick<Event, 'detections'>>

/**
 * The event's timestamp as stored, for a reference to it: the database keeps microseconds, a JS
 * Date only milliseconds, so the copy read into JS would not match the event's key.
 */
export const storedTimestamp = (eventId: number) => sql<Date>`(select "timestamp" from ${events} where id = ${eventId})`

/** Inserts the event's alert unless it has one; the alert, or undefined when it had one. */
async function insertAlert(tx: Tx, event: EventCopies, status: AlertStatus = 'Open', by: Actor | null = null): Promise<Alert | undefined> {
  // Raised already acknowledged or resolved (by hand): its response times start at once.
  const at = status === 'Open' ? null : sql`now()`
  const [alert] = await tx
    .insert(alerts)
    .values({
      eventId: event.id,
      eventTimestamp: storedTimestamp(event.id),
      status,
      raisedById: by?.id ?? null,
      acknowledgedAt: at,
      resolvedAt: status === 'Resolved' ? at : null,
      verdict: status === 'Resolved' ? 'other' : null,
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
    const alert = await insertAlert(tx, event, input.status, actor)
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
  // Counted in SQL: a day's alerts can be many, and their ids are not needed. A grouped alert's
  // later events may lie in a later day: their rows go with the alert (ON DELETE CASCADE); rows of
  // this day's events are removed here whatever alert holds them, so the day can be dropped.
  const [gone] = await rowsOf<{ n: number }>(tx, sql`with d as (delete from ${alerts} where ${range} returning 1) select count(*)::int as n from d`)
  await tx.delete(alertEvents).where(and(gte(alertEvents.eventTimestamp, from), lt(alertEvents.eventTimestamp, to)))
  return { alerts: gone.n, links }
}

// ---------------------------------------------------------------------------------------------
// Changing

/**
 * What may change on an alert: its own fields' new values, and for the response times whether
 * they start now, stay, or are cleared (null).
 */
export type AlertChange = Partial<Pick<Alert, 'status' | 'severity' | 'eventType' | 'source' | 'assigneeId' | 'verdict' | 'reason' | 'tags'>> & {
  acknowledgedAt?: 'now' | null
  resolvedAt?: 'now' | null
  /** Why (a reopen's reason), kept in the history, not on the alert. */
  why?: string
}

const CHANGEABLE = ['status', 'severity', 'eventType', 'source', 'assigneeId', 'verdict', 'reason', 'tags'] as const satisfies readonly (keyof Alert)[]

/** Why an alert is left as it is: a stable code (bulk results count by it) and a sentence. */
export interface Refusal {
  refused: string
  detail: string
  /** The field a single change's 4xx names. */
  field?: string
  /** The status a single change answers with (409 for a transition, else 400). */
  status?: 409 | 400
}

export const isRefusal = (x: AlertChange | Refusal): x is Refusal => 'refused' in x

/** One alert's outcome in a change of many. */
export type ChangeOutcome =
  | { id: number; result: 'updated'; alert: Alert }
  | { id: number; result: 'unchanged'; alert: Alert }
  | { id: number; result: 'skipped'; reason: string; detail: string; refusal?: Refusal; alert: Alert }
  | { id: number; result: 'not_found' }

/** Which alert, and the version its changer last saw (If-Match), if any. */
export interface ChangeTarget {
  id: number
  versions?: readonly number[]
}

const same = (a: unknown, b: unknown) => (Array.isArray(a) && Array.isArray(b) ? a.length === b.length && a.every((x, i) => x === b[i]) : a === b)

/**
 * Every change to alerts: locks them (in id order, so concurrent changes of overlapping sets
 * never deadlock), skips those whose version moved past what the changer saw, asks `decide` for
 * each one's change (or a refusal), writes all the changed rows in one statement (version + 1),
 * and runs the change hooks (audit, history) in the caller's transaction. A change that changes
 * nothing writes nothing. One outcome per target, in the targets' order.
 */
export async function changeAlerts(
  tx: Tx,
  by: Actor | null,
  targets: readonly ChangeTarget[],
  decide: (before: Alert) => AlertChange | Refusal
): Promise<ChangeOutcome[]> {
  if (targets.length === 0) return []
  const ids = [...new Set(targets.map((t) => t.id))].sort((a, b) => a - b)
  const locked = await tx.select().from(alerts).where(inArray(alerts.id, ids)).orderBy(alerts.id).for('update')
  const rows = new Map(locked.map((a) => [a.id, a]))
  const outcomes = new Map<number, ChangeOutcome>()
  const writes: { before: Alert; change: AlertChange }[] = []
  for (const t of targets) {
    const before = rows.get(t.id)
    if (outcomes.has(t.id)) continue
    if (!before) {
      outcomes.set(t.id, { id: t.id, result: 'not_found' })
      continue
    }
    if (t.versions && !t.versions.includes(before.version)) {
      outcomes.set(t.id, { id: t.id, result: 'skipped', reason: 'version_moved', detail: `Alert ${t.id} is at version ${before.version}; it changed since it was read.`, alert: before })
      continue
    }
    const decided = decide(before)
    if (isRefusal(decided)) {
      outcomes.set(t.id, { id: t.id, result: 'skipped', reason: decided.refused, detail: decided.detail, refusal: decided, alert: before })
      continue
    }
    const change: AlertChange = {}
    for (const field of CHANGEABLE) {
      if (decided[field] !== undefined && !same(decided[field], before[field])) Object.assign(change, { [field]: decided[field] })
    }
    // Response times move only with a change of status.
    if (change.status) {
      if (decided.acknowledgedAt !== undefined) change.acknowledgedAt = decided.acknowledgedAt
      if (decided.resolvedAt !== undefined) change.resolvedAt = decided.resolvedAt
    }
    if (Object.keys(change).length === 0) {
      outcomes.set(t.id, { id: t.id, result: 'unchanged', alert: before })
      continue
    }
    change.why = decided.why
    writes.push({ before, change })
  }
  // A grouped alert reopened while a newer alert holds its repeats would make two open alerts of
  // one fingerprint (the unique index refuses it): it stays resolved, naming the one that holds them.
  const reopened = writes.filter((w) => w.before.fingerprint !== null && w.before.status === 'Resolved' && w.change.status)
  if (reopened.length > 0) {
    const holders = await tx
      .select({ id: alerts.id, fingerprint: alerts.fingerprint })
      .from(alerts)
      .where(and(inArray(alerts.fingerprint, reopened.map((w) => w.before.fingerprint!)), sql`${alerts.status} <> 'Resolved'`))
    const held = new Map(holders.map((h) => [h.fingerprint, h.id]))
    for (const w of reopened) {
      const holder = held.get(w.before.fingerprint)
      if (holder === undefined) continue
      const detail = `Alert ${holder} holds these repeats now; it is open, so this one stays resolved.`
      outcomes.set(w.before.id, { id: w.before.id, result: 'skipped', reason: 'repeats_held', detail, refusal: { refused: 'repeats_held', detail, field: 'status', status: 409 }, alert: w.before })
      writes.splice(writes.indexOf(w), 1)
    }
  }
  if (writes.length > 0) {
    const changed = await writeChanges(tx, writes)
    const after = new Map(changed.map((a) => [a.id, a]))
    const events: AlertChanged[] = writes.map(({ before, change }) => ({ before, after: after.get(before.id)!, by, why: change.why }))
    for (const hook of onAlertsChanged) await hook(tx, events)
    for (const e of events) outcomes.set(e.after.id, { id: e.after.id, result: 'updated', alert: e.after })
  }
  return [...new Set(targets.map((t) => t.id))].map((id) => outcomes.get(id)!)
}

/**
 * The changed rows in one UPDATE: each row's full set of changeable values (its own where
 * unchanged: the rows are locked, so they are current) as one JSON parameter. The response times
 * are written from the database's clock, and kept without a round trip through JavaScript (which
 * would cut their microseconds).
 */
async function writeChanges(tx: Tx, writes: { before: Alert; change: AlertChange }[]): Promise<Alert[]> {
  const rows = writes.map(({ before, change }) => {
    const v = { ...before, ...change }
    const moment = (c: 'now' | null | undefined) => (c === undefined ? 'keep' : c === 'now' ? 'now' : 'clear')
    return {
      id: v.id,
      status: v.status,
      severity: v.severity,
      event_type: v.eventType,
      source: v.source,
      assignee_id: v.assigneeId,
      verdict: v.verdict,
      reason: v.reason,
      tags: v.tags,
      ack: moment(change.acknowledgedAt),
      res: moment(change.resolvedAt)
    }
  })
  const moment = (column: PgColumn, c: SQL) => sql`case ${c} when 'now' then now() when 'keep' then ${column} end`
  return tx
    .update(alerts)
    .set({
      status: sql`c.status`,
      severity: sql`c.severity`,
      eventType: sql`c.event_type`,
      source: sql`c.source`,
      assigneeId: sql`c.assignee_id`,
      verdict: sql`c.verdict`,
      reason: sql`c.reason`,
      tags: sql`c.tags`,
      acknowledgedAt: moment(alerts.acknowledgedAt, sql`c.ack`),
      resolvedAt: moment(alerts.resolvedAt, sql`c.res`),
      version: sql`${alerts.version} + 1`,
      updatedAt: sql`now()`
    })
    .from(
      sql`jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as c(id bigint, status alert_status, severity severity, event_type event_type, source varchar,
          assignee_id bigint, verdict alert_verdict, reason text, tags text[], ack text, res text)`
    )
    .where(sql`${alerts.id} = c.id`)
    .returning(getTableColumns(alerts))
}

/** Keeps the copies of the event's fields on its alert in step with the event. */
export async function followEvent(tx: Tx, event: EventCopies): Promise<void> {
  const [alert] = await tx.select({ id: alerts.id }).from(alerts).where(eq(alerts.eventId, event.id))
  if (!alert) return
  await changeAlerts(tx, null, [{ id: alert.id }], () => ({ severity: event.severity, eventType: event.eventType, source: event.source }))
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface AlertFilter extends PageParams {
  severity?: Severity
  status?: AlertStatus
  verdict?: Verdict
  /** A user id, or `me` (the caller: resolved to their id before the list is read). */
  assignee?: number
  /** true: only alerts nobody is assigned; false: only assigned ones. */
  unassigned?: boolean
  /** false: only alerts still Open or Acknowledged; true: only Resolved ones. */
  resolved?: boolean
  tag?: string
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
    filter('verdict', q.verdict || undefined, (v) => eq(alerts.verdict, v)),
    filter('assignee', q.assignee || undefined, (v) => eq(alerts.assigneeId, v)),
    // Two shapes, each its own statement, so `is null` can use the assignee index.
    q.unassigned === undefined ? undefined : filter(q.unassigned ? 'unassigned' : 'assigned', true, () => (q.unassigned ? isNull(alerts.assigneeId) : isNotNull(alerts.assigneeId))),
    q.resolved === undefined ? undefined : filter(q.resolved ? 'resolved' : 'unresolved', true, () => (q.resolved ? eq(alerts.status, 'Resolved') : inArray(alerts.status, ['Open', 'Acknowledged']))),
    filter('tag', q.tag || undefined, (v) => sql`${alerts.tags} @> array[${v}::text]`),
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

/**
 * One page of what belongs to one alert (its history, comments, events), newest first, or a 404
 * without the alert. `source` filters by the alert.
 */
export async function pageOfAlert<R, V = R>(
  db: Db,
  alertId: number,
  q: PageParams,
  at: PageLocation,
  source: PageSource<R>,
  complete?: (rows: R[]) => V[]
): Promise<PageEnvelope<V>> {
  const [alert] = await db.select({ id: alerts.id }).from(alerts).where(eq(alerts.id, alertId))
  if (!alert) throw notFound()
  // The alert is part of the list's parameters: the count estimate is cached by them.
  return listPage(db, at, { ...q, alert: alertId } as PageParams, source, complete)
}

/** One alert, or a 404. */
export async function getAlert(db: Db, id: number): Promise<AlertView> {
  const [alert] = await db.select(alertView.select).from(alerts).where(eq(alerts.id, id))
  if (!alert) throw notFound()
  return alert
}
