// Webhooks (/api/webhooks, admins): subscriptions to alert changes, delivered signed (Standard
// Webhooks) from the alert outbox, and every statement they need. The delivery engine
// (src/services/webhook-delivery.ts) calls the second half of this module: fan-out (outbox ->
// deliveries, per webhook, holding its row FOR UPDATE SKIP LOCKED so two instances never fan out
// one webhook at once), the claim of due deliveries (a lease, SKIP LOCKED: one instance attempts a
// delivery at a time; a crashed one's lease expires), and the result of an attempt (one transaction).
// Secrets are made here, returned once (create, rotate) and never put in a view, a log or the audit trail.
import { randomBytes, randomUUID } from 'node:crypto'
import { and, asc, count, eq, getTableColumns, sql } from 'drizzle-orm'
import type { Db, Tx } from '../db/index.js'
import { rowsOf, textArray } from '../db/queries.js'
import { webhookAttempts, webhookDeliveries, webhooks, type Webhook, type WebhookDelivery, type WebhookDeliveryState } from '../db/schema.js'
import { conflict, HttpError, notFound } from '../errors.js'
import { filter, listPage, type PageEnvelope, type PageLocation, type PageParams, type PageSource } from '../pagination.js'
import { LINE_UNSAFE } from '../text.js'
import { readChanges, startCursor, type StreamFilter } from './alert-stream.js'
import { recordAudit, type Actor } from './audit.js'
import { MAX_WEBHOOK_URL, parseWebhookUrl, resolveTarget } from './webhook-targets.js'

/** Webhooks there may be at once: each costs a fan-out per outbox change. */
export const MAX_WEBHOOKS = 100
/** Longest name. */
export const MAX_WEBHOOK_NAME = 100
/** Rotation overlap: default a day, at most a week. */
export const DEFAULT_OVERLAP_S = 86_400
export const MAX_OVERLAP_S = 7 * 86_400
/** Attempts shown per delivery in the log (the latest ones). */
export const MAX_ATTEMPTS_SHOWN = 50

/** The types a webhook may subscribe to: `alert.` and the history action of the change. */
export const WEBHOOK_EVENT_TYPES = ['alert.raised', 'alert.repeated', 'alert.changed', 'alert.commented', 'alert.comment_deleted', 'alert.linked', 'alert.unlinked'] as const
/** The type of a message sent by POST /api/webhooks/{id}/test/. */
export const TEST_EVENT_TYPE = 'webhook.test'

/** Who turns a webhook off on its own (410, days of failures), in the audit trail. */
export const SYSTEM_ACTOR: Actor = { id: null, label: 'system:webhooks' }

export interface WebhookInput {
  name: string
  url: string
  event_types?: string[]
  /** The alert list's filters (validated by its query schema), `assignee: 'me'` meaning the caller. */
  filter?: Record<string, unknown>
  active?: boolean
}

export type WebhookPatch = Partial<WebhookInput>

export interface WebhookOptions {
  allowPrivate: boolean
}

/** A secret: `whsec_` and 32 random bytes, base64 (Standard Webhooks). */
export const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`

/** What a webhook looks like to API clients (routes/webhooks/schema.ts WebhookOut): never its secrets. */
export const webhookOut = (w: Webhook) => ({
  id: w.id,
  name: w.name,
  url: w.url,
  event_types: w.eventTypes,
  filter: w.filter,
  active: w.active,
  disabled_reason: w.disabledReason,
  failing_since: w.failingSince?.toISOString() ?? null,
  previous_secret_until: w.previousSecretUntil && w.previousSecretUntil.getTime() > Date.now() ? w.previousSecretUntil.toISOString() : null,
  created_by: w.createdById,
  created_at: w.createdAt.toISOString(),
  updated_at: w.updatedAt.toISOString()
})

export type WebhookView = ReturnType<typeof webhookOut>

/** What the audit trail records of a webhook (no secret). */
const auditView = (w: Webhook) => ({ name: w.name, url: w.url, event_types: w.eventTypes, filter: w.filter, active: w.active })

/** The stored filter as the outbox reader takes it (assignee as the id it was resolved to). */
export function streamFilterOf(stored: Record<string, unknown>): StreamFilter {
  const f = { ...stored } as Record<string, unknown>
  if (f.assignee !== undefined) f.assignee = Number(f.assignee)
  return f as StreamFilter
}

/** The filter to store: `assignee: 'me'` becomes the caller's id. */
function storedFilter(input: Record<string, unknown> | undefined, actor: Actor): Record<string, unknown> {
  const f = { ...(input ?? {}) }
  if (f.assignee === 'me') {
    if (actor.id == null) throw new HttpError('validation_failed', "Invalid body field 'filter.assignee': `me` needs a user.", { errors: { 'filter.assignee': ['`me` needs a user.'] } })
    f.assignee = String(actor.id)
  }
  return f
}

const invalid = (field: string, message: string) => new HttpError('validation_failed', `Invalid body field '${field}': ${message}`, { errors: { [field]: [message] } })

function checkName(name: string): string {
  const trimmed = name.trim()
  if (!trimmed || LINE_UNSAFE.test(trimmed)) throw invalid('name', 'Must be one line of text, not blank: no control characters or direction overrides.')
  return trimmed
}

/** A URL webhooks may send to, checked against its addresses now (webhook_url_refused otherwise). */
async function checkUrl(text: string, opts: WebhookOptions): Promise<string> {
  if (text.length > MAX_WEBHOOK_URL) throw invalid('url', `At most ${MAX_WEBHOOK_URL} characters.`)
  const url = parseWebhookUrl(text)
  await resolveTarget(url, opts.allowPrivate)
  return url.toString()
}

const uniqueTypes = (types: string[] | undefined) => [...new Set(types ?? [])].sort()

/** Refuses one more webhook when there are MAX_WEBHOOKS already (the lock serializes creates). */
async function checkRoom(tx: Tx): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext('vigil.webhooks'))`)
  const [{ n }] = await tx.select({ n: count() }).from(webhooks)
  if (n >= MAX_WEBHOOKS) throw conflict(`There are ${n} webhooks, the most there may be; delete one first.`)
}

/** A new webhook, delivering the changes made after now; its secret is returned this once. */
export async function createWebhook(db: Db, actor: Actor, input: WebhookInput, opts: WebhookOptions): Promise<{ webhook: Webhook; secret: string }> {
  const name = checkName(input.name)
  const url = await checkUrl(input.url, opts)
  const filterValue = storedFilter(input.filter, actor)
  const secret = newSecret()
  return db.transaction(async (tx) => {
    await checkRoom(tx)
    const cursor = await startCursor(tx as unknown as Db)
    const [row] = await tx
      .insert(webhooks)
      .values({
        name,
        url,
        eventTypes: uniqueTypes(input.event_types),
        filter: filterValue,
        active: input.active ?? true,
        secret,
        cursorTx: sql`${cursor.tx}::xid8` as unknown as string,
        cursorId: cursor.id,
        createdById: actor.id ?? null
      })
      .returning()
    await recordAudit(tx, actor, { action: 'webhook.created', targetType: 'webhook', targetId: row.id, after: auditView(row) })
    return { webhook: row, secret }
  })
}

export async function getWebhook(db: Db | Tx, id: number): Promise<Webhook> {
  const [row] = await db.select().from(webhooks).where(eq(webhooks.id, id))
  if (!row) throw notFound()
  return row
}

async function lock(tx: Tx, id: number): Promise<Webhook> {
  const [row] = await tx.select().from(webhooks).where(eq(webhooks.id, id)).for('update')
  if (!row) throw notFound()
  return row
}

export async function listWebhooks(db: Db, f: PageParams & { active?: boolean }, at: PageLocation): Promise<PageEnvelope<WebhookView>> {
  const filters = [filter('active', f.active, (v) => eq(webhooks.active, v))]
  const source = { table: webhooks, filters, newest: webhooks.createdAt, select: getTableColumns(webhooks) } as PageSource<Webhook>
  return listPage(db, at, f, source, (rows) => rows.map(webhookOut))
}

/**
 * Changes a webhook; only what changes is written and audited. Turned on again (active false ->
 * true), it delivers the changes made from then on, and forgets why it was off.
 */
export async function updateWebhook(db: Db, actor: Actor, id: number, patch: WebhookPatch, opts: WebhookOptions): Promise<Webhook> {
  const name = patch.name === undefined ? undefined : checkName(patch.name)
  const url = patch.url === undefined ? undefined : await checkUrl(patch.url, opts)
  const filterValue = patch.filter === undefined ? undefined : storedFilter(patch.filter, actor)
  return db.transaction(async (tx) => {
    const current = await lock(tx, id)
    const set: Partial<typeof webhooks.$inferInsert> = {}
    if (name !== undefined && name !== current.name) set.name = name
    if (url !== undefined && url !== current.url) set.url = url
    if (patch.event_types !== undefined) {
      const types = uniqueTypes(patch.event_types)
      if (types.join(',') !== current.eventTypes.join(',')) set.eventTypes = types
    }
    if (filterValue !== undefined && JSON.stringify(filterValue) !== JSON.stringify(current.filter)) set.filter = filterValue
    if (patch.active !== undefined && patch.active !== current.active) {
      set.active = patch.active
      if (patch.active) {
        const cursor = await startCursor(tx as unknown as Db)
        set.cursorTx = sql`${cursor.tx}::xid8` as unknown as string
        set.cursorId = cursor.id
        set.disabledReason = null
        set.failingSince = null
      }
    }
    if (Object.keys(set).length === 0) return current
    const [updated] = await tx
      .update(webhooks)
      .set({ ...set, updatedAt: sql`now()` })
      .where(eq(webhooks.id, id))
      .returning()
    const was = auditView(current)
    const now = auditView(updated)
    const before: Record<string, unknown> = {}
    const after: Record<string, unknown> = {}
    for (const key of Object.keys(was) as (keyof typeof was)[]) {
      if (JSON.stringify(was[key]) !== JSON.stringify(now[key])) {
        before[key] = was[key]
        after[key] = now[key]
      }
    }
    if (Object.keys(after).length > 0) await recordAudit(tx, actor, { action: 'webhook.updated', targetType: 'webhook', targetId: id, before, after })
    return updated
  })
}

/** Deletes a webhook with its deliveries and their attempts. */
export async function deleteWebhook(db: Db, actor: Actor, id: number): Promise<void> {
  await db.transaction(async (tx) => {
    const current = await lock(tx, id)
    await tx.delete(webhooks).where(eq(webhooks.id, id))
    await recordAudit(tx, actor, { action: 'webhook.deleted', targetType: 'webhook', targetId: id, before: auditView(current) })
  })
}

/**
 * A new secret, returned this once. The one it replaces keeps signing beside it for
 * `overlapSeconds` (0: it stops at once), so receivers can move to the new one without a gap.
 */
export async function rotateSecret(db: Db, actor: Actor, id: number, overlapSeconds: number): Promise<{ webhook: Webhook; secret: string }> {
  const secret = newSecret()
  return db.transaction(async (tx) => {
    const current = await lock(tx, id)
    const [updated] = await tx
      .update(webhooks)
      .set({
        secret,
        previousSecret: overlapSeconds > 0 ? current.secret : null,
        previousSecretUntil: overlapSeconds > 0 ? sql`now() + make_interval(secs => ${overlapSeconds})` : null,
        updatedAt: sql`now()`
      })
      .where(eq(webhooks.id, id))
      .returning()
    await recordAudit(tx, actor, {
      action: 'webhook.secret_rotated',
      targetType: 'webhook',
      targetId: id,
      after: { overlap_seconds: overlapSeconds, previous_secret_until: updated.previousSecretUntil?.toISOString() ?? null }
    })
    return { webhook: updated, secret }
  })
}

// --- the delivery log ----------------------------------------------------------------------------

export interface AttemptView {
  at: string
  status: number | null
  latency_ms: number
  error: string | null
  response: string | null
}

export const deliveryOut = (d: WebhookDelivery, attempts: AttemptView[]) => ({
  id: d.id,
  webhook: d.webhookId,
  message_id: d.messageId,
  type: d.type,
  state: d.state,
  attempt_count: d.attempts,
  next_attempt_at: d.state === 'pending' ? d.nextAttemptAt.toISOString() : null,
  last_status: d.lastStatus,
  last_error: d.lastError,
  last_latency_ms: d.lastLatencyMs,
  delivered_at: d.deliveredAt?.toISOString() ?? null,
  created_at: d.createdAt.toISOString(),
  payload: d.payload,
  attempts
})

export type DeliveryView = ReturnType<typeof deliveryOut>

/** The attempts of these deliveries, oldest first, the latest MAX_ATTEMPTS_SHOWN of each. */
async function attemptsOf(db: Db | Tx, ids: number[]): Promise<Map<number, AttemptView[]>> {
  const out = new Map<number, AttemptView[]>(ids.map((id) => [id, []]))
  if (ids.length === 0) return out
  const rows = await db
    .select()
    .from(webhookAttempts)
    .where(sql`${webhookAttempts.deliveryId} = any(${textArray(ids)}::text[]::bigint[])`)
    .orderBy(asc(webhookAttempts.deliveryId), asc(webhookAttempts.id))
  for (const a of rows) {
    out.get(a.deliveryId)?.push({ at: a.at.toISOString(), status: a.status, latency_ms: a.latencyMs, error: a.error, response: a.response })
  }
  for (const [id, list] of out) if (list.length > MAX_ATTEMPTS_SHOWN) out.set(id, list.slice(-MAX_ATTEMPTS_SHOWN))
  return out
}

export interface DeliveryFilter extends PageParams {
  state?: WebhookDeliveryState
}

/** One page of a webhook's deliveries, newest first, each with its attempts; 404 without the webhook. */
export async function listDeliveries(db: Db, webhookId: number, q: DeliveryFilter, at: PageLocation): Promise<PageEnvelope<DeliveryView>> {
  await getWebhook(db, webhookId)
  const filters = [
    filter('webhook', webhookId, (v) => eq(webhookDeliveries.webhookId, v)),
    filter('state', q.state, (v) => sql`${webhookDeliveries.state} = ${v}::webhook_delivery_state`)
  ]
  const source = { table: webhookDeliveries, filters, newest: webhookDeliveries.createdAt, select: getTableColumns(webhookDeliveries) } as PageSource<WebhookDelivery>
  // The webhook is part of the list's parameters: the count estimate is cached by them.
  return listPage(db, at, { ...q, webhook: webhookId } as PageParams, source, async (rows) => {
    const attempts = await attemptsOf(db, rows.map((r) => r.id))
    return rows.map((r) => deliveryOut(r, attempts.get(r.id) ?? []))
  })
}

export async function getDelivery(db: Db, webhookId: number, deliveryId: number): Promise<DeliveryView> {
  const [row] = await db
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.webhookId, webhookId)))
  if (!row) throw notFound()
  return deliveryOut(row, (await attemptsOf(db, [row.id])).get(row.id) ?? [])
}

/**
 * Sends a delivery again, soon: pending again, due now, its retry schedule from the start (a
 * failed or delivered one too), with the same message id. 409 while an attempt of it is under way.
 */
export async function redeliver(db: Db, actor: Actor, webhookId: number, deliveryId: number): Promise<DeliveryView> {
  await db.transaction(async (tx) => {
    const [row] = await tx
      .select({ id: webhookDeliveries.id, state: webhookDeliveries.state, busy: sql<boolean>`coalesce(${webhookDeliveries.leaseUntil} > now(), false)` })
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.webhookId, webhookId)))
      .for('update')
    if (!row) throw notFound()
    if (row.busy) throw conflict('This delivery is being attempted now; redeliver it once the attempt is over.')
    await tx
      .update(webhookDeliveries)
      .set({ state: 'pending', step: 0, nextAttemptAt: sql`now()`, leaseUntil: null, leaseToken: null, deliveredAt: null })
      .where(eq(webhookDeliveries.id, deliveryId))
    await recordAudit(tx, actor, { action: 'webhook.redelivered', targetType: 'webhook', targetId: webhookId, after: { delivery: deliveryId, state_before: row.state } })
  })
  return getDelivery(db, webhookId, deliveryId)
}

/** Queues a test message (type webhook.test) for a webhook, behind what it has pending. */
export async function queueTest(db: Db, webhookId: number): Promise<DeliveryView> {
  const webhook = await getWebhook(db, webhookId)
  const messageId = newMessageId()
  const timestamp = new Date().toISOString()
  const payload = JSON.stringify({ type: TEST_EVENT_TYPE, timestamp, data: { webhook: webhook.id, message: 'A test delivery from Vigil.' } })
  const [row] = await db.insert(webhookDeliveries).values({ webhookId, messageId, type: TEST_EVENT_TYPE, payload }).returning()
  return deliveryOut(row, [])
}

/** The most pending deliveries countPending counts: a scrape stays cheap whatever the backlog. */
export const PENDING_COUNT_CAP = 100_000

/** Deliveries pending (due, leased or waiting their turn), up to PENDING_COUNT_CAP: a range of the partial index of pending ones. */
export async function countPending(db: Db): Promise<number> {
  const [{ n }] = await rowsOf<{ n: number }>(
    db,
    sql`select count(*)::int as n from (select 1 from webhook_deliveries where state = 'pending' limit ${PENDING_COUNT_CAP}) p`
  )
  return n
}

// --- retention of the delivery log --------------------------------------------------------------

/** Deliveries deleted per statement by pruneDeliveries (one short transaction each). */
export const PRUNE_BATCH = 5000

/**
 * Deletes the finished deliveries (delivered or failed; their attempts go with them, ON DELETE
 * CASCADE) whose last activity is older than `retentionDays` days: when it was delivered, or the
 * latest attempt of a failed one. Pending deliveries are never deleted. Per webhook (at most
 * MAX_WEBHOOKS), in batches of PRUNE_BATCH until one comes up short: each batch is a range scan of
 * (webhook_id, created_at) below the cutoff (nothing can have happened to a delivery before it was
 * made), so a round costs about what it deletes. Rows being redelivered are skipped (SKIP LOCKED)
 * and a row turned pending meanwhile is kept. Returns how many deliveries went.
 */
export async function pruneDeliveries(db: Db, retentionDays: number): Promise<number> {
  const [{ cutoff }] = await rowsOf<{ cutoff: Date | string }>(db, sql`select now() - make_interval(days => ${retentionDays}::int) as cutoff`)
  const before = new Date(cutoff).toISOString()
  const ids = await db.select({ id: webhooks.id }).from(webhooks).orderBy(asc(webhooks.id))
  let removed = 0
  for (const { id } of ids) {
    for (;;) {
      const [{ n }] = await rowsOf<{ n: number }>(
        db,
        sql`with doomed as (
              select d.id from webhook_deliveries d
               where d.webhook_id = ${id} and d.created_at < ${before}::timestamptz
                 and ((d.state = 'delivered' and d.delivered_at < ${before}::timestamptz)
                   or (d.state = 'failed' and not exists (
                         select 1 from webhook_attempts a where a.delivery_id = d.id and a.at >= ${before}::timestamptz)))
               order by d.created_at
               limit ${PRUNE_BATCH}
               for update of d skip locked),
            gone as (delete from webhook_deliveries x using doomed where x.id = doomed.id and x.state <> 'pending' returning 1)
            select count(*)::int as n from gone`
      )
      removed += n
      if (n < PRUNE_BATCH) break
    }
  }
  return removed
}

// --- the engine's statements ---------------------------------------------------------------------

/** A message id: `msg_` and 128 random bits, the `webhook-id` of every attempt of one delivery. */
export const newMessageId = () => `msg_${randomUUID().replaceAll('-', '')}`

/** Active webhooks with outbox rows after their cursor (committed or not yet): the ones fan-out may move. */
export async function webhooksWithChanges(db: Db): Promise<number[]> {
  const rows = await rowsOf<{ id: number | string }>(
    db,
    sql`select w.id from webhooks w
        where w.active and exists (select 1 from alert_history h where (h.tx, h.id) > (w.cursor_tx, w.cursor_id))
        order by w.id`
  )
  return rows.map((r) => Number(r.id))
}

/**
 * Moves one webhook through the outbox: in one transaction holding its row (SKIP LOCKED: another
 * instance doing it meanwhile means nothing to do here), reads the committed changes after its
 * cursor with its filter, inserts a delivery for each of its types, and moves the cursor.
 * `more` when a full page was read (call again).
 */
export async function fanOut(db: Db, webhookId: number, retryFirstS: number): Promise<{ inserted: number; more: boolean }> {
  return db.transaction(async (tx) => {
    const [w] = await tx
      .select({ id: webhooks.id, eventTypes: webhooks.eventTypes, filter: webhooks.filter, cursorTx: sql<string>`${webhooks.cursorTx}::text`, cursorId: webhooks.cursorId })
      .from(webhooks)
      .where(and(eq(webhooks.id, webhookId), eq(webhooks.active, true)))
      .for('update', { skipLocked: true })
    if (!w) return { inserted: 0, more: false }
    const from = { tx: w.cursorTx, id: w.cursorId }
    const { events, cursor, more } = await readChanges(tx as unknown as Db, from, streamFilterOf(w.filter))
    const rows = []
    for (const e of events) {
      const type = `alert.${e.type}`
      if (w.eventTypes.length > 0 && !w.eventTypes.includes(type)) continue
      const payload = JSON.stringify({ type, timestamp: e.data.change.at, data: e.data })
      rows.push({ webhookId, changeId: e.data.change.id, messageId: newMessageId(), type, payload, nextAttemptAt: sql`now() + make_interval(secs => ${retryFirstS})` as unknown as Date })
    }
    if (rows.length > 0) await tx.insert(webhookDeliveries).values(rows).onConflictDoNothing()
    if (cursor.tx !== from.tx || cursor.id !== from.id) {
      await tx
        .update(webhooks)
        .set({ cursorTx: sql`${cursor.tx}::xid8` as unknown as string, cursorId: cursor.id })
        .where(eq(webhooks.id, webhookId))
    }
    return { inserted: rows.length, more }
  })
}

/** A delivery claimed for one attempt, with what it is sent with. */
export interface Claimed {
  id: number
  webhookId: number
  messageId: string
  type: string
  payload: string
  step: number
  leaseToken: string
  url: string
  /** The secrets that sign it: the current one, and the previous one during a rotation. */
  secrets: string[]
}

/**
 * Claims up to `n` due deliveries for one attempt each: pending, due, not leased (or the lease ran
 * out: its instance died), of an active webhook, and the oldest pending one of its webhook (outbox
 * order; a receiver that is down holds back its own queue, one attempt per step of the schedule).
 * The lease keeps every other instance off it until it ends.
 */
export async function claimDeliveries(db: Db, n: number, leaseMs: number): Promise<Claimed[]> {
  const token = randomUUID()
  const rows = await rowsOf<{
    id: number | string
    webhook_id: number | string
    message_id: string
    type: string
    payload: string
    step: number
    url: string
    secret: string
    previous_secret: string | null
  }>(
    db,
    sql`update webhook_deliveries d
          set lease_until = now() + make_interval(secs => ${leaseMs / 1000}), lease_token = ${token}::uuid
          from webhooks w
         where w.id = d.webhook_id
           and d.id in (
             select c.id from webhook_deliveries c
               join webhooks cw on cw.id = c.webhook_id and cw.active
              where c.state = 'pending' and c.next_attempt_at <= now()
                and (c.lease_until is null or c.lease_until < now())
                and not exists (select 1 from webhook_deliveries o where o.webhook_id = c.webhook_id and o.state = 'pending' and o.id < c.id)
              order by c.next_attempt_at, c.id
              limit ${n}
              for update of c skip locked)
        returning d.id, d.webhook_id, d.message_id, d.type, d.payload, d.step, w.url, w.secret,
                  case when w.previous_secret_until > now() then w.previous_secret end as previous_secret`
  )
  return rows
    .map((r) => ({
      id: Number(r.id),
      webhookId: Number(r.webhook_id),
      messageId: r.message_id,
      type: r.type,
      payload: r.payload,
      step: Number(r.step),
      leaseToken: token,
      url: r.url,
      secrets: r.previous_secret ? [r.secret, r.previous_secret] : [r.secret]
    }))
    .sort((a, b) => a.id - b.id)
}

/** What an attempt came to. */
export interface AttemptResult {
  at: Date
  status: number | null
  error: string | null
  latencyMs: number
  response: string | null
  /** 2xx. */
  delivered: boolean
  /** 410 Gone: the receiver wants no more. */
  gone: boolean
  /** Seconds until the next attempt, or null: the schedule is over, the delivery failed. */
  retryInS: number | null
}

/**
 * Writes an attempt's result in one transaction: the attempt row, the delivery (delivered, due
 * again, or failed; its lease released), and the webhook (failing since when; turned off, with
 * the reason and an audit record, on 410 or after `disableAfterDays` of failing). Nothing is
 * written when the lease is no longer this attempt's (the webhook was deleted meanwhile).
 * Returns what the delivery became (null when nothing was written) and why the webhook was
 * turned off, if it was.
 */
export async function recordAttempt(db: Db, claimed: Claimed, r: AttemptResult, disableAfterDays: number): Promise<{ state: WebhookDeliveryState | null; disabled: string | null }> {
  return db.transaction(async (tx) => {
    const state: WebhookDeliveryState = r.delivered ? 'delivered' : r.gone || r.retryInS === null ? 'failed' : 'pending'
    const [done] = await tx
      .update(webhookDeliveries)
      .set({
        state,
        attempts: sql`${webhookDeliveries.attempts} + 1`,
        step: sql`${webhookDeliveries.step} + 1`,
        nextAttemptAt: state === 'pending' ? sql`now() + make_interval(secs => ${r.retryInS ?? 0})` : sql`${webhookDeliveries.nextAttemptAt}`,
        leaseUntil: null,
        leaseToken: null,
        lastStatus: r.status,
        lastError: r.error,
        lastLatencyMs: r.latencyMs,
        ...(r.delivered && { deliveredAt: sql`now()` })
      })
      .where(and(eq(webhookDeliveries.id, claimed.id), sql`${webhookDeliveries.leaseToken} = ${claimed.leaseToken}::uuid`))
      .returning({ id: webhookDeliveries.id })
    if (!done) return { state: null, disabled: null }
    await tx.insert(webhookAttempts).values({ deliveryId: claimed.id, at: r.at, status: r.status, error: r.error, latencyMs: r.latencyMs, response: r.response })
    if (r.delivered) {
      await tx.update(webhooks).set({ failingSince: null }).where(and(eq(webhooks.id, claimed.webhookId), sql`${webhooks.failingSince} is not null`))
      return { state, disabled: null }
    }
    const [w] = await tx
      .update(webhooks)
      .set({ failingSince: sql`coalesce(${webhooks.failingSince}, ${r.at.toISOString()}::timestamptz)` })
      .where(eq(webhooks.id, claimed.webhookId))
      .returning({
        active: webhooks.active,
        failingSince: webhooks.failingSince,
        overdue: sql<boolean>`${webhooks.failingSince} <= now() - make_interval(secs => ${disableAfterDays * 86_400})`
      })
    if (!w?.active) return { state, disabled: null }
    const what = r.status === null ? (r.error ?? 'no answer') : `HTTP ${r.status}${r.error ? ` (${r.error})` : ''}`
    const reason = r.gone
      ? `The receiver answered 410 Gone at ${r.at.toISOString()} (message ${claimed.messageId}): it wants no more deliveries.`
      : w.overdue
        ? `Every attempt failed for ${disableAfterDays} days or more (since ${w.failingSince?.toISOString()}); the last: ${what}.`
        : null
    if (!reason) return { state, disabled: null }
    await tx.update(webhooks).set({ active: false, disabledReason: reason, updatedAt: sql`now()` }).where(eq(webhooks.id, claimed.webhookId))
    await recordAudit(tx, SYSTEM_ACTOR, { action: 'webhook.disabled', targetType: 'webhook', targetId: claimed.webhookId, before: { active: true }, after: { active: false, reason } })
    return { state, disabled: reason }
  })
}

/**
 * Milliseconds until the next delivery may be claimed (its due time, or its lease's end), or
 * null with none pending. Only the first pending one of each webhook counts: the others wait for it.
 */
export async function nextDueInMs(db: Db): Promise<number | null> {
  const [row] = await rowsOf<{ ms: number | string | null }>(
    db,
    sql`select extract(epoch from min(greatest(c.next_attempt_at, coalesce(c.lease_until, c.next_attempt_at))) - now()) * 1000 as ms
          from webhook_deliveries c join webhooks w on w.id = c.webhook_id and w.active
         where c.state = 'pending'
           and not exists (select 1 from webhook_deliveries o where o.webhook_id = c.webhook_id and o.state = 'pending' and o.id < c.id)`
  )
  return row?.ms == null ? null : Number(row.ms)
}
