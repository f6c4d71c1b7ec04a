// Suppressions (/api/suppressions, admins): exceptions that expire. An event that matches an
// unexpired one is stored, flagged with it (events.suppression_id), and raises no alert; ingestion
// asks SuppressionSet.match (src/services/grouping.ts) and counts the hits of what it stored.
// A suppression is never deleted, only ended (its expiry moved to now), so every flag keeps
// naming it; its match is fixed once made (end it and make another to change it). Every change
// is one transaction with its audit record, and the database announces it to every instance
// (vigil_suppressions, drizzle/0010_triage.sql), whose SuppressionSet reads them again.
import { count, eq, getTableColumns, gt, sql } from 'drizzle-orm'
import type { FastifyBaseLogger } from 'fastify'
import type { Db, Tx } from '../db/index.js'
import { textArray } from '../db/queries.js'
import { suppressions, users, type EventType, type Severity, type Suppression, type Verdict } from '../db/schema.js'
import { isMap } from '../detection/types.js'
import { conflict, HttpError, notFound } from '../errors.js'
import { filter, listPage, type PageEnvelope, type PageLocation, type PageParams, type PageSource } from '../pagination.js'
import { FIELD_PATH, LINE_UNSAFE, NOTE_UNSAFE } from '../text.js'
import { recordAudit, type Actor } from './audit.js'
import { createBulkJob, type JobFilter } from './bulk-jobs.js'

/** Unexpired suppressions at once, at most: every ingested event may be checked against each. */
export const MAX_ACTIVE_SUPPRESSIONS = 1_000
/** Field conditions of one suppression, at most. */
export const MAX_SUPPRESSION_FIELDS = 20
/** A field condition's path: a record's key or a dotted path through it (src/detection/record.ts). */
export const MAX_FIELD_VALUE = 1024
export const MAX_SUPPRESSION_REASON = 2_000
/** How far ahead a suppression may expire: every exception is looked at again within a year. */
export const MAX_SUPPRESSION_DAYS = 366
const DAY_MS = 86_400_000

/** What resolving the alerts a new suppression would have held back sets on each. */
export interface ResolveMatching {
  verdict: Verdict
  reason?: string
}

export interface SuppressionInput {
  source?: string
  event_type?: EventType
  severity?: Severity
  rule_id?: string
  fields?: Record<string, string>
  reason: string
  /** A user id; the caller by default. */
  owner?: number
  expires_at: string
  resolve_matching?: ResolveMatching
}

/** What may change: the match itself is fixed. */
export interface SuppressionPatch {
  reason?: string
  owner?: number
  expires_at?: string
}

export interface SuppressionFilter extends PageParams {
  /** true: only unexpired ones; false: only expired (ended) ones. */
  active?: boolean
  owner?: number
}

/** A suppression as read, with whether it is unexpired by the database's clock. */
export type SuppressionRow = Suppression & { active: boolean }

const selection = { ...getTableColumns(suppressions), active: sql<boolean>`(${suppressions.expiresAt} > now())` }

/** What a suppression looks like to API clients (routes/suppressions/schema.ts SuppressionOut). */
export const suppressionOut = (s: SuppressionRow) => ({
  id: s.id,
  source: s.source,
  event_type: s.eventType,
  severity: s.severity,
  rule_id: s.ruleId,
  fields: s.fields,
  reason: s.reason,
  owner: s.ownerId,
  created_by: s.createdById,
  expires_at: s.expiresAt.toISOString(),
  active: s.active,
  hits: s.hits,
  last_hit_at: s.lastHitAt?.toISOString() ?? null,
  created_at: s.createdAt.toISOString(),
  updated_at: s.updatedAt.toISOString()
})

export type SuppressionView = ReturnType<typeof suppressionOut>

type FieldErrors = Record<string, string[]>

const add = (errors: FieldErrors, field: string, message: string) => (errors[field] ??= []).push(message)

/** A 400 whose detail names the first bad field, like schema validation errors do. */
function invalid(errors: FieldErrors): HttpError {
  const [field, [message]] = Object.entries(errors)[0]
  const detail = field === 'non_field_errors' ? message : `Invalid body field '${field}': ${message}`
  return new HttpError('validation_failed', detail, { errors })
}

const ONE_LINE = 'Must not contain control characters.'
const MATCH_FIELDS = 'source, event_type, severity, rule_id or fields'

/** The match of a new suppression, checked; at least one condition. */
function checkMatch(input: SuppressionInput, errors: FieldErrors) {
  for (const field of ['source', 'rule_id'] as const) {
    const value = input[field]
    if (value !== undefined && LINE_UNSAFE.test(value)) add(errors, field, ONE_LINE)
  }
  const fields = input.fields ?? {}
  const paths = Object.keys(fields)
  if (paths.length > MAX_SUPPRESSION_FIELDS) add(errors, 'fields', `At most ${MAX_SUPPRESSION_FIELDS} field conditions.`)
  for (const path of paths.slice(0, MAX_SUPPRESSION_FIELDS)) {
    if (!FIELD_PATH.test(path)) {
      add(errors, 'fields', `${JSON.stringify(path.slice(0, 40))} is not a field path: letters, digits, _ . @ and -, at most 128 characters, not starting with . or -.`)
    } else if (LINE_UNSAFE.test(fields[path])) add(errors, `fields.${path}`, ONE_LINE)
  }
  const conditions = [input.source, input.event_type, input.severity, input.rule_id].filter((c) => c !== undefined).length + paths.length
  if (conditions === 0) add(errors, 'non_field_errors', `Give at least one match condition: ${MATCH_FIELDS}.`)
}

/** A reason people read: trimmed, not blank, a note (no control characters or direction overrides). */
function checkReason(value: string, errors: FieldErrors, field = 'reason'): string {
  const trimmed = value.trim()
  if (!trimmed) add(errors, field, 'This field may not be blank.')
  else if (NOTE_UNSAFE.test(trimmed)) add(errors, field, 'Must not contain control characters or direction overrides.')
  return trimmed
}

/** An expiry in the future, at most MAX_SUPPRESSION_DAYS ahead. */
function checkExpiry(value: string, errors: FieldErrors): Date {
  const at = new Date(value)
  const ms = at.getTime()
  if (Number.isNaN(ms)) add(errors, 'expires_at', 'Must be a valid date-time.')
  else if (ms <= Date.now()) add(errors, 'expires_at', 'Must be in the future (DELETE ends a suppression now).')
  else if (ms > Date.now() + MAX_SUPPRESSION_DAYS * DAY_MS) add(errors, 'expires_at', `Must be at most ${MAX_SUPPRESSION_DAYS} days ahead.`)
  return at
}

/** The owner must be an active user. */
async function checkOwner(tx: Tx, id: number): Promise<void> {
  const [user] = await tx.select({ isActive: users.isActive }).from(users).where(eq(users.id, id))
  if (!user) throw invalid({ owner: [`User ${id} does not exist.`] })
  if (!user.isActive) throw invalid({ owner: [`User ${id} is deactivated.`] })
}

/**
 * Refuses one more unexpired suppression when there are MAX_ACTIVE_SUPPRESSIONS already. The
 * advisory lock serializes the writes that add one, so the bound holds when they race.
 */
async function checkRoom(tx: Tx): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext('vigil.suppressions'))`)
  const [{ n }] = await tx.select({ n: count() }).from(suppressions).where(gt(suppressions.expiresAt, sql`now()`))
  if (n >= MAX_ACTIVE_SUPPRESSIONS) {
    throw conflict(`There are ${n} unexpired suppressions, the most there may be at once; end one first.`)
  }
}

/** What the audit trail records of a suppression. */
const auditView = (s: Suppression) => ({
  source: s.source,
  event_type: s.eventType,
  severity: s.severity,
  rule_id: s.ruleId,
  fields: s.fields,
  reason: s.reason,
  owner: s.ownerId,
  expires_at: s.expiresAt.toISOString()
})

/** The alert-list filter of the open alerts a match would have held back (never by fields: alerts have none). */
function openAlertsOf(input: SuppressionInput): JobFilter {
  return {
    ...(input.source !== undefined && { source: input.source }),
    ...(input.event_type !== undefined && { event_type: input.event_type }),
    ...(input.severity !== undefined && { severity: input.severity }),
    ...(input.rule_id !== undefined && { rule_id: input.rule_id }),
    resolved: false
  }
}

/**
 * A new suppression; with `resolve_matching`, also a bulk job (in the same transaction: both or
 * neither) that resolves the open alerts it matches, whose id is returned for the caller to run.
 */
export async function createSuppression(db: Db, actor: Actor, input: SuppressionInput): Promise<{ suppression: SuppressionRow; bulkJob: number | null }> {
  const errors: FieldErrors = {}
  checkMatch(input, errors)
  const reason = checkReason(input.reason, errors)
  const expiresAt = checkExpiry(input.expires_at, errors)
  const resolve = input.resolve_matching
  if (resolve) {
    if (Object.keys(input.fields ?? {}).length > 0) {
      add(errors, 'resolve_matching', 'Open alerts cannot be matched by event fields: resolve_matching goes with a match of source, event_type, severity or rule_id only.')
    }
    if (resolve.reason !== undefined) checkReason(resolve.reason, errors, 'resolve_matching.reason')
  }
  if (Object.keys(errors).length > 0) throw invalid(errors)
  const ownerId = input.owner ?? actor.id ?? null
  return db.transaction(async (tx) => {
    if (ownerId !== null) await checkOwner(tx, ownerId)
    await checkRoom(tx)
    const [row] = await tx
      .insert(suppressions)
      .values({
        source: input.source ?? null,
        eventType: input.event_type ?? null,
        severity: input.severity ?? null,
        ruleId: input.rule_id ?? null,
        fields: input.fields ?? {},
        reason,
        ownerId,
        expiresAt,
        createdById: actor.id ?? null
      })
      .returning(selection)
    let bulkJob: number | null = null
    if (resolve) {
      const set = { status: 'Resolved' as const, verdict: resolve.verdict, ...(resolve.reason !== undefined && { reason: resolve.reason.trim() }) }
      // A transaction is a database handle too: the job's own transaction is a savepoint of this one.
      bulkJob = (await createBulkJob(tx, actor, openAlertsOf(input), set)).id
    }
    await recordAudit(tx, actor, {
      action: 'suppression.created',
      targetType: 'suppression',
      targetId: row.id,
      after: { ...auditView(row), ...(resolve && { resolve_matching: resolve, bulk_job: bulkJob }) }
    })
    return { suppression: row, bulkJob }
  })
}

export async function getSuppression(db: Db | Tx, id: number): Promise<SuppressionRow> {
  const [row] = await db.select(selection).from(suppressions).where(eq(suppressions.id, id))
  if (!row) throw notFound()
  return row
}

/** Locks the suppression for the rest of the transaction; 404 if absent. */
async function lock(tx: Tx, id: number): Promise<SuppressionRow> {
  const [row] = await tx.select(selection).from(suppressions).where(eq(suppressions.id, id)).for('update')
  if (!row) throw notFound()
  return row
}

/**
 * Changes the reason, the owner or the expiry (extended or shortened, always to the future: a
 * suppression that had ended applies again, within the bound of unexpired ones). Only what really
 * changes is written and audited.
 */
export async function updateSuppression(db: Db, actor: Actor, id: number, patch: SuppressionPatch): Promise<SuppressionRow> {
  const errors: FieldErrors = {}
  const reason = patch.reason === undefined ? undefined : checkReason(patch.reason, errors)
  const expiresAt = patch.expires_at === undefined ? undefined : checkExpiry(patch.expires_at, errors)
  if (Object.keys(errors).length > 0) throw invalid(errors)
  return db.transaction(async (tx) => {
    const current = await lock(tx, id)
    const set: Partial<Pick<Suppression, 'reason' | 'ownerId' | 'expiresAt'>> = {}
    if (reason !== undefined && reason !== current.reason) set.reason = reason
    if (patch.owner !== undefined && patch.owner !== current.ownerId) {
      await checkOwner(tx, patch.owner)
      set.ownerId = patch.owner
    }
    if (expiresAt !== undefined && expiresAt.getTime() !== current.expiresAt.getTime()) {
      if (!current.active) await checkRoom(tx)
      set.expiresAt = expiresAt
    }
    if (Object.keys(set).length === 0) return current
    const [updated] = await tx
      .update(suppressions)
      .set({ ...set, updatedAt: sql`now()` })
      .where(eq(suppressions.id, id))
      .returning(selection)
    const before: Record<string, unknown> = {}
    const after: Record<string, unknown> = {}
    const was = auditView(current)
    const now = auditView(updated)
    for (const [key, field] of [['reason', 'reason'], ['ownerId', 'owner'], ['expiresAt', 'expires_at']] as const) {
      if (key in set) {
        before[field] = was[field]
        after[field] = now[field]
      }
    }
    await recordAudit(tx, actor, { action: 'suppression.updated', targetType: 'suppression', targetId: id, before, after })
    return updated
  })
}

/** Ends a suppression now (its expiry moved to now); one already ended is left as it is. 404 if absent. */
export async function endSuppression(db: Db, actor: Actor, id: number): Promise<void> {
  await db.transaction(async (tx) => {
    const current = await lock(tx, id)
    if (!current.active) return
    const [ended] = await tx
      .update(suppressions)
      .set({ expiresAt: sql`now()`, updatedAt: sql`now()` })
      .where(eq(suppressions.id, id))
      .returning({ expiresAt: suppressions.expiresAt })
    await recordAudit(tx, actor, {
      action: 'suppression.ended',
      targetType: 'suppression',
      targetId: id,
      // With the events it held back, as a deleted model's audit record keeps its matches.
      before: { expires_at: current.expiresAt.toISOString(), hits: current.hits },
      after: { expires_at: ended.expiresAt.toISOString() }
    })
  })
}

/** What a suppression list reads: newest first; filters combine with AND. */
export function suppressionList(f: SuppressionFilter): PageSource<SuppressionRow> {
  const filters = [
    // The SQL of a filter never depends on its value (the page statement is prepared by shape): one name each way.
    f.active === undefined
      ? undefined
      : filter(f.active ? 'active' : 'expired', true, () => (f.active ? sql`${suppressions.expiresAt} > now()` : sql`${suppressions.expiresAt} <= now()`)),
    filter('owner', f.owner, (v) => eq(suppressions.ownerId, v))
  ]
  return { table: suppressions, filters, newest: suppressions.createdAt, select: selection }
}

export async function listSuppressions(db: Db, f: SuppressionFilter, at: PageLocation): Promise<PageEnvelope<SuppressionView>> {
  return listPage(db, at, f, suppressionList(f), (rows) => rows.map(suppressionOut))
}

// --- the matcher ingestion calls ---------------------------------------------------------------

/** What a suppression is matched against: an event as it will be stored. */
export interface SuppressionSubject {
  source: string
  eventType: EventType
  /** After detection raised it. */
  severity: Severity
  /** The rule ids of the event's detections (may be empty). */
  ruleIds: readonly string[]
  /** The record's field by dotted path (a FieldSource from src/detection/record.ts: record.get(path)). */
  field(path: string): unknown
}

/** One unexpired suppression as the matcher holds it: each condition null when not given. */
interface Held {
  id: number
  expiresAt: number
  source: string | null
  eventType: EventType | null
  severity: Severity | null
  ruleId: string | null
  fields: readonly (readonly [string, string])[]
}

/** A string, number or boolean whose text is exactly `text`. */
const scalarIs = (v: unknown, text: string) =>
  typeof v === 'string' ? v === text : (typeof v === 'number' || typeof v === 'boolean') && String(v) === text

/** Whether a field condition holds for the record's value: the value, or an element of an array of them. */
const fieldHolds = (value: unknown, text: string) => (Array.isArray(value) ? value.some((v) => scalarIs(v, text)) : scalarIs(value, text))

/**
 * The unexpired suppressions, held in memory for ingestion to match every event against. Reads
 * them again on reload() (at start, on vigil_suppressions, on a timer: plugins/suppressions.ts);
 * checks each one's expiry itself, so one stops applying the moment it expires. Hits are counted
 * in memory and written by flush().
 */
export class SuppressionSet {
  /** By id, lowest first: the first that holds is the one an event is flagged with. */
  private held: readonly Held[] = []
  /** The latest expiry of them (ms since the epoch): once past, none applies. */
  private until = 0
  private counts = new Map<number, number>()
  private loading: Promise<void> | undefined
  private queued: Promise<void> | undefined

  constructor(
    private readonly db: Db,
    private readonly log: FastifyBaseLogger
  ) {}

  /** Whether any unexpired suppression exists: without one, ingestion does not even build a subject. */
  get active(): boolean {
    return this.until > Date.now()
  }

  /**
   * Reads the unexpired suppressions again (at start, on vigil_suppressions, and on a timer so
   * expiry is noticed). One read at a time: a call during one is answered by one more read after
   * it (shared by every call meanwhile), so a burst of changes costs two reads, and what a call
   * resolves with was read after it was made.
   */
  reload(): Promise<void> {
    if (!this.loading) {
      this.loading = this.load().finally(() => {
        this.loading = undefined
      })
      return this.loading
    }
    this.queued ??= this.loading
      .catch(() => {})
      .then(() => {
        this.queued = undefined
        return this.reload()
      })
    return this.queued
  }

  private async load(): Promise<void> {
    const rows = await this.db
      .select({
        id: suppressions.id,
        expiresAt: suppressions.expiresAt,
        source: suppressions.source,
        eventType: suppressions.eventType,
        severity: suppressions.severity,
        ruleId: suppressions.ruleId,
        fields: suppressions.fields
      })
      .from(suppressions)
      .where(gt(suppressions.expiresAt, sql`now()`))
      .orderBy(suppressions.id)
    let until = 0
    const held = rows.map((r): Held => {
      const expiresAt = r.expiresAt.getTime()
      until = Math.max(until, expiresAt)
      const fields = isMap(r.fields) ? Object.entries(r.fields).filter((e): e is [string, string] => typeof e[1] === 'string') : []
      return { id: r.id, expiresAt, source: r.source, eventType: r.eventType, severity: r.severity, ruleId: r.ruleId, fields }
    })
    this.held = held
    this.until = until
    this.log.debug({ suppressions: held.length }, 'suppressions read')
  }

  /**
   * The id of the first (lowest id) unexpired suppression every condition of which holds, or
   * null. No I/O; linear in the conditions held (no pattern from users is ever run).
   */
  match(subject: SuppressionSubject): number | null {
    const now = Date.now()
    if (this.until <= now) return null
    for (const s of this.held) {
      if (s.expiresAt <= now) continue
      if (s.source !== null && s.source !== subject.source) continue
      if (s.eventType !== null && s.eventType !== subject.eventType) continue
      if (s.severity !== null && s.severity !== subject.severity) continue
      if (s.ruleId !== null && !subject.ruleIds.includes(s.ruleId)) continue
      if (s.fields.every(([path, text]) => fieldHolds(subject.field(path), text))) return s.id
    }
    return null
  }

  /** Counts hits of events that were actually stored (the caller calls this after its commit). */
  hit(id: number, n = 1): void {
    if (n > 0) this.counts.set(id, (this.counts.get(id) ?? 0) + n)
  }

  /** Writes the counted hits (hits += n, last_hit_at = now()) in one statement; kept for the next try if it fails. */
  async flush(): Promise<void> {
    if (this.counts.size === 0) return
    const counts = [...this.counts]
    this.counts = new Map()
    try {
      await this.db.execute(sql`
        UPDATE suppressions SET hits = suppressions.hits + c.n, last_hit_at = now()
        FROM unnest(${textArray(counts.map(([id]) => id))}::text[]::bigint[], ${textArray(counts.map(([, n]) => n))}::text[]::bigint[]) AS c(id, n)
        WHERE suppressions.id = c.id`)
    } catch (err) {
      for (const [id, n] of counts) this.hit(id, n)
      throw err
    }
  }
}
