// Correlation state, in the database so that it is right with several instances ingesting at
// once and across restarts. Each stored event's correlation hits are written by the ingest
// statement itself (src/ingest/insert.ts, table detection_hits). After a chunk commits, the
// groups it touched are decided here: under a transaction-scoped advisory lock per group (taken
// in one order by every instance), the group's hits in its window are read and scanned in time
// order; when the correlation's condition first holds, one event with its alert is raised through
// the ingest statement (the one alert path) and the group's mark records that it fired, so the
// same window never fires twice. The firing event's external_id is derived from the group and
// the hits that made it fire, so a decision repeated after a crash stores nothing twice.
import { createHash } from 'node:crypto'
import { sql } from 'drizzle-orm'
import type { Database, Db, Tx } from '../db/index.js'
import { rowsOf, textArray } from '../db/queries.js'
import { insertRows, type RowOutcome } from '../ingest/insert.js'
import { screenRow, type EventRow, type Screen } from '../ingest/map.js'
import { detectionOf, eventTypeOf } from './engine.js'
import { LEVEL_SEVERITY, type CompiledCorrelation } from './model.js'
import type { Bounds } from './sigma/index.js'

/** One group to decide: a correlation, a group, and the earliest time of its new hits. */
export interface Pending {
  correlation: CompiledCorrelation
  group: string
  from: Date
}

/** Hits read per group and decision; thresholds are at most 10,000 (src/detection/model.ts). */
const MAX_SCAN = 20_000
/** Event ids listed in a firing's detection; `count` says how many there were. */
const MAX_LISTED = 100
/** Groups decided in one transaction. */
const GROUPS_PER_TX = 200

interface HitRow {
  k: number | string
  at: Date | string
  member: number
  value: string | null
  event_id: number | string
  source: string
}

interface Mark {
  k: number | string
  fired_at: Date | string
  fired_until: Date | string
}

const keyText = (c: CompiledCorrelation, group: string) => JSON.stringify([c.model.id, c.ruleId, group])

export const inBounds = (b: Bounds, n: number) =>
  (b.gt === undefined || n > b.gt) &&
  (b.gte === undefined || n >= b.gte) &&
  (b.lt === undefined || n < b.lt) &&
  (b.lte === undefined || n <= b.lte) &&
  (b.eq === undefined || n === b.eq)

interface Hit {
  at: number
  member: number
  value: string | null
  eventId: number
  source: string
}

/** Whether the hits of one window satisfy the correlation. */
function satisfied(c: CompiledCorrelation, window: Hit[]): boolean {
  const corr = c.correlation
  switch (corr.type) {
    case 'event_count':
      return inBounds(corr.bounds, window.length)
    case 'value_count':
      return inBounds(corr.bounds, new Set(window.map((h) => h.value)).size)
    case 'temporal':
      return new Set(window.map((h) => h.member)).size === corr.rules.length
    case 'temporal_ordered': {
      let next = 0
      for (const h of window) if (h.member === next && ++next === corr.rules.length) return true
      return false
    }
  }
}

export interface Firing {
  correlation: CompiledCorrelation
  group: string
  at: Date
  hits: Hit[]
}

/**
 * Scans a group's hits (time order) from `from` on and returns each firing: at the first hit
 * where the window ending there satisfies the condition; after a firing, the window starts anew
 * after it and nothing fires again before the firing's window has passed.
 */
export function scan(c: CompiledCorrelation, hits: Hit[], from: number, mark: { firedAt: number; firedUntil: number } | null): Firing[] {
  const span = c.correlation.timespanMs
  const out: Firing[] = []
  let floor = mark ? mark.firedAt : -Infinity
  let quietUntil = mark ? mark.firedUntil : -Infinity
  let start = 0
  for (let end = 0; end < hits.length; end++) {
    const t = hits[end].at
    if (t <= floor) {
      start = end + 1
      continue
    }
    while (start < end && (hits[start].at < t - span || hits[start].at <= floor)) start++
    if (t < from || t < quietUntil) continue
    const window = hits.slice(start, end + 1)
    if (!satisfied(c, window)) continue
    out.push({ correlation: c, group: '', at: new Date(t), hits: window })
    floor = t
    quietUntil = t + span
    start = end + 1
  }
  return out
}

/** A firing's group: its group-by fields and their values. */
function groupOf(f: Firing): Record<string, string> {
  const groupValues = JSON.parse(f.group) as string[]
  return Object.fromEntries(f.correlation.correlation.groupBy.map((name, i) => [name, groupValues[i]]))
}

function firingRow(f: Firing): EventRow {
  const corr = f.correlation.correlation
  const group = groupOf(f)
  const ids = f.hits.map((h) => h.eventId)
  const detection = {
    ...detectionOf(f.correlation, f.correlation.ruleId, corr.title, corr.level),
    count: ids.length,
    event_ids: ids.slice(0, MAX_LISTED),
    group
  }
  const digest = createHash('sha256').update(JSON.stringify([f.correlation.model.id, f.correlation.ruleId, f.group, ids])).digest('hex')
  const groupText = corr.groupBy.length ? ` for ${corr.groupBy.map((g) => `${g}=${group[g]}`).join(', ')}` : ''
  return {
    source: f.hits[f.hits.length - 1].source,
    eventType: eventTypeOf(corr.tags) ?? 'intrusion',
    severity: LEVEL_SEVERITY[corr.level],
    description: `${corr.title}: ${ids.length} matching events${groupText} (${corr.type})`.slice(0, 2000),
    occurredAt: f.at.toISOString(),
    externalId: `correlation:${digest.slice(0, 40)}`,
    attributes: JSON.stringify({ correlation: { type: corr.type, rule_id: f.correlation.ruleId, model_id: f.correlation.model.id, group, count: ids.length, event_ids: detection.event_ids } }),
    detections: JSON.stringify([detection]),
    hits: [],
    models: null,
    counted: []
  }
}

const ms = (v: Date | string) => (v instanceof Date ? v : new Date(v)).getTime()

/** Decides one transaction's worth of groups: what fired, and the groups of correlations its firings feed. */
async function decideSome(tx: Tx, pending: Pending[], screen?: Screen | null): Promise<{ fired: Firing[]; chained: Pending[]; settle?: () => void }> {
  const keys = pending.map((p) => keyText(p.correlation, p.group))
  await tx.execute(sql`SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest(${textArray(keys)}::text[]) AS k ORDER BY 1) AS locks`)
  const models = pending.map((p) => p.correlation.model.id)
  const rules = pending.map((p) => p.correlation.ruleId)
  const groups = pending.map((p) => p.group)
  const froms = pending.map((p) => new Date(p.from.getTime() - p.correlation.correlation.timespanMs).toISOString())
  const marks = await rowsOf<Mark>(
    tx,
    sql`SELECT k.n AS k, m.fired_at, m.fired_until
        FROM unnest(${textArray(models)}::text[]::bigint[], ${textArray(rules)}::text[], ${textArray(groups)}::text[]) WITH ORDINALITY AS k(model_id, rule, group_key, n)
        JOIN detection_marks m USING (model_id, rule, group_key)`
  )
  const rows = await rowsOf<HitRow>(
    tx,
    sql`SELECT k.n AS k, h.at, h.member, h.value, h.event_id, h.source
        FROM unnest(${textArray(models)}::text[]::bigint[], ${textArray(rules)}::text[], ${textArray(groups)}::text[], ${textArray(froms)}::text[]::timestamptz[])
             WITH ORDINALITY AS k(model_id, rule, group_key, from_at, n)
        CROSS JOIN LATERAL (
          SELECT d.at, d.member, d.value, d.event_id, d.source FROM detection_hits d
          WHERE d.model_id = k.model_id AND d.rule = k.rule AND d.group_key = k.group_key AND d.at >= k.from_at
          ORDER BY d.at, d.event_id LIMIT ${MAX_SCAN}
        ) AS h
        ORDER BY k.n, h.at`
  )
  const hitsOf = pending.map((): Hit[] => [])
  for (const r of rows) hitsOf[Number(r.k) - 1].push({ at: ms(r.at), member: r.member, value: r.value, eventId: Number(r.event_id), source: r.source })
  const markOf = new Map(marks.map((m) => [Number(m.k) - 1, { firedAt: ms(m.fired_at), firedUntil: ms(m.fired_until) }]))
  const fired: Firing[] = []
  pending.forEach((p, i) => {
    for (const f of scan(p.correlation, hitsOf[i], p.from.getTime(), markOf.get(i) ?? null)) fired.push({ ...f, group: p.group })
  })
  if (fired.length === 0) return { fired, chained: [] }
  const made = fired.map((f) => screenRow(firingRow(f), screen, groupOf(f)))
  const stored = await insertRows({ db: tx } as unknown as Database, made)
  const chained = await chain(tx, fired, stored)
  const last = new Map<number, Firing>()
  for (const f of fired) last.set(pending.findIndex((p) => p.correlation === f.correlation && p.group === f.group), f)
  const entries = [...last.entries()]
  await tx.execute(sql`
    INSERT INTO detection_marks (model_id, rule, group_key, fired_at, fired_until, expires_at)
    SELECT * FROM unnest(${textArray(entries.map(([i]) => models[i]))}::text[]::bigint[], ${textArray(entries.map(([i]) => rules[i]))}::text[],
                         ${textArray(entries.map(([i]) => groups[i]))}::text[], ${textArray(entries.map(([, f]) => f.at.toISOString()))}::text[]::timestamptz[],
                         ${textArray(entries.map(([, f]) => new Date(f.at.getTime() + f.correlation.correlation.timespanMs).toISOString()))}::text[]::timestamptz[],
                         ${textArray(entries.map(([, f]) => new Date(Math.max(Date.now(), f.at.getTime()) + 2 * f.correlation.correlation.timespanMs).toISOString()))}::text[]::timestamptz[])
    ON CONFLICT (model_id, rule, group_key) DO UPDATE
      SET fired_at = excluded.fired_at, fired_until = excluded.fired_until, expires_at = excluded.expires_at`)
  // Suppression hits are counted once this transaction committed.
  return { fired, chained, settle: () => screen?.settle?.(made, stored) }
}

/**
 * A firing is an event of the correlations that read it (a correlation of correlations): its
 * hit for each is written with the firing's event, and those groups are decided next.
 */
async function chain(tx: Tx, fired: Firing[], stored: RowOutcome[]): Promise<Pending[]> {
  const cols: (string | number | null)[][] = [[], [], [], [], [], [], [], []]
  const pending: Pending[] = []
  fired.forEach((f, i) => {
    const o = stored[i]
    if (!o || 'refused' in o || f.correlation.feeds.length === 0) return
    const inner = f.correlation.correlation.groupBy
    const values = JSON.parse(f.group) as string[]
    for (const { correlation: outer, member } of f.correlation.feeds) {
      const group = JSON.stringify(outer.groupFields[member].map((field) => values[inner.indexOf(field)]))
      cols[0].push(outer.model.id)
      cols[1].push(outer.ruleId)
      cols[2].push(group)
      cols[3].push(member)
      cols[4].push(f.at.toISOString())
      cols[5].push(o.id)
      cols[6].push(f.hits[f.hits.length - 1].source)
      cols[7].push(new Date(Math.max(Date.now(), f.at.getTime()) + outer.correlation.timespanMs).toISOString())
      pending.push({ correlation: outer, group, from: f.at })
    }
  })
  if (pending.length === 0) return pending
  await tx.execute(sql`
    INSERT INTO detection_hits (model_id, rule, group_key, member, at, event_id, source, expires_at)
    SELECT * FROM unnest(${textArray(cols[0])}::text[]::bigint[], ${textArray(cols[1])}::text[], ${textArray(cols[2])}::text[], ${textArray(cols[3])}::text[]::int[],
                         ${textArray(cols[4])}::text[]::timestamptz[], ${textArray(cols[5])}::text[]::bigint[], ${textArray(cols[6])}::text[], ${textArray(cols[7])}::text[]::timestamptz[])`)
  return pending
}

/** Hits (or, for temporal types, distinct rules) a window needs at the least to satisfy the correlation. */
function needed(c: CompiledCorrelation): number {
  const corr = c.correlation
  if (corr.type === 'temporal' || corr.type === 'temporal_ordered') return corr.rules.length
  const b = corr.bounds
  return b.eq ?? b.gte ?? (b.gt ?? 0) + 1
}

/**
 * The groups that could fire: a window that begins at the earliest new hit's window start holds
 * at least as many hits (and rules) as any window the decision looks at, so a group with fewer
 * there cannot fire and needs no lock and no scan. Counting stops at what is needed. Hits are
 * committed before this runs, so of two instances the one that commits last sees them all.
 */
async function mayFire(db: Db, pending: Pending[]): Promise<Pending[]> {
  const temporal = (p: Pending) => p.correlation.correlation.type.startsWith('temporal')
  const rows = await rowsOf<{ n: number | string; hits: number | string; members: number | string }>(
    db,
    sql`SELECT k.n, h.hits, h.members
        FROM unnest(${textArray(pending.map((p) => p.correlation.model.id))}::text[]::bigint[], ${textArray(pending.map((p) => p.correlation.ruleId))}::text[],
                    ${textArray(pending.map((p) => p.group))}::text[],
                    ${textArray(pending.map((p) => new Date(p.from.getTime() - p.correlation.correlation.timespanMs)))}::text[]::timestamptz[],
                    ${textArray(pending.map((p) => (temporal(p) ? null : needed(p.correlation))))}::text[]::bigint[])
             WITH ORDINALITY AS k(model_id, rule, group_key, from_at, cap, n)
        CROSS JOIN LATERAL (
          SELECT count(*) AS hits, count(DISTINCT member) AS members FROM (
            SELECT d.member FROM detection_hits d
            WHERE d.model_id = k.model_id AND d.rule = k.rule AND d.group_key = k.group_key AND d.at >= k.from_at
            LIMIT k.cap) AS w
        ) AS h`
  )
  return rows
    .filter((r) => {
      const p = pending[Number(r.n) - 1]
      return Number(temporal(p) ? r.members : r.hits) >= needed(p.correlation)
    })
    .map((r) => pending[Number(r.n) - 1])
}

/** Decides the groups a committed chunk touched; returns the firings. */
export async function decide(db: Db, pending: Pending[], screen?: Screen | null): Promise<Firing[]> {
  const fired: Firing[] = []
  // Firings feed the correlations that read them: decided in the next round (compilation refuses loops).
  for (let round = pending; round.length > 0; ) {
    // One entry per group, from its earliest new hit.
    const byKey = new Map<string, Pending>()
    for (const p of round) {
      const k = keyText(p.correlation, p.group)
      const seen = byKey.get(k)
      if (!seen || p.from < seen.from) byKey.set(k, p)
    }
    const all = await mayFire(db, [...byKey.values()])
    const next: Pending[] = []
    for (let i = 0; i < all.length; i += GROUPS_PER_TX) {
      const part = all.slice(i, i + GROUPS_PER_TX)
      const done = await db.transaction((tx) => decideSome(tx, part, screen))
      done.settle?.()
      fired.push(...done.fired)
      next.push(...done.chained)
    }
    round = next
  }
  return fired
}

/** Groups with hits still in their window, for a decision after a start (a crash may have left some undecided). */
export async function undecided(db: Db, correlations: readonly CompiledCorrelation[]): Promise<Pending[]> {
  if (correlations.length === 0) return []
  const rows = await rowsOf<{ model_id: number | string; rule: string; group_key: string; from_at: Date | string }>(
    db,
    sql`SELECT model_id, rule, group_key, min(at) AS from_at FROM detection_hits WHERE expires_at > now()
        GROUP BY model_id, rule, group_key LIMIT 100000`
  )
  const byRule = new Map(correlations.map((c) => [`${c.model.id}\u0000${c.ruleId}`, c]))
  const out: Pending[] = []
  for (const r of rows) {
    const c = byRule.get(`${Number(r.model_id)}\u0000${r.rule}`)
    if (c) out.push({ correlation: c, group: r.group_key, from: new Date(ms(r.from_at)) })
  }
  return out
}

/** Drops hits and marks no window can use any more. */
export async function sweepState(db: Db): Promise<void> {
  await db.execute(sql`DELETE FROM detection_hits WHERE expires_at < now()`)
  await db.execute(sql`DELETE FROM detection_marks WHERE expires_at < now()`)
  await db.execute(sql`DELETE FROM detection_buckets WHERE expires_at < now()`)
}
