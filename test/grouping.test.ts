// Repeats grouped into one alert (issue 12): off by default (one alert per High or Critical
// event, as in the Django original); on, an event folds into the alert of its fingerprint that is
// not yet resolved, through REST and bulk alike, with its events listed; after a resolve a
// repeat opens a new alert that names the earlier one; fingerprints by record fields; per-model
// settings; and on PostgreSQL, concurrent chunks of one fingerprint make one alert.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, eventually, inject, makeUser, onPostgres, type Overrides, type TestUser } from './helper.js'

const ndjson = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n'

async function setup(t: Test, overrides: Overrides = {}) {
  const app = await build(t, overrides)
  const admin = await makeUser(app, 'admin')
  const responder = await makeUser(app, 'responder')
  return { app, admin, responder }
}

const post = (app: FastifyInstance, by: TestUser, payload: Record<string, unknown>) =>
  inject(app, { method: 'POST', url: '/api/events/', headers: by.auth, payload: { source: 'fw-1', event_type: 'intrusion', severity: 'High', ...payload } })

const bulk = (app: FastifyInstance, by: TestUser, records: Record<string, unknown>[]) =>
  inject(app, {
    method: 'POST',
    url: '/api/events/bulk',
    headers: { ...by.auth, 'content-type': 'application/x-ndjson' },
    payload: ndjson(records.map((r) => ({ source: 'fw-1', event_type: 'intrusion', severity: 'High', ...r })))
  })

const alertsOf = async (app: FastifyInstance, by: TestUser, q = '') => (await inject(app, { method: 'GET', url: `/api/alerts/?page_size=100${q}`, headers: by.auth })).body.results

t.test('off by default: every High event raises its own alert', async (t) => {
  const { app, admin } = await setup(t)
  await post(app, admin, {})
  await post(app, admin, {})
  await bulk(app, admin, [{}, {}])
  const list = await alertsOf(app, admin)
  t.equal(list.length, 4, 'one alert per event')
  t.ok(list.every((a: any) => a.occurrences === 1 && a.fingerprint === null && a.first_seen === null))
  const events = await inject(app, { method: 'GET', url: `/api/alerts/${list[0].id}/events/`, headers: admin.auth })
  t.same(events.body.results.map((e: any) => e.id), [list[0].event], 'its one event')
})

t.test('on: repeats fold into the open alert, through REST and bulk, with their events and history', async (t) => {
  const { app, admin, responder } = await setup(t, { ALERT_GROUPING: true })
  const first = await post(app, admin, {})
  await post(app, admin, {})
  // One chunk holding five repeats and two events of other fingerprints.
  const r = await bulk(app, admin, [{}, {}, { source: 'fw-2' }, {}, {}, { event_type: 'malware' }, {}])
  t.equal(r.body.accepted, 7)
  const low = await post(app, admin, { severity: 'Low' })
  const list = await alertsOf(app, admin)
  t.equal(list.length, 3, 'one alert per fingerprint; the Low event raises none')
  const [alert] = list.filter((a: any) => a.source === 'fw-1' && a.event_type === 'intrusion')
  t.equal(alert.occurrences, 7)
  t.equal(alert.event, first.body.id, 'named by its first event')
  t.ok(alert.first_seen <= alert.last_seen)
  t.match(alert.fingerprint, /^[0-9a-f]{64}$/)
  const events = await inject(app, { method: 'GET', url: `/api/alerts/${alert.id}/events/?page_size=100`, headers: admin.auth })
  t.equal(events.body.count, 7, 'all seven events listed')
  t.notOk(events.body.results.some((e: any) => e.id === low.body.id))

  const history = (await inject(app, { method: 'GET', url: `/api/alerts/${alert.id}/history/?page_size=100`, headers: admin.auth })).body.results.reverse()
  t.same(
    history.map((h: any) => [h.action, h.after.occurrences]),
    [
      ['raised', 1],
      ['repeated', 2],
      ['repeated', 7]
    ],
    'the raise, then each statement that added repeats'
  )
  t.equal(alert.version, 3, 'each fold is a change: If-Match sees it')

  // Acknowledged still takes repeats.
  await inject(app, { method: 'PATCH', url: `/api/alerts/${alert.id}/`, headers: responder.auth, payload: { status: 'Acknowledged' } })
  await post(app, admin, {})
  t.equal((await inject(app, { method: 'GET', url: `/api/alerts/${alert.id}/`, headers: admin.auth })).body.occurrences, 8)
})

t.test('after a resolve a repeat opens a new alert naming the earlier one', async (t) => {
  const { app, admin, responder } = await setup(t, { ALERT_GROUPING: true })
  await post(app, admin, {})
  await post(app, admin, {})
  const [old] = await alertsOf(app, admin)
  await inject(app, { method: 'PATCH', url: `/api/alerts/${old.id}/`, headers: responder.auth, payload: { status: 'Resolved', verdict: 'true_positive' } })
  await post(app, admin, {})
  await post(app, admin, {})
  const list = await alertsOf(app, admin)
  t.equal(list.length, 2)
  const fresh = list.find((a: any) => a.id !== old.id)
  t.equal(fresh.previous_alert, old.id, 'names the earlier one')
  t.equal(fresh.occurrences, 2)
  t.equal(fresh.fingerprint, old.fingerprint)
  t.equal(list.find((a: any) => a.id === old.id).occurrences, 2, 'the resolved one keeps its count')

  const reopen = await inject(app, { method: 'PATCH', url: `/api/alerts/${old.id}/`, headers: responder.auth, payload: { status: 'Open', reason: 'again' } })
  t.equal(reopen.status, 409, 'no reopen while a newer alert holds the repeats')
  t.match(reopen.body.detail, String(fresh.id))
})

t.test('fingerprints by record fields, and the same source and type kept apart by them', async (t) => {
  const { app, admin } = await setup(t, { ALERT_GROUPING: true, ALERT_GROUP_BY: 'source,src_ip' })
  await post(app, admin, { attributes: { src_ip: '203.0.113.7' } })
  await post(app, admin, { attributes: { src_ip: '203.0.113.7' } })
  await bulk(app, admin, [{ attributes: { src_ip: '203.0.113.8' } }, { attributes: { src_ip: '203.0.113.7' } }, {}])
  const list = await alertsOf(app, admin)
  t.same(list.map((a: any) => a.occurrences).sort(), [1, 1, 3], 'one per address, and one for none')
})

t.test('per model: grouping turned on for its alerts, or off', async (t) => {
  const { app, admin } = await setup(t)
  const analyst = await makeUser(app, 'analyst')
  const rule = (title: string, id: string, word: string) =>
    `title: ${title}\nid: ${id}\nlevel: high\nlogsource: {product: linux}\ndetection:\n  k: ['${word}']\n  condition: k\n`
  const grouped = await inject(app, {
    method: 'POST',
    url: '/api/models/',
    headers: analyst.auth,
    payload: { name: 'grouped', model_type: 'sigma', definition: rule('Sudo', '33333333-3333-4333-8333-333333333333', 'sudo failure'), group_alerts: true, group_by: ['rule', 'user'] }
  })
  t.equal(grouped.status, 201)
  t.equal(grouped.body.group_alerts, true)
  t.same(grouped.body.group_by, ['rule', 'user'])
  await eventually(async () => app.detector.groupings.has(grouped.body.id), 5000)
  const line = (user: string) => ({ source: 'host-1', severity: 'Low', logsource: { product: 'linux' }, message: `sudo failure for ${user}`, user })
  await bulk(app, admin, [line('alice'), line('alice'), line('bob'), line('alice')])
  await post(app, admin, { source: 'fw-9' })
  await post(app, admin, { source: 'fw-9' })
  const list = await alertsOf(app, admin)
  const byModel = list.filter((a: any) => a.detections?.[0]?.model_id === grouped.body.id)
  t.same(byModel.map((a: any) => a.occurrences).sort(), [1, 3], "the model's alerts are grouped by rule and user")
  t.equal(list.filter((a: any) => a.source === 'fw-9').length, 2, 'other events are not (grouping is off)')
  const raised = (await inject(app, { method: 'GET', url: `/api/alerts/${byModel[0].id}/history/`, headers: admin.auth })).body.results.at(-1)
  t.equal(raised.action, 'raised')
  t.equal(raised.after.detections[0].model_id, grouped.body.id, 'the raise records the detections it came with')

  // Turned off for the model while it is on for everything else.
  const { app: on, admin: admin2 } = await setup(t, { ALERT_GROUPING: true })
  const analyst2 = await makeUser(on, 'analyst')
  const off = await inject(on, {
    method: 'POST',
    url: '/api/models/',
    headers: analyst2.auth,
    payload: { name: 'ungrouped', model_type: 'sigma', definition: rule('Sudo', '44444444-4444-4444-8444-444444444444', 'sudo failure'), group_alerts: false }
  })
  await eventually(async () => on.detector.groupings.has(off.body.id), 5000)
  await bulk(on, admin2, [line('alice'), line('alice')])
  await post(on, admin2, { source: 'fw-9' })
  await post(on, admin2, { source: 'fw-9' })
  const list2 = await alertsOf(on, admin2)
  t.equal(list2.filter((a: any) => a.detections?.[0]?.model_id === off.body.id).length, 2, "the model's alerts are one per event")
  t.same(list2.filter((a: any) => a.source === 'fw-9').map((a: any) => a.occurrences), [2], 'the others are grouped')
})

// PostgreSQL only: concurrent connections.
if (onPostgres) t.test('concurrent chunks of one fingerprint make one alert with every occurrence', async (t) => {
  const { app, admin } = await setup(t, { ALERT_GROUPING: true, INGEST_BATCH_SIZE: 50 })
  const results = await Promise.all(Array.from({ length: 8 }, () => bulk(app, admin, Array.from({ length: 200 }, () => ({})))))
  t.ok(results.every((r) => r.status === 200 && r.body.accepted === 200))
  const list = await alertsOf(app, admin)
  t.equal(list.length, 1, 'one alert')
  t.equal(list[0].occurrences, 1600, 'every event counted once')
  const events = await inject(app, { method: 'GET', url: `/api/alerts/${list[0].id}/events/`, headers: admin.auth })
  t.equal(events.body.count, 1600)
})
