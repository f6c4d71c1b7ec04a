// Suppressions at ingestion (issue 12): an event a suppression matches is stored, flagged with
// it, and raises no alert, through REST and bulk; the suppression counts its hits; once it has
// expired, the same events raise alerts again; a suppressed event never folds into a grouped alert.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, eventually, inject, makeUser, type TestUser } from './helper.js'

const ndjson = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n'
const later = (ms: number) => new Date(Date.now() + ms).toISOString()

const post = (app: FastifyInstance, by: TestUser, payload: Record<string, unknown>) =>
  inject(app, { method: 'POST', url: '/api/events/', headers: by.auth, payload: { event_type: 'intrusion', severity: 'High', ...payload } })
const bulk = (app: FastifyInstance, by: TestUser, records: Record<string, unknown>[]) =>
  inject(app, {
    method: 'POST',
    url: '/api/events/bulk',
    headers: { ...by.auth, 'content-type': 'application/x-ndjson' },
    payload: ndjson(records.map((r) => ({ event_type: 'intrusion', severity: 'High', ...r })))
  })
const alertCount = async (app: FastifyInstance, by: TestUser, source: string) =>
  (await inject(app, { method: 'GET', url: `/api/alerts/?source=${source}`, headers: by.auth })).body.count

t.test('a matching event is stored, flagged, and raises no alert; hits are counted', async (t) => {
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  const s = await inject(app, {
    method: 'POST',
    url: '/api/suppressions/',
    headers: admin.auth,
    payload: { source: 'scanner-01', fields: { 'scan.profile': 'weekly' }, reason: 'Authorised weekly scan', expires_at: later(3600_000) }
  })
  t.equal(s.status, 201)
  await eventually(async () => app.suppressions.active, 5000)

  const held = await post(app, admin, { source: 'scanner-01', attributes: { scan: { profile: 'weekly' } } })
  t.equal(held.status, 201, 'stored')
  t.equal(held.body.suppression, s.body.id, 'flagged with the suppression')
  const other = await post(app, admin, { source: 'scanner-01', attributes: { scan: { profile: 'ad-hoc' } } })
  t.equal(other.body.suppression, null, 'a field that differs: not held back')
  const r = await bulk(app, admin, [
    { source: 'scanner-01', attributes: { 'scan.profile': 'weekly' } },
    { source: 'scanner-01', attributes: { scan: { profile: 'weekly' } } },
    { source: 'fw-1' }
  ])
  t.equal(r.body.accepted, 3)
  t.equal(await alertCount(app, admin, 'scanner-01'), 1, 'only the event that did not match raised an alert')
  t.equal(await alertCount(app, admin, 'fw-1'), 1)
  const flagged = await inject(app, { method: 'GET', url: '/api/events/?source=scanner-01', headers: admin.auth })
  t.same(flagged.body.results.map((e: any) => e.suppression).sort(), [null, s.body.id, s.body.id, s.body.id].sort(), 'every matching event is kept, flagged')

  t.ok(await eventually(async () => (await inject(app, { method: 'GET', url: `/api/suppressions/${s.body.id}/`, headers: admin.auth })).body.hits === 3, 5000), 'three hits')
  const got = await inject(app, { method: 'GET', url: `/api/suppressions/${s.body.id}/`, headers: admin.auth })
  t.ok(got.body.last_hit_at)
})

t.test('an expired suppression stops applying, without a restart', async (t) => {
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  const s = await inject(app, { method: 'POST', url: '/api/suppressions/', headers: admin.auth, payload: { source: 'noisy', reason: 'Change window', expires_at: later(1500) } })
  t.equal(s.status, 201)
  await eventually(async () => app.suppressions.active, 5000)
  const during = await post(app, admin, { source: 'noisy' })
  t.equal(during.body.suppression, s.body.id)
  const subject = { source: 'noisy', eventType: 'intrusion' as const, severity: 'High' as const, ruleIds: [], field: () => undefined }
  t.ok(await eventually(async () => app.suppressions.match(subject) === null, 5000), 'expired')
  const after = await post(app, admin, { source: 'noisy' })
  t.equal(after.body.suppression, null)
  t.equal(await alertCount(app, admin, 'noisy'), 1, 'the event after expiry raised its alert')

  // Ending one by hand works the same way.
  const e = await inject(app, { method: 'POST', url: '/api/suppressions/', headers: admin.auth, payload: { source: 'noisy', reason: 'again', expires_at: later(3600_000) } })
  await eventually(async () => (await post(app, admin, { source: 'noisy', severity: 'Low' })).body.suppression === e.body.id, 5000)
  t.equal((await inject(app, { method: 'DELETE', url: `/api/suppressions/${e.body.id}/`, headers: admin.auth })).status, 204)
  t.ok(await eventually(async () => (await post(app, admin, { source: 'noisy', severity: 'Low' })).body.suppression === null, 5000), 'ended: no longer applies')
})

t.test('with grouping on, a suppressed repeat does not fold into the open alert', async (t) => {
  const app = await build(t, { ALERT_GROUPING: true })
  const admin = await makeUser(app, 'admin')
  await post(app, admin, { source: 'edr-1', attributes: { host: 'a' } })
  const s = await inject(app, { method: 'POST', url: '/api/suppressions/', headers: admin.auth, payload: { source: 'edr-1', fields: { host: 'b' }, reason: 'lab host', expires_at: later(3600_000) } })
  await eventually(async () => app.suppressions.active, 5000)
  await bulk(app, admin, [{ source: 'edr-1', attributes: { host: 'a' } }, { source: 'edr-1', attributes: { host: 'b' } }])
  const [alert] = (await inject(app, { method: 'GET', url: '/api/alerts/?source=edr-1', headers: admin.auth })).body.results
  t.equal(alert.occurrences, 2, 'the held-back event is not a repeat')
  const events = await inject(app, { method: 'GET', url: `/api/alerts/${alert.id}/events/`, headers: admin.auth })
  t.equal(events.body.count, 2)
  t.notOk(events.body.results.some((e: any) => e.suppression === s.body.id))
})

t.test("a correlation's firing is held back by a suppression of its rule, and counted", async (t) => {
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  const analyst = await makeUser(app, 'analyst')
  const rules = `title: SSH login failure
name: ssh_failed
level: low
logsource: {product: linux, service: sshd}
detection:
  keywords: ['Failed password']
  condition: keywords
---
title: SSH brute force
id: 55555555-5555-4555-8555-555555555555
level: high
correlation:
  type: event_count
  rules: [ssh_failed]
  group-by: [source.ip]
  timespan: 10m
  condition: {gte: 3}
`
  const model = await inject(app, { method: 'POST', url: '/api/models/', headers: analyst.auth, payload: { name: 'brute', model_type: 'sigma', definition: rules } })
  t.equal(model.status, 201)
  await eventually(async () => app.detector.models.some((m) => m.ref.id === model.body.id), 5000)
  const s = await inject(app, {
    method: 'POST',
    url: '/api/suppressions/',
    headers: admin.auth,
    payload: { rule_id: '55555555-5555-4555-8555-555555555555', fields: { 'source.ip': '192.0.2.50' }, reason: 'pentest', expires_at: later(3600_000) }
  })
  t.equal(s.status, 201)
  await eventually(async () => app.suppressions.active, 5000)
  const line = (ip: string, i: number) => ({
    source: 'bastion-01',
    event_type: 'intrusion',
    severity: 'Low',
    logsource: { product: 'linux', service: 'sshd' },
    ts: new Date().toISOString(),
    msg: `${new Date().toISOString()} bastion-01 sshd[${1000 + i}]: Failed password for root from ${ip} port ${40000 + i} ssh2`,
    host: 'bastion-01'
  })
  await bulk(app, admin, [0, 1, 2].map((i) => line('192.0.2.50', i)))
  await bulk(app, admin, [3, 4, 5].map((i) => line('198.51.100.4', i)))
  const firings = async () =>
    (await inject(app, { method: 'GET', url: '/api/events/?source=bastion-01&severity=High', headers: admin.auth })).body.results
  t.ok(await eventually(async () => (await firings()).length === 2, 10_000), 'both groups fired')
  const held = (await firings()).find((e: any) => e.suppression !== null)
  t.equal(held?.suppression, s.body.id, 'the pentester’s group is flagged')
  const alerts = (await inject(app, { method: 'GET', url: `/api/alerts/?model=${model.body.id}`, headers: admin.auth })).body.results
  t.equal(alerts.length, 1, 'only the other group raised an alert')
  t.ok(await eventually(async () => (await inject(app, { method: 'GET', url: `/api/suppressions/${s.body.id}/`, headers: admin.auth })).body.hits === 1, 5000), 'one hit')
})
