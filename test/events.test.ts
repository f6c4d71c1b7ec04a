// Events API: CRUD for admins, alert generation in the same transaction, cascade delete,
// per-field validation.
import t from 'tap'
import { eq, sql } from 'drizzle-orm'
import { alertHistory, alerts, events } from '../src/db/schema.js'
import { build, inject, makeRoles } from './helper.js'

const sample = { source: 'fw-edge-01', event_type: 'intrusion', severity: 'Low', description: 'port scan' }

t.test('events CRUD by an admin', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const created = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: sample })
  t.equal(created.status, 201)
  t.match(created.body, { ...sample, id: Number })
  t.ok(Date.parse(created.body.timestamp), 'the server sets the timestamp')

  const id = created.body.id
  for (const url of [`/api/events/${id}/`, `/api/events/${id}`]) {
    const got = await inject(app, { method: 'GET', url, headers: admin.auth })
    t.equal(got.status, 200, url)
    t.same(got.body, created.body)
  }

  const put = await inject(app, {
    method: 'PUT',
    url: `/api/events/${id}/`,
    headers: admin.auth,
    payload: { source: 'ids-2', event_type: 'malware', severity: 'Medium', description: 'replaced' }
  })
  t.equal(put.status, 200)
  t.match(put.body, { id, source: 'ids-2', event_type: 'malware', severity: 'Medium', description: 'replaced' })
  t.equal(put.body.timestamp, created.body.timestamp, 'an update keeps the stored timestamp')

  const putPartial = await inject(app, { method: 'PUT', url: `/api/events/${id}/`, headers: admin.auth, payload: { severity: 'Low' } })
  t.equal(putPartial.status, 400, 'PUT needs every required field')
  t.ok(putPartial.body.errors.source)

  const patch = await inject(app, { method: 'PATCH', url: `/api/events/${id}/`, headers: admin.auth, payload: { description: 'patched' } })
  t.equal(patch.status, 200)
  t.equal(patch.body.description, 'patched')
  t.equal(patch.body.source, 'ids-2', 'PATCH leaves other fields alone')

  const del = await inject(app, { method: 'DELETE', url: `/api/events/${id}/`, headers: admin.auth })
  t.equal(del.status, 204)
  t.equal(del.raw.body, '')
  const gone = await inject(app, { method: 'GET', url: `/api/events/${id}/`, headers: admin.auth })
  t.equal(gone.status, 404)
  t.same(gone.body, { code: 'not_found', detail: 'Not found.' })
  const again = await inject(app, { method: 'DELETE', url: `/api/events/${id}/`, headers: admin.auth })
  t.equal(again.status, 404)
})

t.test('unknown and malformed ids', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  for (const method of ['GET', 'PUT', 'PATCH', 'DELETE'] as const) {
    const payload = method === 'GET' || method === 'DELETE' ? undefined : sample
    const missing = await inject(app, { method, url: '/api/events/999999/', headers: admin.auth, payload })
    t.equal(missing.status, 404, `${method} unknown id`)
    for (const bad of ['abc', '0', '-1', '1.5', '99999999999999999999999']) {
      const res = await inject(app, { method, url: `/api/events/${bad}/`, headers: admin.auth, payload })
      t.equal(res.status, 400, `${method} id ${bad}`)
      t.type(res.body.detail, 'string')
    }
  }
})

t.test('alert generation', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const make = async (severity: string) =>
    (await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { ...sample, severity } })).body
  const alertsFor = (eventId: number) => app.db.select().from(alerts).where(eq(alerts.eventId, eventId))

  for (const severity of ['High', 'Critical']) {
    const e = await make(severity)
    const rows = await alertsFor(e.id)
    t.equal(rows.length, 1, `${severity} raises exactly one alert`)
    t.match(rows[0], { status: 'Open', severity, eventType: 'intrusion', source: 'fw-edge-01' })
  }
  for (const severity of ['Low', 'Medium']) {
    const e = await make(severity)
    t.equal((await alertsFor(e.id)).length, 0, `${severity} raises none`)
  }

  const low = await make('Low')
  const up = await inject(app, { method: 'PATCH', url: `/api/events/${low.id}/`, headers: admin.auth, payload: { severity: 'High' } })
  t.equal(up.status, 200)
  t.equal((await alertsFor(low.id)).length, 1, 'raising to High creates the missing alert')
  await inject(app, { method: 'PATCH', url: `/api/events/${low.id}/`, headers: admin.auth, payload: { severity: 'Critical' } })
  const after = await alertsFor(low.id)
  t.equal(after.length, 1, 'a second raise creates no second alert')
  t.equal(after[0].severity, 'Critical', "the alert's copy of the severity follows the event")
  await inject(app, { method: 'PUT', url: `/api/events/${low.id}/`, headers: admin.auth, payload: { ...sample, source: 'moved', severity: 'High' } })
  t.match((await alertsFor(low.id))[0], { source: 'moved', severity: 'High' }, 'PUT keeps the copies in step')

  // Concurrent updates of one event to High still leave exactly one alert.
  const race = await make('Medium')
  await Promise.all(
    Array.from({ length: 5 }, () =>
      inject(app, { method: 'PATCH', url: `/api/events/${race.id}/`, headers: admin.auth, payload: { severity: 'High' } })
    )
  )
  t.equal((await alertsFor(race.id)).length, 1, 'concurrent raises create one alert')
})

t.test("deleting an event deletes its alerts (cascade) and their history", async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const e = (await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { ...sample, severity: 'Critical' } })).body
  const other = (await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { ...sample, severity: 'High' } })).body
  const [alert] = await app.db.select().from(alerts).where(eq(alerts.eventId, e.id))
  t.ok(alert)
  await inject(app, { method: 'POST', url: `/api/alerts/${alert.id}/comments/`, headers: admin.auth, payload: { body: 'seen' } })
  const [kept] = await app.db.select().from(alerts).where(eq(alerts.eventId, other.id))
  const historyOf = async (id: number) => (await app.db.select().from(alertHistory).where(eq(alertHistory.alertId, id)).orderBy(alertHistory.id)).map((h) => h.action)
  t.same(await historyOf(alert.id), ['raised', 'commented'])
  t.equal((await inject(app, { method: 'DELETE', url: `/api/events/${e.id}/`, headers: admin.auth })).status, 204)
  t.equal((await app.db.select().from(alerts).where(eq(alerts.id, alert.id))).length, 0)
  t.same(await historyOf(alert.id), [], 'its history goes with it')
  t.same(await historyOf(kept.id), ['raised'], "another alert's stays")
  const viaApi = await inject(app, { method: 'GET', url: `/api/alerts/${alert.id}/`, headers: admin.auth })
  t.equal(viaApi.status, 404)
})

t.test('validation errors name each field', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const before = await app.db.select().from(events)

  const bad = await inject(app, {
    method: 'POST',
    url: '/api/events/',
    headers: admin.auth,
    payload: { source: '', event_type: 'virus', severity: 'Extreme', description: 'x'.repeat(10_001) }
  })
  t.equal(bad.status, 400)
  t.match(bad.body.errors, {
    source: [/blank/],
    event_type: ['"virus" is not a valid choice. Allowed values: intrusion, malware, anomaly.'],
    severity: ['"Extreme" is not a valid choice. Allowed values: Low, Medium, High, Critical.'],
    description: [/no more than 10000 characters/]
  })

  const missing = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: {} })
  t.equal(missing.status, 400)
  t.same(Object.keys(missing.body.errors).sort(), ['event_type', 'severity', 'source'])
  t.same(missing.body.errors.severity, ['This field is required.'])

  const wrongTypes = await inject(app, {
    method: 'POST',
    url: '/api/events/',
    headers: admin.auth,
    payload: { source: 42, event_type: ['intrusion'], severity: { v: 'High' } }
  })
  t.equal(wrongTypes.status, 400)
  t.match(wrongTypes.body.errors, { source: [/string/] })

  const tooLong = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { ...sample, source: 's'.repeat(256) } })
  t.equal(tooLong.status, 400)
  t.ok(tooLong.body.errors.source)

  const bigAttributes = await inject(app, {
    method: 'POST',
    url: '/api/events/',
    headers: admin.auth,
    payload: { ...sample, attributes: { blob: 'x'.repeat(20_000) } }
  })
  t.equal(bigAttributes.status, 400)
  t.ok(bigAttributes.body.errors.attributes)

  const malformed = await inject(app, {
    method: 'POST',
    url: '/api/events/',
    headers: { ...admin.auth, 'content-type': 'application/json' },
    payload: '{"source": "x", '
  })
  t.equal(malformed.status, 400)
  t.equal(malformed.body.detail, 'Malformed JSON body.')

  const notJson = await inject(app, {
    method: 'POST',
    url: '/api/events/',
    headers: { ...admin.auth, 'content-type': 'application/xml' },
    payload: '<event/>'
  })
  t.equal(notJson.status, 415)
  t.type(notJson.body.detail, 'string')

  const badPatch = await inject(app, { method: 'PATCH', url: '/api/events/1/', headers: admin.auth, payload: { severity: 'Extreme' } })
  t.equal(badPatch.status, 400)

  t.same(await app.db.select().from(events), before, 'nothing was stored by the rejected requests')
})

t.test('optional forensic fields round-trip', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const res = await inject(app, {
    method: 'POST',
    url: '/api/events/',
    headers: admin.auth,
    payload: { ...sample, occurred_at: '2026-11-20T08:00:00Z', external_id: 'ext-1', attributes: { rule: 'ET SCAN', port: 22 } }
  })
  t.equal(res.status, 201)
  t.match(res.body, { occurred_at: '2026-11-20T08:00:00.000Z', external_id: 'ext-1', attributes: { rule: 'ET SCAN', port: 22 } })
  const dup = await inject(app, {
    method: 'POST',
    url: '/api/events/',
    headers: admin.auth,
    payload: { ...sample, external_id: 'ext-1' }
  })
  t.equal(dup.status, 409, 'the same (source, external_id) cannot be stored twice')
})

t.test('truncating alerts empties their history, alone or with it in one statement', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const post = () => inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { ...sample, severity: 'High' } })
  await post()
  await app.db.execute(sql`truncate alerts cascade`)
  t.equal((await app.db.select().from(alertHistory)).length, 0, 'truncate alerts: no history left behind')
  await post()
  await app.db.execute(sql`truncate alerts, alert_history cascade`)
  t.equal((await app.db.select().from(alertHistory)).length, 0, 'both in one statement')
})
