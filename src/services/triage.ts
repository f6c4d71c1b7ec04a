// Triage: what an actor may do to an alert, decided the same way for a PATCH, a bulk change by
// ids and each batch of a bulk job (src/services/bulk-jobs.ts). Everything is written through
// the one change path, changeAlerts (src/services/alerts.ts).
//
// - Transitions: Open -> Acknowledged -> Resolved, Open -> Resolved, Acknowledged -> Open, and
//   Resolved -> Open (a reopen, which needs a reason). Anything else is refused, naming the
//   allowed ones.
// - Resolving records a verdict (and an optional reason). Without one, the verdict is `other`
//   unless VERDICT_REQUIRED is set: the Django original's clients resolve with a status alone.
//   A resolved alert's verdict may be corrected; a reopen clears both (the history keeps them).
// - acknowledged_at is the first time the alert left Open, never moved again (time to
//   acknowledge); resolved_at is when it was last resolved, cleared by a reopen (time to resolve).
// - Tags are added and removed (an alert keeps its tags in the order they came), at most
//   MAX_TAGS.
import { eq } from 'drizzle-orm'
import type { Db, Tx } from '../db/index.js'
import { users, type Alert, type AlertStatus, type Verdict } from '../db/schema.js'
import { can } from '../auth/permissions.js'
import { HttpError, badRequest, conflict, notFound } from '../errors.js'
import { alertOut, changeAlerts, type AlertChange, type AlertView, type ChangeOutcome, type ChangeTarget, type Refusal } from './alerts.js'
import type { Actor } from './audit.js'
import { NOTE_UNSAFE } from '../text.js'

export const MAX_TAGS = 32
export const MAX_REASON = 2_000
/** Alerts a bulk change by ids takes at once (more: a bulk job by filter). */
export const MAX_BULK_IDS = 1_000

export const TRANSITIONS: Record<AlertStatus, readonly AlertStatus[]> = {
  Open: ['Acknowledged', 'Resolved'],
  Acknowledged: ['Resolved', 'Open'],
  Resolved: ['Open']
}

/** What an actor asks of an alert (a PATCH body, a bulk change's `set`). */
export interface Triage {
  status?: AlertStatus
  verdict?: Verdict
  reason?: string | null
  assignee?: number | null
  add_tags?: string[]
  remove_tags?: string[]
}

const TRIAGE_FIELDS = ['status', 'verdict', 'reason', 'assignee', 'add_tags', 'remove_tags'] as const satisfies readonly (keyof Triage)[]

export interface TriageRules {
  verdictRequired: boolean
}

const refuse = (refused: string, detail: string, field: string, status: 400 | 409 = 400): Refusal => ({ refused, detail, field, status })

/** The change a triage makes to this alert, or why it is refused. Pure: the same for one alert and for a million. */
export function planTriage(before: Alert, t: Triage, rules: TriageRules): AlertChange | Refusal {
  const change: AlertChange = {}
  const to = t.status ?? before.status
  const moving = to !== before.status
  if (moving && !TRANSITIONS[before.status].includes(to)) {
    const allowed = TRANSITIONS[before.status]
    return refuse('transition_not_allowed', `An alert that is ${before.status} cannot become ${to}; it can become ${allowed.join(' or ')}.`, 'status', 409)
  }
  const reason = t.reason?.trim() || null
  if (moving) change.status = to
  if (to === 'Resolved') {
    if (moving) {
      if (!t.verdict && rules.verdictRequired) return refuse('verdict_required', 'Resolving an alert needs a verdict.', 'verdict')
      change.verdict = t.verdict ?? 'other'
      change.reason = reason
      change.resolvedAt = 'now'
      if (!before.acknowledgedAt) change.acknowledgedAt = 'now'
    } else {
      // A resolved alert's verdict corrected, or its reason.
      if (t.verdict) change.verdict = t.verdict
      if (t.reason !== undefined) change.reason = reason
    }
  } else {
    if (t.verdict) return refuse('verdict_without_resolve', 'A verdict is given when resolving an alert (status Resolved).', 'verdict')
    if (moving && before.status === 'Resolved') {
      if (!reason) return refuse('reason_required', 'Reopening a resolved alert needs a reason.', 'reason')
      change.verdict = null
      change.reason = null
      change.resolvedAt = null
      change.why = reason
    } else if (t.reason !== undefined && t.reason !== null) {
      return refuse('reason_without_resolve', 'A reason is given when resolving or reopening an alert.', 'reason')
    }
    if (to === 'Acknowledged' && !before.acknowledgedAt) change.acknowledgedAt = 'now'
  }
  if (t.assignee !== undefined) change.assigneeId = t.assignee
  if (t.add_tags?.length || t.remove_tags?.length) {
    const remove = new Set(t.remove_tags ?? [])
    const tags = [...new Set([...before.tags, ...(t.add_tags ?? [])])].filter((tag) => !remove.has(tag))
    if (tags.length > MAX_TAGS) return refuse('too_many_tags', `An alert carries at most ${MAX_TAGS} tags.`, 'add_tags')
    change.tags = tags
  }
  return change
}

/**
 * What a triage's values must be beyond their schema, 400 naming the field otherwise: a reason
 * is a note (no control characters or direction overrides), the assignee an active user who may
 * triage alerts.
 */
export async function checkTriage(db: Db | Tx, t: Triage): Promise<void> {
  // Unknown properties are dropped before this: what is left may be nothing at all.
  if (!TRIAGE_FIELDS.some((f) => t[f] !== undefined)) throw badRequest(`Nothing to change: give at least one of ${TRIAGE_FIELDS.join(', ')}.`, 'non_field_errors')
  if (t.reason && NOTE_UNSAFE.test(t.reason)) throw badRequest('Must not contain control characters or direction overrides.', 'reason')
  if (t.assignee === undefined || t.assignee === null) return
  const [user] = await db.select({ isActive: users.isActive, role: users.role }).from(users).where(eq(users.id, t.assignee))
  if (!user) throw badRequest(`User ${t.assignee} does not exist.`, 'assignee')
  if (!user.isActive) throw badRequest(`User ${t.assignee} is deactivated.`, 'assignee')
  if (!can(user.role, 'alerts:update')) throw badRequest(`User ${t.assignee} (${user.role}) may not triage alerts.`, 'assignee')
}

/** A single change's refusal as the HTTP answer it is: 409 for a transition, 400 naming the field otherwise. */
function refusalError(r: Refusal): HttpError {
  return r.status === 409 ? conflict(r.detail, r.field) : badRequest(r.detail, r.field)
}

/**
 * An actor's change to one alert (PATCH /api/alerts/{id}): the alert as it is after, or 404;
 * 412 when `versions` (If-Match) are given and the alert is at none of them (nothing changes).
 */
export async function triageAlert(db: Db, actor: Actor, id: number, t: Triage, rules: TriageRules, versions?: number[]): Promise<AlertView> {
  await checkTriage(db, t)
  return db.transaction(async (tx) => {
    const [outcome] = await changeAlerts(tx, actor, [{ id, versions }], (before) => planTriage(before, t, rules))
    if (outcome.result === 'not_found') throw notFound()
    if (outcome.result === 'skipped') {
      if (outcome.reason === 'version_moved') throw new HttpError('precondition_failed', outcome.detail)
      throw refusalError(outcome.refusal!)
    }
    return alertOut(outcome.alert)
  })
}

/** One alert's result in a bulk change by ids. */
export interface BulkResult {
  id: number
  result: ChangeOutcome['result']
  reason?: string
  detail?: string
  alert?: AlertView
}

/** A bulk change by ids: every alert in one transaction, one result per id (in the order given). */
export async function triageMany(db: Db, actor: Actor, targets: ChangeTarget[], t: Triage, rules: TriageRules): Promise<BulkResult[]> {
  await checkTriage(db, t)
  const outcomes = await db.transaction((tx) => changeAlerts(tx, actor, targets, (before) => planTriage(before, t, rules)))
  return outcomes.map((o) => {
    if (o.result === 'not_found') return { id: o.id, result: o.result, detail: `Alert ${o.id} does not exist.` }
    if (o.result === 'skipped') return { id: o.id, result: o.result, reason: o.reason, detail: o.detail, alert: alertOut(o.alert) }
    return { id: o.id, result: o.result, alert: alertOut(o.alert) }
  })
}
