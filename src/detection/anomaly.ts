// Learned baselines at ingestion: each stored event counts in its group's current bucket
// (detection_buckets, shared by every instance); a bucket whose count exceeds the group's
// baseline by the model's threshold of standard deviations, with at least its minimum count,
// raises one event and alert for that group and bucket, once: the bucket's `alerted` flag is set
// in the same transaction as the raise.
import { createHash } from 'node:crypto'
import { sql } from 'drizzle-orm'
import type { Database, Db } from '../db/index.js'
import { rowsOf, textArray } from '../db/queries.js'
import { insertRows } from '../ingest/insert.js'
import { screenRow, type EventRow, type Screen } from '../ingest/map.js'
import { detectionOf } from './engine.js'
import { LEVEL_SEVERITY, type CompiledModel } from './model.js'
import type { Stat } from './training.js'

export interface Count {
  model: CompiledModel
  group: string
}

/** The baseline a bucket is compared with; new groups meet the statistics of all groups. */
export const statOf = (m: CompiledModel, group: string): Stat => m.baseline!.groups[group] ?? m.baseline!.overall

/**
 * How far above its baseline a count is, in standard deviations. The deviation is at least
 * max(1, sqrt(mean)) (counts vary at least like a Poisson process), so a perfectly regular
 * history does not make one extra event an anomaly.
 */
export function scoreOf(stat: Stat, count: number): number {
  const spread = Math.max(stat.stddev, Math.sqrt(stat.mean), 1)
  return (count - stat.mean) / spread
}

interface Bucket {
  model_id: number | string
  group_key: string
  bucket: Date | string
  count: number | string
}

/** Counts a chunk's events in their buckets and raises what crossed a threshold; returns the models that fired. */
export async function countBuckets(db: Db, counts: Count[], now: Date, screen?: Screen | null): Promise<number[]> {
  // Suppression hits are counted once the firings' transaction committed.
  let settle = () => {}
  const sums = new Map<string, { model: CompiledModel; group: string; n: number; bucket: Date }>()
  for (const c of counts) {
    const ms = c.model.anomaly!.bucketMs
    const bucket = new Date(Math.floor(now.getTime() / ms) * ms)
    const key = JSON.stringify([c.model.ref.id, c.group])
    const s = sums.get(key)
    if (s) s.n++
    else sums.set(key, { model: c.model, group: c.group, n: 1, bucket })
  }
  const list = [...sums.values()]
  const byModel = new Map(list.map((s) => [s.model.ref.id, s.model]))
  const fired = await db.transaction(async (tx) => {
    const rows = await rowsOf<Bucket>(
      tx,
      sql`INSERT INTO detection_buckets (model_id, group_key, bucket, count, expires_at)
          SELECT * FROM unnest(${textArray(list.map((s) => s.model.ref.id))}::text[]::bigint[], ${textArray(list.map((s) => s.group))}::text[],
                               ${textArray(list.map((s) => s.bucket.toISOString()))}::text[]::timestamptz[], ${textArray(list.map((s) => s.n))}::text[]::bigint[],
                               ${textArray(list.map((s) => new Date(s.bucket.getTime() + 2 * s.model.anomaly!.bucketMs).toISOString()))}::text[]::timestamptz[])
          ON CONFLICT (model_id, group_key, bucket) DO UPDATE SET count = detection_buckets.count + excluded.count
          RETURNING model_id, group_key, bucket, count, alerted`
    )
    const over = rows.filter((r) => {
      const m = byModel.get(Number(r.model_id))!
      const a = m.anomaly!
      const count = Number(r.count)
      return !(r as Bucket & { alerted: boolean }).alerted && count >= a.minCount && scoreOf(statOf(m, r.group_key), count) > a.threshold
    })
    if (over.length === 0) return []
    // Only the transaction that sets the flag raises: a concurrent chunk waits for the row and then sees it set.
    const claimed = await rowsOf<Bucket>(
      tx,
      sql`UPDATE detection_buckets b SET alerted = true
          FROM unnest(${textArray(over.map((r) => Number(r.model_id)))}::text[]::bigint[], ${textArray(over.map((r) => r.group_key))}::text[],
                      ${textArray(over.map((r) => new Date(r.bucket).toISOString()))}::text[]::timestamptz[]) AS k(model_id, group_key, bucket)
          WHERE b.model_id = k.model_id AND b.group_key = k.group_key AND b.bucket = k.bucket AND NOT b.alerted
          RETURNING b.model_id, b.group_key, b.bucket, b.count`
    )
    if (claimed.length === 0) return []
    const made = claimed.map((r) => {
      const m = byModel.get(Number(r.model_id))!
      return screenRow(anomalyRow(m, r), screen, { [m.anomaly!.groupBy]: r.group_key })
    })
    const stored = await insertRows({ db: tx } as unknown as Database, made)
    settle = () => screen?.settle?.(made, stored)
    return claimed.map((r) => Number(r.model_id))
  })
  settle()
  return fired
}

function anomalyRow(m: CompiledModel, b: Bucket): EventRow {
  const a = m.anomaly!
  const stat = statOf(m, b.group_key)
  const count = Number(b.count)
  const score = Math.round(scoreOf(stat, count) * 100) / 100
  const bucket = new Date(b.bucket)
  const detection = {
    ...detectionOf({ model: m.ref }, null, a.title, a.level),
    score,
    observed: count,
    baseline: { mean: Math.round(stat.mean * 1000) / 1000, stddev: Math.round(stat.stddev * 1000) / 1000 },
    group: { [a.groupBy]: b.group_key }
  }
  const digest = createHash('sha256').update(JSON.stringify([m.ref.id, b.group_key, bucket.toISOString()])).digest('hex')
  return {
    source: a.groupBy === 'source' ? b.group_key.slice(0, 255) : 'vigil',
    eventType: 'anomaly',
    severity: LEVEL_SEVERITY[a.level],
    description: `${a.title}: ${count} events for ${a.groupBy}=${b.group_key} in the bucket from ${bucket.toISOString()} (baseline ${detection.baseline.mean} ± ${detection.baseline.stddev}, score ${score})`.slice(0, 2000),
    occurredAt: bucket.toISOString(),
    externalId: `anomaly:${digest.slice(0, 40)}`,
    attributes: JSON.stringify({ anomaly: { model_id: m.ref.id, group: detection.group, bucket: bucket.toISOString(), observed: count, baseline: detection.baseline, score } }),
    detections: JSON.stringify([detection]),
    hits: [],
    models: null,
    counted: []
  }
}
