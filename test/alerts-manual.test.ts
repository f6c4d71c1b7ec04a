// POST /api/alerts/: an admin raises an alert by hand for an existing event that has none.
import { and, eq } from 'drizzle-orm'
import t from 'tap'
import { alerts, auditLog } from '../src/db/schema.js'
import { build, makeRoles } from './helper.js'
import { guardedInject } from './no-secrets.js'

t.test('manual alerts', async (t) => {
  const app = await build(t)
  const call = guardedInject(t, app)
  const roles = await makeRoles(app)
  const newEvent = async (severity = 'Low', source = 'ids-01') => {
    const r = await call({ method: 'POST', url: '/api/events/', headers: roles.admin.auth, payload: { source, event_type: 'anomaly', severity } })
    t.equal(r.status, 201)
    return r.body.id as number
  }
  const raise = (payload: unknown, headers: Record<string, string> = roles.admin.auth) =>
    call({ method: 'POST', url: '/api/alerts/', headers, payload: payload as object })

  t.test('role matrix: admin only, 401 before 403', async (t) => {
    const event = await newEvent()
    t.equal((await raise({ event }, {})).status, 401, 'anonymous')
    t.equal((await raise({ event }, { authorization: 'Bearer x.y.z' })).status, 401, 'bad token')
    t.equal((await raise({ event }, roles.viewer.auth)).status, 403, 'viewer')
    t.equal((await raise({ event }, roles.analyst.auth)).status, 403, 'analyst')
    t.equal((await app.db.select().from(alerts).where(eq(alerts.eventId, event))).length, 0, 'nothing created by them')
    t.equal((await raise({ event })).status, 201, 'admin')
  })

  t.test('201 with the fields copied from the event', async (t) => {
    const event = await newEvent('Medium', 'edr-7')
    const r = await raise({ event })
    t.equal(r.status, 201)
    t.match(r.body, { event, status: 'Open', severity: 'Medium', event_type: 'anomaly', source: 'edr-7' })
    t.same(Object.keys(r.body).sort(), [
      'acknowledged_at', 'assignee', 'created_at', 'detections', 'event', 'event_type', 'fingerprint', 'first_seen', 'id', 'last_seen', 'occurrences', 'previous_alert',
      'reason', 'resolved_at', 'severity', 'source', 'status', 'tags', 'updated_at', 'verdict', 'version'
    ])
    const got = await call({ method: 'GET', url: `/api/alerts/${r.body.id}/`, headers: roles.viewer.auth })
    t.same(got.body, r.body, 'everyone reads it like any alert')
    const [entry] = await app.db.select().from(auditLog).where(and(eq(auditLog.action, 'alert.created'), eq(auditLog.targetId, String(r.body.id))))
    t.match(entry, { actorId: roles.admin.user.id, targetType: 'alert', after: { event, status: 'Open' } })

    const acked = await raise({ event: await newEvent(), status: 'Acknowledged' })
    t.equal(acked.status, 201)
    t.equal(acked.body.status, 'Acknowledged')
  })

  t.test('404 without the event, 409 when it already has an alert', async (t) => {
    const missing = await raise({ event: 987654 })
    t.equal(missing.status, 404)
    t.match(missing.body.detail, /987654/)
    const high = await newEvent('High')
    const auto = await raise({ event: high })
    t.equal(auto.status, 409, 'a High event already has its automatic alert')
    t.ok(auto.body.errors.event)
    const low = await newEvent()
    t.equal((await raise({ event: low })).status, 201)
    t.equal((await raise({ event: low })).status, 409, 'a second one')
    t.equal((await app.db.select().from(alerts).where(eq(alerts.eventId, low))).length, 1)
  })

  t.test('concurrent requests for one event: one alert', async (t) => {
    const event = await newEvent()
    const results = await Promise.all([1, 2, 3, 4].map(() => raise({ event })))
    const statuses = results.map((r) => r.status).sort()
    t.same(statuses, [201, 409, 409, 409])
    t.equal((await app.db.select().from(alerts).where(eq(alerts.eventId, event))).length, 1)
  })

  t.test('bad input: 400', async (t) => {
    const event = await newEvent()
    for (const body of [{}, { event: String(event) }, { event: 0 }, { event: -1 }, { event: 1.5 }, { event: 2 ** 60 }, { event, status: 'Closed' }, { event: null }]) {
      const r = await raise(body)
      t.equal(r.status, 400, JSON.stringify(body))
      t.type(r.body.detail, 'string')
    }
    const malformed = await call({ method: 'POST', url: '/api/alerts/', headers: { ...roles.admin.auth, 'content-type': 'application/json' }, payload: '{"event":' })
    t.equal(malformed.status, 400)
    t.equal((await app.db.select().from(alerts).where(eq(alerts.eventId, event))).length, 0)
  })
})
