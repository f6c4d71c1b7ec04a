// Alert statistics, for dashboards: counts over a time range by severity, status, event type and
// source, and a histogram with every bucket present (zeros included).
//
// Counting every alert of a busy day costs far too much for a dashboard that polls, so alerts are
// also counted per UTC hour (alert_hours). An hour is counted once it has closed: ended more than
// CLOSE_MARGIN ago, longer than any statement may run, so no transaction that began in it can
// still commit. A change to an alert of a closed hour marks the hour (alert_hours_dirty, by
// triggers on alerts in the same transaction, drizzle/0006) and the next round counts it again.
// Stats read the counts for the whole hours of their range that are closed and unmarked, and the
// alerts themselves for the rest (the ends of the range, the open hours, the marked ones), so a
// result is always exact. Minute histograms and filters other than the counted columns read alerts.
// Response times (durations, which no count holds) are one aggregate over the range of alerts.
import { and, gte, lt, sql, type SQL } from 'drizzle-orm'
import type { PgColumn } from 'drizzle-orm/pg-core'
import type { Db } from '../db/index.js'
import { rowsOf } from '../db/queries.js'
import { ALERT_STATUSES, alertHours, alerts, EVENT_TYPES, SEVERITIES, type AlertStatus, type EventType, type Severity } from '../db/schema.js'
import { invalidQuery } from '../errors.js'
import type { PageParams } from '../pagination.js'
import { whereOf } from '../pagination.js'
import { alertList, countedFilters, type AlertFilter } from './alerts.js'

export const STATS_BUCKETS = ['minute', 'hour', 'day'] as const
export type StatsBucket = (typeof STATS_BUCKETS)[number]
const HOUR_MS = 3_600_000
const BUCKET_MS: Record<StatsBucket, number> = { minute: 60_000, hour: HOUR_MS, day: 24 * HOUR_MS }
/** Most buckets one histogram may have: a day of minutes. */
export const MAX_STATS_BUCKETS = 1440
/** Sources listed by count, most first; the rest are in `total` only. */
export const STATS_TOP_SOURCES = 20
/** How long after its end an hour is counted. */
const CLOSE_MARGIN = '5 minutes'
/** Hours a round closes, and hours it counts, at most (a round is bounded work). */
export const HOURS_PER_ROUND = 168

export interface StatsQuery extends Omit<AlertFilter, keyof PageParams> {
  bucket?: StatsBucket
}

const zeros = <K extends string>(keys: readonly K[]) => Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>
const iso = (ms: number) => new Date(ms).toISOString()

/**
 * The alerts of [from, to] that match the filters, as rows (severity, status, event_type, source,
 * n, at): hourly counts where they serve, single alerts elsewhere.
 */
function counted(q: StatsQuery, from: Date, to: Date, bucket: StatsBucket): SQL {
  const where = whereOf(alertList({ ...q, created_after: from.toISOString(), created_before: to.toISOString() }))
  const single = (range?: SQL, join?: SQL) =>
    sql`select ${alerts.severity} as severity, ${alerts.status} as status, ${alerts.eventType} as event_type, ${alerts.source} as source,
               1 as n, ${alerts.createdAt} as at
        from ${alerts} ${join ?? sql``} where ${and(where, range)}`
  if (bucket === 'minute' || q.updated_since) return single()
  // The whole hours within the range; those closed and unmarked are read from the counts.
  const h1 = iso(Math.ceil(from.getTime() / HOUR_MS) * HOUR_MS)
  const h2 = sql`greatest(${h1}::timestamptz, least(${iso(Math.floor(to.getTime() / HOUR_MS) * HOUR_MS)}::timestamptz,
                                                 (select closed_until from alert_hours_state)))`
  return sql`
    select ${alertHours.severity} as severity, ${alertHours.status} as status, ${alertHours.eventType} as event_type,
           ${alertHours.source} as source, ${alertHours.n} as n, ${alertHours.hour} as at
    from ${alertHours}
    where ${and(gte(alertHours.hour, new Date(h1)), sql`${alertHours.hour} < ${h2}`, whereOf({ filters: countedFilters(alertHours, q) }))}
      and not exists (select 1 from alert_hours_dirty d where d.hour = ${alertHours.hour})
    union all ${single(lt(alerts.createdAt, new Date(h1)))}
    union all ${single(sql`${alerts.createdAt} >= ${h2}`)}
    union all ${single(
      sql`d.hour >= ${h1}::timestamptz and d.hour < ${h2}`,
      // Per marked hour, a range of the created_at index.
      sql`join alert_hours_dirty d on ${alerts.createdAt} >= d.hour and ${alerts.createdAt} < d.hour + interval '1 hour'`
    )}`
}

/** Seconds from creation to acknowledgement, or to resolution: how many alerts, their mean and 90th percentile. */
export interface ResponseTime {
  count: number
  mean_seconds: number | null
  p90_seconds: number | null
}

/**
 * Per severity, times to acknowledge (acknowledged_at - created_at, of the alerts that ever left
 * Open) and to resolve (resolved_at - created_at, of the alerts resolved now) of the alerts of
 * [from, to] that match the filters. Hourly counts cannot hold durations, so this reads alerts:
 * only those that left Open or were resolved (the others have no response time), through the
 * partial index that holds just those (alerts_responded_created_at_idx; the condition here is the
 * index's own, so the planner may use it). Exported for the test of its plan (test/listing.test.ts).
 */
export function responseTimes(q: StatsQuery, from: Date, to: Date): SQL {
  const where = whereOf(alertList({ ...q, created_after: from.toISOString(), created_before: to.toISOString() }))
  const seconds = (at: PgColumn) => sql`extract(epoch from ${at} - ${alerts.createdAt})::float8`
  const times = (name: string, at: PgColumn) => {
    const has = sql`${at} is not null`
    return sql`count(*) filter (where ${has})::int as ${sql.identifier(`${name}_n`)},
               avg(${seconds(at)}) filter (where ${has}) as ${sql.identifier(`${name}_mean`)},
               percentile_cont(0.9) within group (order by ${seconds(at)}) filter (where ${has}) as ${sql.identifier(`${name}_p90`)}`
  }
  return sql`select ${alerts.severity} as severity, ${times('ack', alerts.acknowledgedAt)}, ${times('res', alerts.resolvedAt)}
             from ${alerts}
             where ${and(where, sql`(${alerts.acknowledgedAt} is not null or ${alerts.resolvedAt} is not null)`)}
             group by ${alerts.severity}`
}

/** Alert counts over [created_after, created_before] (default: the last 24 hours). */
export async function alertStats(db: Db, q: StatsQuery) {
  const bucket = q.bucket ?? 'hour'
  const to = q.created_before ? new Date(q.created_before) : new Date()
  const from = q.created_after ? new Date(q.created_after) : new Date(to.getTime() - BUCKET_MS.day)
  if (from > to) throw invalidQuery('created_after', 'Must not be after created_before.')
  const first = Math.floor(from.getTime() / BUCKET_MS[bucket]) * BUCKET_MS[bucket]
  const buckets = Math.floor((to.getTime() - first) / BUCKET_MS[bucket]) + 1
  if (buckets > MAX_STATS_BUCKETS) {
    throw invalidQuery('bucket', `The range holds ${buckets} ${bucket} buckets, at most ${MAX_STATS_BUCKETS}: choose a longer bucket or a shorter range.`)
  }
  const rows = counted(q, from, to, bucket)
  const [groups, histogram, times] = await Promise.all([
    rowsOf<{ severity: Severity | null; status: AlertStatus | null; event_type: EventType | null; source: string | null; g: number; n: number }>(
      db,
      sql`with c as (${rows})
          select severity, status, event_type, source,
                 grouping(severity, status, event_type, source)::int as g, sum(n)::int as n
          from c group by grouping sets ((severity), (status), (event_type), (source), ())`
    ),
    rowsOf<{ start: string; n: number }>(
      db,
      sql`with c as (${rows}), counted as (
            select date_trunc(${bucket}, at at time zone 'UTC') as start, sum(n)::int as n from c group by 1)
          select to_char(s, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as start, coalesce(counted.n, 0)::int as n
          from generate_series(date_trunc(${bucket}, ${from.toISOString()}::timestamptz at time zone 'UTC'),
                               ${to.toISOString()}::timestamptz at time zone 'UTC', ${`1 ${bucket}`}::interval) as s
          left join counted on counted.start = s
          order by s`
    ),
    rowsOf<{ severity: Severity; ack_n: number; ack_mean: number | null; ack_p90: number | null; res_n: number; res_mean: number | null; res_p90: number | null }>(
      db,
      responseTimes(q, from, to)
    )
  ])
  const bySeverity = zeros(SEVERITIES)
  const byStatus = zeros(ALERT_STATUSES)
  const byEventType = zeros(EVENT_TYPES)
  const bySource: { source: string; count: number }[] = []
  let total = 0
  // grouping() has one bit per column, set when that column is not grouped on (8 = severity ... 1 = source).
  for (const r of groups) {
    if (r.g === 15) total = r.n ?? 0
    else if (r.g === 7) bySeverity[r.severity!] = r.n
    else if (r.g === 11) byStatus[r.status!] = r.n
    else if (r.g === 13) byEventType[r.event_type!] = r.n
    else if (r.g === 14) bySource.push({ source: r.source!, count: r.n })
  }
  bySource.sort((a, b) => b.count - a.count || a.source.localeCompare(b.source))
  const none = (): ResponseTime => ({ count: 0, mean_seconds: null, p90_seconds: null })
  const responseTimesBySeverity = Object.fromEntries(SEVERITIES.map((s) => [s, { acknowledge: none(), resolve: none() }])) as Record<
    Severity,
    { acknowledge: ResponseTime; resolve: ResponseTime }
  >
  // float8 (a number on both drivers); with no alert of a kind, nulls.
  const time = (count: number, mean: number | null, p90: number | null): ResponseTime =>
    count > 0 ? { count, mean_seconds: Number(mean), p90_seconds: Number(p90) } : none()
  for (const r of times) {
    responseTimesBySeverity[r.severity] = { acknowledge: time(r.ack_n, r.ack_mean, r.ack_p90), resolve: time(r.res_n, r.res_mean, r.res_p90) }
  }
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    bucket,
    total,
    by_severity: bySeverity,
    by_status: byStatus,
    by_event_type: byEventType,
    by_source: bySource.slice(0, STATS_TOP_SOURCES),
    histogram: histogram.map((h) => ({ start: h.start, count: h.n })),
    response_times: responseTimesBySeverity
  }
}

/**
 * A round of counting (plugins/maintenance.ts, every minute): closes the hours that ended more than
 * CLOSE_MARGIN ago, marking them to be counted (so stats read their alerts until they are), then
 * counts up to HOURS_PER_ROUND marked hours, newest first. Each hour is counted in a transaction
 * of its own that first takes its mark, waiting for any transaction that marked it to commit.
 * Several instances may run rounds at once: the marks order them. How many hours it counted.
 */
export async function countAlertHours(db: Db): Promise<number> {
  await db.execute(sql`
    with closing as (
      select s.closed_until as old, least(date_trunc('hour', now() - ${CLOSE_MARGIN}::interval, 'UTC'),
                                          s.closed_until + ${HOURS_PER_ROUND} * interval '1 hour') as new
      from alert_hours_state s for update),
    advanced as (update alert_hours_state set closed_until = closing.new from closing where closing.new > closing.old returning 1)
    insert into alert_hours_dirty (hour)
    select generate_series(old, new - interval '1 hour', interval '1 hour') from closing where new > old and exists (select 1 from advanced)
    on conflict do nothing`)
  const marked = await rowsOf<{ hour: Date | string }>(
    db,
    sql`select hour from alert_hours_dirty where hour < (select closed_until from alert_hours_state) order by hour desc limit ${HOURS_PER_ROUND}`
  )
  let done = 0
  for (const { hour } of marked) {
    const h = new Date(hour)
    const counted = await db.transaction(async (tx) => {
      const taken = await rowsOf(tx, sql`delete from alert_hours_dirty where hour = ${h.toISOString()}::timestamptz returning 1`)
      // Another instance counted it meanwhile.
      if (taken.length === 0) return false
      await tx.delete(alertHours).where(sql`${alertHours.hour} = ${h.toISOString()}::timestamptz`)
      await tx.execute(sql`
        insert into alert_hours (hour, severity, status, event_type, source, n)
        select ${h.toISOString()}::timestamptz, severity, status, event_type, source, count(*)::int
        from ${alerts}
        where ${and(gte(alerts.createdAt, h), lt(alerts.createdAt, new Date(h.getTime() + HOUR_MS)))}
        group by severity, status, event_type, source`)
      return true
    })
    if (counted) done++
  }
  return done
}
