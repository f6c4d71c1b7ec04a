// Alert stats read hourly counts for the closed hours of their range and alerts for the rest: the
// answer is exact before the hours are counted, after, and right after alerts of a counted hour
// change (before the next round counts them again).
import { sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { rowsOf } from '../src/db/queries.js'
import { countAlertHours } from '../src/services/alert-stats.js'
import { build, inject, makeRoles, type TestUser } from './helper.js'

const SOURCES = ['fw-1', 'ids-2', 'edr-3']

/** Counts every round has left, until a round has nothing left to count. */
async function countAll(app: FastifyInstance) {
  while ((await countAlertHours(app.db)) > 0);
}

/** What the stats must say, from the alerts themselves. */
async function truth(app: FastifyInstance, from: string, to: string, filter: SQLFilter = {}) {
  const cond = sql.join(
    [
      sql`created_at >= ${from}::timestamptz and created_at <= ${to}::timestamptz`,
      ...(filter.severity ? [sql`severity = ${filter.severity}`] : []),
      ...(filter.source ? [sql`source = ${filter.source}`] : []),
      ...(filter.status ? [sql`status = ${filter.status}`] : [])
    ],
    sql` and `
  )
  const rows = await rowsOf<{ k: string; v: string; n: number }>(
    app.db,
    sql`select 'severity' as k, severity::text as v, count(*)::int as n from alerts where ${cond} group by 2
        union all select 'status', status::text, count(*)::int from alerts where ${cond} group by 2
        union all select 'source', source, count(*)::int from alerts where ${cond} group by 2
        union all select 'hour', to_char(date_trunc('hour', created_at, 'UTC') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), count(*)::int from alerts where ${cond} group by 2`
  )
  const of = (k: string) => Object.fromEntries(rows.filter((r) => r.k === k).map((r) => [r.v, r.n]))
  return { severity: of('severity'), status: of('status'), source: of('source'), hour: of('hour') }
}

interface SQLFilter {
  severity?: string
  source?: string
  status?: string
}

const nonZero = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).filter(([, n]) => n > 0))

async function check(t: Test, app: FastifyInstance, admin: TestUser, from: string, to: string, filter: SQLFilter, what: string) {
  const qs = new URLSearchParams({ created_after: from, created_before: to, ...filter })
  const res = await inject(app, { method: 'GET', url: `/api/alerts/stats/?${qs}`, headers: admin.auth })
  t.equal(res.status, 200)
  const want = await truth(app, from, to, filter)
  const got = res.body
  t.same(
    {
      severity: nonZero(got.by_severity),
      status: nonZero(got.by_status),
      source: Object.fromEntries(got.by_source.map((s: { source: string; count: number }) => [s.source, s.count])),
      hour: nonZero(Object.fromEntries(got.histogram.map((h: { start: string; count: number }) => [h.start, h.count])))
    },
    want,
    what
  )
  t.equal(got.total, Object.values(want.severity).reduce((a, b) => a + b, 0), `${what}: total`)
}


t.test('stats are exact whether hours are counted or not, and right after a change', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  for (let i = 0; i < 90; i++) {
    const res = await inject(app, {
      method: 'POST',
      url: '/api/events/',
      headers: admin.auth,
      payload: { source: SOURCES[i % 3], event_type: 'intrusion', severity: i % 4 === 0 ? 'Critical' : 'High' }
    })
    t.equal(res.status, 201)
  }
  // A day of alerts, as if they had arrived over it; some statuses changed.
  await app.db.execute(sql`update alerts set created_at = now() - (id % 30) * interval '47 minutes' - interval '13 seconds'`)
  await app.db.execute(sql`update alerts set status = 'Acknowledged' where id % 7 = 0`)
  const [{ now }] = await rowsOf<{ now: string }>(app.db, sql`select now()::text as now`)
  const to = new Date(now).toISOString()
  const day = new Date(new Date(now).getTime() - 24 * 3600_000).toISOString()
  const odd = new Date(new Date(now).getTime() - 7.5 * 3600_000).toISOString()
  const ranges: [string, string, SQLFilter, string][] = [
    [day, to, {}, 'the last day'],
    [odd, to, { severity: 'Critical' }, 'a range not on an hour, Critical only'],
    [day, to, { source: 'ids-2', status: 'Acknowledged' }, 'a source and a status']
  ]
  for (const [from, until, filter, what] of ranges) await check(t, app, admin, from, until, filter, `${what}, before counting`)

  await countAll(app)
  const [counted] = await rowsOf<{ hours: number; alerts: number; marked: number }>(
    app.db,
    sql`select count(distinct hour)::int as hours, coalesce(sum(n), 0)::int as alerts,
               (select count(*)::int from alert_hours_dirty where hour < (select closed_until from alert_hours_state)) as marked
        from alert_hours`
  )
  t.ok(counted.hours >= 20, `closed hours counted (${counted.hours})`)
  t.equal(counted.marked, 0, 'no closed hour left to count')
  for (const [from, until, filter, what] of ranges) await check(t, app, admin, from, until, filter, `${what}, counted`)

  // Triage on a counted hour, and an event (with its alert) deleted: exact at once.
  const [old] = await rowsOf<{ id: number; event_id: number }>(
    app.db,
    sql`select id, event_id from alerts where created_at < now() - interval '3 hours' and status = 'Open' order by id limit 2`
  )
  const patched = await inject(app, { method: 'PATCH', url: `/api/alerts/${old.id}/`, headers: admin.auth, payload: { status: 'Resolved' } })
  t.equal(patched.status, 200)
  const [other] = await rowsOf<{ event_id: number }>(
    app.db,
    sql`select event_id from alerts where created_at < now() - interval '5 hours' and id <> ${old.id} order by id limit 1`
  )
  t.equal((await inject(app, { method: 'DELETE', url: `/api/events/${other.event_id}/`, headers: admin.auth })).status, 204)
  for (const [from, until, filter, what] of ranges) await check(t, app, admin, from, until, filter, `${what}, after a change`)
  await countAll(app)
  for (const [from, until, filter, what] of ranges) await check(t, app, admin, from, until, filter, `${what}, counted again`)

  // An alert inserted into a counted hour (as a restore or a hand-made row would): exact at once.
  const low = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: SOURCES[0], event_type: 'intrusion', severity: 'Low' } })
  t.equal(low.status, 201)
  await app.db.execute(sql`insert into alerts (event_id, event_timestamp, severity, event_type, source, created_at)
                           select id, "timestamp", 'Critical', event_type, source, now() - interval '4 hours' from events where id = ${low.body.id}`)
  for (const [from, until, filter, what] of ranges) await check(t, app, admin, from, until, filter, `${what}, after an insert into a counted hour`)

  // The counts are what the stats read for those hours (not the alerts).
  await app.db.execute(sql`update alert_hours set n = n + 1000 where ctid = (select ctid from alert_hours order by hour desc limit 1)`)
  const res = await inject(app, { method: 'GET', url: `/api/alerts/stats/?${new URLSearchParams({ created_after: day, created_before: to })}`, headers: admin.auth })
  const real = await truth(app, day, to)
  t.equal(res.body.total, Object.values(real.severity).reduce((a, b) => a + b, 0) + 1000, 'closed hours are read from their counts')
})

/** percentile_cont: linear interpolation between the two values around position p * (n - 1). */
function percentileCont(values: number[], p: number): number {
  const v = [...values].sort((a, b) => a - b)
  const pos = p * (v.length - 1)
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return v[lo] + (pos - lo) * (v[hi] - v[lo])
}

t.test('response times: count, mean and p90 of seconds to acknowledge and to resolve, per severity', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const base = Date.parse('2026-03-02T08:00:00.000Z')
  // Offsets from base, and seconds from creation to acknowledged_at and resolved_at (null: none).
  interface Seeded {
    severity: 'High' | 'Critical'
    source: string
    status: 'Open' | 'Acknowledged' | 'Resolved'
    at: number
    ack: number | null
    res: number | null
  }
  const seeded: Seeded[] = [
    { severity: 'High', source: 'fw-1', status: 'Resolved', at: 0, ack: 60, res: 600 },
    { severity: 'High', source: 'fw-1', status: 'Acknowledged', at: 600, ack: 120, res: null },
    { severity: 'High', source: 'fw-1', status: 'Resolved', at: 1200, ack: 300, res: 900.25 },
    // Reopened: acknowledged once, resolved once, Open again.
    { severity: 'High', source: 'fw-1', status: 'Open', at: 1800, ack: 45, res: null },
    { severity: 'High', source: 'fw-1', status: 'Open', at: 2400, ack: null, res: null },
    // Resolved directly: left Open when resolved.
    { severity: 'High', source: 'ids-2', status: 'Resolved', at: 3600, ack: 30, res: 30 },
    { severity: 'High', source: 'ids-2', status: 'Acknowledged', at: 4200, ack: 1000, res: null },
    { severity: 'Critical', source: 'fw-1', status: 'Resolved', at: 7200, ack: 10, res: 200 },
    { severity: 'Critical', source: 'fw-1', status: 'Acknowledged', at: 7500, ack: 20, res: null },
    { severity: 'Critical', source: 'ids-2', status: 'Acknowledged', at: 7800, ack: 7.5, res: null },
    { severity: 'Critical', source: 'ids-2', status: 'Resolved', at: 8100, ack: 3, res: 4000 },
    // Outside the range: before it, and after it.
    { severity: 'High', source: 'fw-1', status: 'Resolved', at: -3600, ack: 5, res: 5 },
    { severity: 'Critical', source: 'fw-1', status: 'Resolved', at: 30_000, ack: 99_999, res: 99_999 }
  ]
  for (const a of seeded) {
    const res = await inject(app, {
      method: 'POST',
      url: '/api/events/',
      headers: admin.auth,
      payload: { source: a.source, event_type: 'intrusion', severity: a.severity }
    })
    t.equal(res.status, 201)
    const when = (s: number | null) => (s === null ? null : new Date(base + (a.at + s) * 1000).toISOString())
    const [row] = await rowsOf<{ id: number }>(
      app.db,
      sql`update alerts set created_at = ${when(0)}::timestamptz, status = ${a.status},
                            acknowledged_at = ${when(a.ack)}::timestamptz, resolved_at = ${when(a.res)}::timestamptz
          where event_id = ${res.body.id} returning id`
    )
    t.ok(row, 'the event raised an alert')
  }
  const from = new Date(base).toISOString()
  const to = new Date(base + 6 * 3600_000).toISOString()

  const check = async (filter: { status?: string; source?: string; severity?: string }, what: string) => {
    const qs = new URLSearchParams({ created_after: from, created_before: to, ...filter })
    const res = await inject(app, { method: 'GET', url: `/api/alerts/stats/?${qs}`, headers: admin.auth })
    t.equal(res.status, 200, what)
    const got = res.body.response_times
    t.same(Object.keys(got).sort(), ['Critical', 'High', 'Low', 'Medium'], `${what}: every severity`)
    const within = seeded.filter(
      (a) =>
        a.at >= 0 &&
        a.at <= 6 * 3600 &&
        (!filter.status || a.status === filter.status) &&
        (!filter.source || a.source === filter.source) &&
        (!filter.severity || a.severity === filter.severity)
    )
    for (const severity of ['Low', 'Medium', 'High', 'Critical']) {
      for (const [kind, of] of [
        ['acknowledge', (a: Seeded) => a.ack],
        ['resolve', (a: Seeded) => a.res]
      ] as const) {
        const values = within.filter((a) => a.severity === severity && of(a) !== null).map((a) => of(a)!)
        const g = got[severity][kind]
        t.equal(g.count, values.length, `${what}: ${severity} ${kind} count`)
        if (values.length === 0) {
          t.same(g, { count: 0, mean_seconds: null, p90_seconds: null }, `${what}: ${severity} ${kind} none`)
          continue
        }
        const mean = values.reduce((x, y) => x + y, 0) / values.length
        const p90 = percentileCont(values, 0.9)
        t.ok(Math.abs(g.mean_seconds - mean) < 1e-6, `${what}: ${severity} ${kind} mean ${g.mean_seconds} = ${mean}`)
        t.ok(Math.abs(g.p90_seconds - p90) < 1e-6, `${what}: ${severity} ${kind} p90 ${g.p90_seconds} = ${p90}`)
      }
    }
    return got
  }

  const all = await check({}, 'the range')
  // Spelled out once, so the expectations above are not only the test's own arithmetic.
  t.equal(all.High.acknowledge.count, 6, 'High: six alerts left Open, the reopened one included')
  t.equal(all.High.resolve.count, 3, 'High: three resolved now, not the reopened one')
  t.equal(all.Critical.resolve.count, 2, 'Critical: the alert after the range is not counted')
  t.equal(all.High.resolve.mean_seconds, (600 + 900.25 + 30) / 3)
  t.same(all.Low, { acknowledge: { count: 0, mean_seconds: null, p90_seconds: null }, resolve: { count: 0, mean_seconds: null, p90_seconds: null } })
  const open = await check({ status: 'Open' }, 'Open only')
  t.equal(open.High.acknowledge.count, 1, 'the reopened alert counts for acknowledge')
  t.same(open.High.resolve, { count: 0, mean_seconds: null, p90_seconds: null }, 'and not for resolve')
  await check({ status: 'Acknowledged' }, 'Acknowledged only')
  await check({ status: 'Resolved' }, 'Resolved only')
  const ids = await check({ source: 'ids-2' }, 'one source')
  t.equal(ids.Critical.acknowledge.count, 2)
  await check({ source: 'fw-1', severity: 'Critical' }, 'a source and a severity')
  await check({ source: 'nowhere' }, 'no alert')
  // Counting hours changes nothing: response times read alerts.
  await countAll(app)
  await check({}, 'the range, hours counted')
})
