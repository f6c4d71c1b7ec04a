// Fixed-window counters for rate limits, shared by every instance: in PostgreSQL by default (the
// rate_limits table), in Redis when REDIS_URL is set. A hit on a key counts one attempt in the
// key's current window and answers how many the window holds and when it ends; a key whose
// window has ended starts a new one. Several keys are counted in one round trip.
import type { Redis } from 'ioredis'
import { sql } from 'drizzle-orm'
import type { Db } from '../db/index.js'
import { rowsOf } from '../db/queries.js'
import { rateLimits } from '../db/schema.js'

export interface WindowCount {
  count: number
  /** Milliseconds until the window ends. */
  ttlMs: number
}

export interface Counter {
  /** Counts one hit on each key (distinct keys), in the same order. */
  hit(keys: string[], windowMs: number): Promise<WindowCount[]>
}

/** How often expired rows are swept, at most: on a hit, never on a timer of its own. */
const SWEEP_EVERY_MS = 60_000

export function postgresCounter(db: Db): Counter {
  let swept = 0
  return {
    async hit(keys, windowMs) {
      const window = `${windowMs} milliseconds`
      const rows = await rowsOf<{ key: string; hits: number; ttl_ms: number }>(
        db,
        sql`insert into ${rateLimits} (key, hits, expires_at)
            select k, 1, now() + ${window}::interval from unnest(${sql.param(keys)}::text[]) as k
            on conflict (key) do update set
              hits = case when ${rateLimits.expiresAt} <= now() then 1 else ${rateLimits.hits} + 1 end,
              expires_at = case when ${rateLimits.expiresAt} <= now() then now() + ${window}::interval else ${rateLimits.expiresAt} end
            returning key, hits, greatest(0, ceil(extract(epoch from (expires_at - now())) * 1000))::int as ttl_ms`
      )
      if (Date.now() - swept > SWEEP_EVERY_MS) {
        swept = Date.now()
        // Not waited for: the login that happens to trigger it should not pay for it. A sweep that
        // fails leaves expired rows, which count as fresh windows anyway, for the next one.
        void db.execute(sql`delete from ${rateLimits} where ${rateLimits.expiresAt} < now()`).catch(() => {})
      }
      const byKey = new Map(rows.map((r) => [r.key, { count: r.hits, ttlMs: r.ttl_ms }]))
      return keys.map((k) => byKey.get(k)!)
    }
  }
}

// INCR and, for a new window, PEXPIRE, in one atomic script per key.
const HIT = `local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {c, redis.call('PTTL', KEYS[1])}`

export function redisCounter(redis: Redis, prefix = 'vigil:rate:'): Counter {
  return {
    async hit(keys, windowMs) {
      const pipeline = redis.pipeline()
      for (const key of keys) pipeline.eval(HIT, 1, prefix + key, windowMs)
      const results = (await pipeline.exec()) ?? []
      return results.map(([err, value]) => {
        if (err) throw err
        const [count, ttl] = value as [number, number]
        return { count, ttlMs: Math.max(0, ttl) }
      })
    }
  }
}

/** This process's own counters: what each instance enforces when the shared store fails. */
export function memoryCounter(maxKeys = 10_000): Counter {
  const windows = new Map<string, { count: number; endsAt: number }>()
  return {
    async hit(keys, windowMs) {
      const now = Date.now()
      return keys.map((key) => {
        let w = windows.get(key)
        if (!w || w.endsAt <= now) {
          windows.delete(key)
          // Oldest first out, so a flood of new keys cannot grow the map without bound.
          if (windows.size >= maxKeys) windows.delete(windows.keys().next().value!)
          w = { count: 0, endsAt: now + windowMs }
          windows.set(key, w)
        }
        w.count++
        return { count: w.count, ttlMs: w.endsAt - now }
      })
    }
  }
}
