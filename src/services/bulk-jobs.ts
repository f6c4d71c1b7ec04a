// Bulk changes by filter: a job that triages every alert a list filter matches, at any size.
//
// - Asked for (POST /api/alerts/bulk/ with `filter`): the job is stored with the highest alert id
//   at that moment, so alerts raised later are never in it, and answered 202 at once.
// - Started by one instance's runner (the job row locked, SKIP LOCKED: never two): its set is
//   fixed in one statement, each matching alert with the version it is at (bulk_job_items), and
//   `matched` is the set's size.
// - Worked in batches, each ONE transaction: it takes (deletes) a batch of items, changes their
//   alerts through the one change path (changeAlerts, with the item's version as If-Match: an
//   alert changed since the set was fixed is skipped, `version_moved`) and adds the outcomes to the
//   job's counts. Items are taken with SKIP LOCKED, so runners on several instances share a job
//   without ever taking the same item; a batch that does not commit leaves its items for the next
//   try. A job resumed after a restart therefore applies nothing twice and loses nothing.
// - A batch that fails for a reason of its own (not the database being away) is retried one alert
//   at a time; an alert that still fails is counted in `failed`, with the error kept.
import { and, count, desc, eq, lte, ne, sql } from 'drizzle-orm'
import type { Db, Tx } from '../db/index.js'
import { alerts, bulkJobItems, bulkJobs, type BulkJob } from '../db/schema.js'
import { classifyDbError, conflict, notFound } from '../errors.js'
import { whereOf } from '../pagination.js'
import { rowsOf } from '../db/queries.js'
import { alertList, changeAlerts, type AlertFilter, type ChangeOutcome } from './alerts.js'
import { recordAudit, type Actor } from './audit.js'
import { checkTriage, planTriage, type Triage, type TriageRules } from './triage.js'

/** Unfinished jobs one user may have at once. */
export const MAX_ACTIVE_JOBS_PER_USER = 3
/** Alerts changed per transaction. */
export const BULK_BATCH = 500

/** The database away, or a collision with a concurrent transaction: the batch is simply tried again later. */
function isTransient(err: unknown): boolean {
  const code = classifyDbError(err)?.code
  return code === 'database_unavailable' || code === 'transaction_conflict'
}

/** The list filters a job takes (no paging). */
export type JobFilter = Omit<AlertFilter, 'page' | 'page_size' | 'cursor'>

export const jobOut = (j: BulkJob) => ({
  id: j.id,
  state: j.state,
  filter: j.filter as Record<string, unknown>,
  set: j.change as Record<string, unknown>,
  matched: j.matched,
  updated: j.updated,
  skipped: j.skipped,
  failed: j.failed,
  error: j.error,
  created_by: j.createdById,
  created_at: j.createdAt.toISOString(),
  started_at: j.startedAt?.toISOString() ?? null,
  finished_at: j.finishedAt?.toISOString() ?? null
})

export type JobView = ReturnType<typeof jobOut>

/** A job for every alert the filter matches now; 409 while the caller already has the most unfinished ones. */
export async function createBulkJob(db: Db, actor: Actor, filter: JobFilter, set: Triage): Promise<JobView> {
  await checkTriage(db, set)
  return db.transaction(async (tx) => {
    if (actor.id != null) {
      // Serializes one user's requests, so the bound holds when they race.
      // One 64-bit key per user: user ids are bigints, which the (int, int) form cannot hold.
      await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`vigil.bulk_jobs:${actor.id}`}::text, 0))`)
      const [{ n }] = await tx.select({ n: count() }).from(bulkJobs).where(and(eq(bulkJobs.createdById, actor.id), ne(bulkJobs.state, 'done')))
      if (n >= MAX_ACTIVE_JOBS_PER_USER) throw conflict(`You have ${n} bulk jobs unfinished, the most one user may have; wait for one to finish.`)
    }
    const [job] = await tx
      .insert(bulkJobs)
      .values({
        createdById: actor.id ?? null,
        createdBy: actor.label?.slice(0, 255) ?? null,
        filter,
        change: set,
        maxAlertId: sql`(select coalesce(max(${alerts.id}), 0) from ${alerts})`
      })
      .returning()
    await recordAudit(tx, actor, { action: 'alert.bulk_job_created', targetType: 'bulk_job', targetId: job.id, after: { filter, set } })
    return jobOut(job)
  })
}

/** One job, or a 404. */
export async function getBulkJob(db: Db, id: number): Promise<JobView> {
  const [job] = await db.select().from(bulkJobs).where(eq(bulkJobs.id, id))
  if (!job) throw notFound()
  return jobOut(job)
}

/** The newest jobs (at most 100). */
export async function listBulkJobs(db: Db): Promise<JobView[]> {
  const rows = await db.select().from(bulkJobs).orderBy(desc(bulkJobs.createdAt), desc(bulkJobs.id)).limit(100)
  return rows.map(jobOut)
}

/** Fixes the set of one pending job (if any is waiting and not being started elsewhere). Whether one was. */
async function startOne(db: Db): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [job] = await tx.select().from(bulkJobs).where(eq(bulkJobs.state, 'pending')).orderBy(bulkJobs.id).limit(1).for('update', { skipLocked: true })
    if (!job) return false
    const where = and(whereOf(alertList(job.filter as JobFilter)), lte(alerts.id, job.maxAlertId))
    const [{ n }] = await rowsOf<{ n: number }>(tx, sql`
      with fixed as (
        insert into ${bulkJobItems} (job_id, alert_id, version)
        select ${job.id}::bigint, ${alerts.id}, ${alerts.version} from ${alerts} where ${where}
        returning 1
      ) select count(*)::int as n from fixed`)
    await tx.update(bulkJobs).set({ state: 'running', matched: n, startedAt: sql`now()` }).where(eq(bulkJobs.id, job.id))
    return true
  })
}

interface Tally {
  updated: number
  skipped: Record<string, number>
  failed: number
  error?: string
}

function tally(outcomes: ChangeOutcome[]): Tally {
  const t: Tally = { updated: 0, skipped: {}, failed: 0 }
  for (const o of outcomes) {
    if (o.result === 'updated') t.updated += 1
    else {
      const why = o.result === 'skipped' ? o.reason : o.result === 'unchanged' ? 'unchanged' : 'gone'
      t.skipped[why] = (t.skipped[why] ?? 0) + 1
    }
  }
  return t
}

/** Adds a batch's outcomes to its job's counts (in the batch's transaction). */
async function addCounts(tx: Tx, jobId: number, t: Tally): Promise<void> {
  await tx
    .update(bulkJobs)
    .set({
      updated: sql`${bulkJobs.updated} + ${t.updated}`,
      failed: sql`${bulkJobs.failed} + ${t.failed}`,
      // Per reason: the stored count plus the batch's.
      skipped: sql`(select coalesce(jsonb_object_agg(k, v), '{}'::jsonb) from (
        select k, sum(v)::bigint as v from (
          select key as k, value::bigint as v from jsonb_each_text(${bulkJobs.skipped})
          union all select key, value::bigint from jsonb_each_text(${JSON.stringify(t.skipped)}::jsonb)
        ) s group by k) g)`,
      ...(t.error ? { error: t.error.slice(0, 1000) } : {})
    })
    .where(eq(bulkJobs.id, jobId))
}

/** Takes up to `size` of a job's items and applies the job's change to them, in `tx`. How many were taken. */
async function applyBatch(tx: Tx, job: BulkJob, size: number, rules: TriageRules, only?: number): Promise<number> {
  const taken = await rowsOf<{ alert_id: number | string; version: number }>(tx, sql`
    delete from ${bulkJobItems} where (job_id, alert_id) in (
      select job_id, alert_id from ${bulkJobItems}
      where job_id = ${job.id}::bigint ${only === undefined ? sql`` : sql`and alert_id = ${only}::bigint`}
      order by alert_id limit ${size}::int for update skip locked
    ) returning alert_id, version`)
  if (taken.length === 0) return 0
  const set = job.change as Triage
  const actor: Actor = { id: job.createdById, label: job.createdBy }
  const outcomes = await changeAlerts(
    tx,
    actor,
    taken.map((i) => ({ id: Number(i.alert_id), versions: [i.version] })),
    (before) => planTriage(before, set, rules)
  )
  await addCounts(tx, job.id, tally(outcomes))
  return taken.length
}

/** Runs one batch of one running job; false when no job has work left. */
async function workOne(db: Db, rules: TriageRules, size: number): Promise<boolean> {
  const running = await db.select().from(bulkJobs).where(eq(bulkJobs.state, 'running')).orderBy(bulkJobs.id)
  for (const job of running) {
    let taken: number
    try {
      taken = await db.transaction((tx) => applyBatch(tx, job, size, rules))
    } catch (err) {
      if (isTransient(err)) throw err
      taken = await oneByOne(db, job, size, rules, err as Error)
    }
    if (taken > 0) return true
    // Nothing left to take: done once no item remains (another runner may still hold some).
    const [left] = await db.select({ n: count() }).from(bulkJobItems).where(eq(bulkJobItems.jobId, job.id))
    if (left.n === 0) await db.update(bulkJobs).set({ state: 'done', finishedAt: sql`now()` }).where(and(eq(bulkJobs.id, job.id), eq(bulkJobs.state, 'running')))
  }
  return false
}

/** A failing batch, one alert at a time: those that still fail are counted as failed. */
async function oneByOne(db: Db, job: BulkJob, size: number, rules: TriageRules, first: Error): Promise<number> {
  const items = await db
    .select({ alertId: bulkJobItems.alertId })
    .from(bulkJobItems)
    .where(eq(bulkJobItems.jobId, job.id))
    .orderBy(bulkJobItems.alertId)
    .limit(size)
  for (const { alertId } of items) {
    try {
      await db.transaction((tx) => applyBatch(tx, job, 1, rules, alertId))
    } catch (err) {
      if (isTransient(err)) throw err
      await db.transaction(async (tx) => {
        await tx.delete(bulkJobItems).where(and(eq(bulkJobItems.jobId, job.id), eq(bulkJobItems.alertId, alertId)))
        await addCounts(tx, job.id, { updated: 0, skipped: {}, failed: 1, error: `Alert ${alertId}: ${(err as Error).message || first.message}` })
      })
    }
  }
  return items.length
}

/**
 * Works the jobs until none has anything left or `signal` aborts: starts waiting jobs, then
 * batch after batch. Safe to run on every instance at once.
 */
export async function runBulkJobs(db: Db, rules: TriageRules, signal: AbortSignal, size = BULK_BATCH): Promise<void> {
  while (!signal.aborted) {
    const started = await startOne(db)
    const worked = await workOne(db, rules, size)
    if (!started && !worked) return
  }
}
