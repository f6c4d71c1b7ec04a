// The roles of the events and alerts API on real data: each role a route admits gets the real
// answer on a record that exists. Who is refused, and with which status and body, is
// test/authz-matrix.test.ts (every route x every caller).
import t from 'tap'
import { build, inject, makeRoles } from './helper.js'

t.test('events and alerts role matrix', async (t) => {
  const app = await build(t)
  const roles = await makeRoles(app)
  const seed = async () => {
    const ev = await inject(app, {
      method: 'POST',
      url: '/api/events/',
      headers: roles.admin.auth,
      payload: { source: 'seed', event_type: 'malware', severity: 'Critical' }
    })
    const al = await inject(app, { method: 'GET', url: `/api/alerts/?source=seed`, headers: roles.admin.auth })
    return { eventId: ev.body.id as number, alertId: al.body.results[0].id as number }
  }
  const event = { source: 'm', event_type: 'anomaly', severity: 'Low' }

  type Row = [string, string, (ids: { eventId: number; alertId: number }) => string, unknown, Record<string, number>]
  const matrix: Row[] = [
    ['list events', 'GET', () => '/api/events/', undefined, { admin: 200 }],
    ['get event', 'GET', (i) => `/api/events/${i.eventId}/`, undefined, { admin: 200 }],
    ['create event', 'POST', () => '/api/events/', event, { admin: 201 }],
    ['replace event', 'PUT', (i) => `/api/events/${i.eventId}/`, event, { admin: 200 }],
    ['update event', 'PATCH', (i) => `/api/events/${i.eventId}/`, { description: 'x' }, { admin: 200 }],
    ['delete event', 'DELETE', (i) => `/api/events/${i.eventId}/`, undefined, { admin: 204 }],
    ['list alerts', 'GET', () => '/api/alerts/', undefined, { admin: 200, analyst: 200, viewer: 200 }],
    ['get alert', 'GET', (i) => `/api/alerts/${i.alertId}/`, undefined, { admin: 200, analyst: 200, viewer: 200 }],
    ['change alert status', 'PATCH', (i) => `/api/alerts/${i.alertId}/`, { status: 'Acknowledged' }, { admin: 200 }]
  ]

  for (const [name, method, url, payload, expected] of matrix) {
    for (const [who, status] of Object.entries(expected)) {
      const ids = await seed()
      const res = await inject(app, { method: method as any, url: url(ids), headers: roles[who as keyof typeof roles].auth, payload: payload as any })
      t.equal(res.status, status, `${name} as ${who}`)
    }
  }
})
