// Learned baselines (model_type anomaly_detection). `retrain` marks a model `training`; any
// instance's trainer claims it with a lease (FOR UPDATE SKIP LOCKED: one trainer per model), so
// training runs in the background, never in a request or the ingestion path, and a trainer that
// dies mid-way leaves a lease that expires and another run that takes over. Training counts the
// stored events per group and bucket over the model's history and keeps, per group, the mean
// and standard deviation of the count per bucket (buckets without events count as zero).
import { sql, type SQL } from 'drizzle-orm'
import type { Db } from '../db/index.js'
import { rowsOf, textArray } from '../db/queries.js'
import { checkDefinition, compileAnomaly, DefinitionError, type AnomalySettings } from './model.js'
import type { SigmaOptions } from './types.js'

/** A training that has not finished within this is taken over by the next trainer. */
export const TRAINING_LEASE_MS = 5 * 60_000
/** Groups kept in a baseline (the busiest); others meet the baseline of all groups. */
export const MAX_GROUPS = 10_000

export interface Stat {
  mean: number
  stddev: number
}

export interface Baseline {
  bucket_ms: number
  history_ms: number
  buckets: number
  /** Per group value. */
  groups: Record<string, Stat>
  /** For a group the history never saw: the statistics of all groups' buckets together. */
  overall: Stat
}

/** The SQL of the value a group is read from: a column of events, or a field of its attributes. */
export function groupExpression(field: string): SQL {
  if (field === 'source') return sql`source`
  if (field === 'event_type') return sql`event_type::text`
  if (field === 'severity') return sql`severity::text`
  const path = field.split('.')
  // The flat key first (`user.name` as one key), then the nested path, as rules read fields.
  return sql`coalesce(attributes ->> ${field}, attributes #>> ${textArray(path)}::text[])`
}

interface Counted {
  g: string
  total: number | string
  squares: number | string
  busy: number | string
}

export async function learnBaseline(db: Db, settings: AnomalySettings, now = new Date()): Promise<Baseline> {
  const buckets = Math.floor(settings.historyMs / settings.bucketMs)
  const to = new Date(Math.floor(now.getTime() / settings.bucketMs) * settings.bucketMs)
  const from = new Date(to.getTime() - buckets * settings.bucketMs)
  const rows = await rowsOf<Counted>(
    db,
    sql`SELECT g, sum(n) AS total, sum(n * n) AS squares, count(*) AS busy FROM (
          SELECT ${groupExpression(settings.groupBy)} AS g,
                 date_bin(${`${settings.bucketMs} milliseconds`}::interval, "timestamp", 'epoch'::timestamptz) AS b, count(*)::float8 AS n
          FROM events WHERE "timestamp" >= ${from.toISOString()}::timestamptz AND "timestamp" < ${to.toISOString()}::timestamptz
          GROUP BY 1, 2) AS per_bucket
        WHERE g IS NOT NULL
        GROUP BY g ORDER BY sum(n) DESC LIMIT ${MAX_GROUPS}`
  )
  const stat = (total: number, squares: number, n: number): Stat => {
    const mean = total / n
    return { mean, stddev: Math.sqrt(Math.max(0, squares / n - mean * mean)) }
  }
  const groups: Record<string, Stat> = {}
  let total = 0
  let squares = 0
  for (const r of rows) {
    groups[r.g] = stat(Number(r.total), Number(r.squares), buckets)
    total += Number(r.total)
    squares += Number(r.squares)
  }
  const overall = rows.length ? stat(total, squares, buckets * rows.length) : { mean: 0, stddev: 0 }
  return { bucket_ms: settings.bucketMs, history_ms: settings.historyMs, buckets, groups, overall }
}

interface Claimed {
  id: number | string
  model_type: string
  definition: string
}

/** Takes the next model waiting for training, if any, under a lease. */
async function claim(db: Db): Promise<Claimed | undefined> {
  const [row] = await rowsOf<Claimed>(
    db,
    sql`UPDATE models SET training_lease_until = now() + ${`${TRAINING_LEASE_MS} milliseconds`}::interval
        WHERE id = (SELECT id FROM models
                    WHERE status = 'training' AND (training_lease_until IS NULL OR training_lease_until < now())
                    ORDER BY updated_at FOR UPDATE SKIP LOCKED LIMIT 1)
        RETURNING id, model_type, definition`
  )
  return row
}

/**
 * Trains every model waiting for it; returns how many were trained (or failed). A Sigma model has
 * nothing to learn: training compiles it again (with the placeholders configured now).
 */
export async function trainModels(db: Db, options: SigmaOptions): Promise<number> {
  let done = 0
  for (let row = await claim(db); row; row = await claim(db)) {
    const id = Number(row.id)
    try {
      if (row.model_type === 'sigma') {
        checkDefinition('sigma', row.definition, options)
        await db.execute(sql`UPDATE models SET status = 'ready', status_reason = NULL, trained_at = now(), training_lease_until = NULL, updated_at = now()
                             WHERE id = ${id} AND status = 'training'`)
      } else {
        const baseline = await learnBaseline(db, compileAnomaly(row.definition))
        // Only while still training: a client may have changed its status meanwhile.
        await db.execute(sql`UPDATE models SET status = 'ready', status_reason = NULL, baseline = ${JSON.stringify(baseline)}::jsonb,
                             trained_at = now(), training_lease_until = NULL, updated_at = now()
                             WHERE id = ${id} AND status = 'training'`)
      }
    } catch (err) {
      const reason = err instanceof DefinitionError ? `${err.path}: ${err.message}` : (err as Error).message
      await db.execute(sql`UPDATE models SET status = 'failed', status_reason = ${reason.slice(0, 500)},
                           training_lease_until = NULL, updated_at = now() WHERE id = ${id} AND status = 'training'`)
    }
    // Whatever became of the model meanwhile (changed, deleted), this run's lease ends here.
    await db.execute(sql`UPDATE models SET training_lease_until = NULL WHERE id = ${id} AND training_lease_until IS NOT NULL AND status <> 'training'`)
    done++
  }
  return done
}
