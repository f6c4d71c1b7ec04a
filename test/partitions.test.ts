// Events partitioned by storage time: partitions made ahead, an insert that finds none makes it,
// and retention drops whole expired days with everything that refers to their events.
import { sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { eventPartitions } from '../src/db/partitions.js'
import { rowsOf } from '../src/db/queries.js'
import { build, inject, makeRoles } from './helper.js'

const DAY = 24 * 3600 * 1000
const utcDay = (ms: number) => new Date(Math.floor(ms / DAY) * DAY)
const ymd = (d: Date) => d.toISOString().slice(0, 10).replace(/-/g, '')

async function dbNow(app: FastifyInstance): Promise<number> {
  const [{ now }] = await rowsOf<{ now: Date | string }>(app.db, sql`select now() as now`)
  return new Date(now).getTime()
}

const partitionOf = async (app: FastifyInstance, id: number) =>
  (await rowsOf<{ p: string }>(app.db, sql`select tableoid::regclass::text as p from events where id = ${id}`))[0]?.p

t.test('partitions are made for today and the days ahead, once', async (t) => {
  const app = await build(t)
  await app.ready()
  await app.maintain()
  const today = utcDay(await dbNow(app))
  const names = (await eventPartitions(app.db)).map((p) => p.name)
  for (let i = 0; i <= 7; i++) {
    const from = new Date(today.getTime() + i * DAY)
    const to = new Date(from.getTime() + DAY)
    t.ok(names.includes(`events_p${ymd(from)}_${ymd(to)}`), `a partition for ${from.toISOString().slice(0, 10)}`)
  }
  const [{ made }] = await rowsOf<{ made: number }>(app.db, sql`select count(*)::int as made from pg_inherits where inhparent = 'events'::regclass`)
  await app.maintain()
  const [{ again }] = await rowsOf<{ again: number }>(app.db, sql`select count(*)::int as again from pg_inherits where inhparent = 'events'::regclass`)
  t.equal(again, made, 'another round makes none')

  const { admin } = await makeRoles(app)
  const res = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 'p', event_type: 'intrusion', severity: 'High' } })
  t.equal(res.status, 201)
  t.equal(await partitionOf(app, res.body.id), `events_p${ymd(today)}_${ymd(new Date(today.getTime() + DAY))}`, "the event is in today's partition")
})

t.test("an insert that finds no partition for now makes it and succeeds, on every path", async (t) => {
  const app = await build(t)
  await app.ready()
  await app.maintain()
  const { admin } = await makeRoles(app)
  const dropToday = async () => {
    const today = utcDay(await dbNow(app))
    const name = `events_p${ymd(today)}_${ymd(new Date(today.getTime() + DAY))}`
    await app.db.execute(sql`alter table events detach partition ${sql.identifier(name)}`)
    await app.db.execute(sql`drop table ${sql.identifier(name)}`)
    return name
  }
  const name = await dropToday()
  const one = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 'heal', event_type: 'intrusion', severity: 'Critical', external_id: 'h-1' } })
  t.equal(one.status, 201, 'REST create stored')
  t.equal(await partitionOf(app, one.body.id), name, 'in a partition made for it')
  const alerts = await inject(app, { method: 'GET', url: '/api/alerts/?source=heal', headers: admin.auth })
  t.equal(alerts.body.count, 1, 'its alert raised')

  await dropTodayAfterEmptying(app)
  const bulk = await inject(app, {
    method: 'POST',
    url: '/api/events/bulk',
    headers: { ...admin.auth, 'content-type': 'application/x-ndjson' },
    payload: Array.from({ length: 50 }, (_, i) => JSON.stringify({ source: 'heal-bulk', event_type: 'anomaly', severity: 'Low', external_id: `b-${i}` })).join('\n')
  })
  t.equal(bulk.status, 200)
  t.equal(bulk.body.accepted, 50, 'a bulk chunk stored whole')

  async function dropTodayAfterEmptying(app: FastifyInstance) {
    await app.db.execute(sql`delete from alerts`)
    await app.db.execute(sql`delete from event_keys`)
    await app.db.execute(sql`delete from events`)
    await dropToday()
  }
})

t.test('retention drops whole expired days with their alerts, keys and incident links, and nothing else', async (t) => {
  const app = await build(t, { RETENTION_DAYS: 30 })
  await app.ready()
  await app.maintain()
  const { admin } = await makeRoles(app)
  const now = await dbNow(app)
  const today = utcDay(now)
  // Old days as they would be had Vigil stored them then: written directly, since the server
  // stamps every event it stores with the present.
  const oldDay = async (daysAgo: number, tag: string) => {
    const from = new Date(today.getTime() - daysAgo * DAY)
    const to = new Date(from.getTime() + DAY)
    await app.db.execute(sql`select vigil_event_partition(${ymd(from)}::date, ${ymd(to)}::date)`)
    const at = new Date(from.getTime() + 3600 * 1000).toISOString()
    const rows = await rowsOf<{ id: number | string; timestamp: string }>(
      app.db,
      sql`insert into events (source, event_type, severity, description, "timestamp", external_id)
          select 'old', 'intrusion', 'High', ${tag}, ${at}::timestamptz, ${tag} || '-' || g from generate_series(1, 3) g
          returning id, "timestamp"::text`
    )
    await app.db.execute(sql`insert into event_keys (source, external_id, event_timestamp) select source, external_id, "timestamp" from events where description = ${tag}`)
    await app.db.execute(
      sql`insert into alerts (event_id, event_timestamp, severity, event_type, source, created_at)
          select id, "timestamp", severity, event_type, source, "timestamp" from events where description = ${tag}`
    )
    return { name: `events_p${ymd(from)}_${ymd(to)}`, ids: rows.map((r) => Number(r.id)) }
  }
  const expired = await oldDay(31, 'expired')
  const kept = await oldDay(30, 'kept')
  const fresh = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 'new', event_type: 'malware', severity: 'High', external_id: 'n-1' } })
  t.equal(fresh.status, 201)

  const alertOf = async (eventId: number) => {
    const res = await inject(app, { method: 'GET', url: '/api/alerts/?page_size=100', headers: admin.auth })
    return res.body.results.find((a: { event: number }) => a.event === eventId)
  }
  const expiredAlert = await alertOf(expired.ids[0])
  const keptAlert = await alertOf(kept.ids[0])
  const incident = await inject(app, { method: 'POST', url: '/api/incidents/', headers: admin.auth, payload: { title: 'Old intrusion', severity: 'High' } })
  t.equal(incident.status, 201)
  for (const alert of [expiredAlert.id, keptAlert.id]) {
    const link = await inject(app, { method: 'POST', url: `/api/incidents/${incident.body.id}/alerts/`, headers: admin.auth, payload: { alert_ids: [alert] } })
    t.ok(link.status < 300, `alert ${alert} linked`)
  }

  await app.maintain()

  const names = (await eventPartitions(app.db)).map((p) => p.name)
  t.notOk(names.includes(expired.name), 'the day past retention is dropped')
  t.ok(names.includes(kept.name), 'the day within retention is kept')
  for (const id of expired.ids) {
    t.equal((await inject(app, { method: 'GET', url: `/api/events/${id}/`, headers: admin.auth })).status, 404, `expired event ${id} gone`)
  }
  t.equal((await inject(app, { method: 'GET', url: `/api/alerts/${expiredAlert.id}/`, headers: admin.auth })).status, 404, 'its alert gone')
  for (const id of [...kept.ids, fresh.body.id]) {
    t.equal((await inject(app, { method: 'GET', url: `/api/events/${id}/`, headers: admin.auth })).status, 200, `event ${id} kept`)
  }
  t.equal((await inject(app, { method: 'GET', url: `/api/alerts/${keptAlert.id}/`, headers: admin.auth })).status, 200, 'the kept alert stays')

  const inc = await inject(app, { method: 'GET', url: `/api/incidents/${incident.body.id}/`, headers: admin.auth })
  t.equal(inc.status, 200, 'the incident stays')
  t.same(inc.body.alerts.map((a: { id: number }) => a.id), [keptAlert.id], 'linked to the kept alert only')
  const trail = await inject(app, { method: 'GET', url: `/api/audit/?action=incident.alerts_expired`, headers: admin.auth })
  t.same(trail.body.results.map((r: { target_id: string; before: unknown }) => [r.target_id, r.before]), [[String(incident.body.id), { alerts: [expiredAlert.id] }]], 'the trail says which alert the incident lost')
  const dropped = await inject(app, { method: 'GET', url: `/api/audit/?action=events.expired`, headers: admin.auth })
  t.equal(dropped.body.results.length, 1)
  t.match(dropped.body.results[0], { target_id: expired.name, after: { events: 3, alerts: 3, incident_links: 1 } }, 'the trail records the dropped day')

  const [dangling] = await rowsOf<{ alerts: number; keys: number; history: number }>(
    app.db,
    sql`select (select count(*)::int from alerts a where not exists (select 1 from events e where e.id = a.event_id and e."timestamp" = a.event_timestamp)) as alerts,
               (select count(*)::int from event_keys k where not exists (select 1 from events e where e.source = k.source and e.external_id = k.external_id)) as keys,
               (select count(*)::int from alert_history h where not exists (select 1 from alerts a where a.id = h.alert_id)) as history`
  )
  t.same(dangling, { alerts: 0, keys: 0, history: 0 }, 'no alert or key refers to a dropped event, no history to a dropped alert')
  const keptHistory = await inject(app, { method: 'GET', url: `/api/alerts/${keptAlert.id}/history/`, headers: admin.auth })
  t.same(keptHistory.body.results.map((h: { action: string }) => h.action), ['linked'], "the kept alert's history stays")

  // The expired records' keys are free again: a shipper re-sending one stores it anew; the kept
  // ones are still duplicates.
  const resend = (externalId: string) =>
    inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 'old', event_type: 'intrusion', severity: 'Low', external_id: externalId } })
  t.equal((await resend('expired-1')).status, 201, 'an expired key is free')
  t.equal((await resend('kept-1')).status, 409, 'a kept key is still a duplicate')
})

t.test('without RETENTION_DAYS nothing is dropped', async (t) => {
  const app = await build(t)
  await app.ready()
  const [{ day }] = await rowsOf<{ day: string }>(app.db, sql`select to_char((now() at time zone 'UTC')::date - 400, 'YYYYMMDD') as day`)
  await app.db.execute(sql`select vigil_event_partition(${day}::date, ${day}::date + 1)`)
  await app.maintain()
  t.ok((await eventPartitions(app.db)).some((p) => p.name.startsWith(`events_p${day}_`)), 'a 400-day-old partition stays')
})
