// The role matrix of the events and alerts API: every endpoint for admin, analyst, viewer and
// anonymous callers. No or bad credentials are a 401, checked before the 403 of a missing role.
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
    ['list events', 'GET', () => '/api/events/', undefined, { admin: 200, analyst: 403, viewer: 403, anonymous: 401 }],
    ['get event', 'GET', (i) => `/api/events/${i.eventId}/`, undefined, { admin: 200, analyst: 403, viewer: 403, anonymous: 401 }],
    ['create event', 'POST', () => '/api/events/', event, { admin: 201, analyst: 403, viewer: 403, anonymous: 401 }],
    ['replace event', 'PUT', (i) => `/api/events/${i.eventId}/`, event, { admin: 200, analyst: 403, viewer: 403, anonymous: 401 }],
    ['update event', 'PATCH', (i) => `/api/events/${i.eventId}/`, { description: 'x' }, { admin: 200, analyst: 403, viewer: 403, anonymous: 401 }],
    ['delete event', 'DELETE', (i) => `/api/events/${i.eventId}/`, undefined, { admin: 204, analyst: 403, viewer: 403, anonymous: 401 }],
    ['list alerts', 'GET', () => '/api/alerts/', undefined, { admin: 200, analyst: 200, viewer: 200, anonymous: 401 }],
    ['get alert', 'GET', (i) => `/api/alerts/${i.alertId}/`, undefined, { admin: 200, analyst: 200, viewer: 200, anonymous: 401 }],
    ['change alert status', 'PATCH', (i) => `/api/alerts/${i.alertId}/`, { status: 'Acknowledged' }, { admin: 200, analyst: 403, viewer: 403, anonymous: 401 }]
  ]

  for (const [name, method, url, payload, expected] of matrix) {
    for (const [who, status] of Object.entries(expected)) {
      const ids = await seed()
      const headers = who === 'anonymous' ? {} : roles[who as keyof typeof roles].auth
      const res = await inject(app, { method: method as any, url: url(ids), headers, payload: payload as any })
      t.equal(res.status, status, `${name} as ${who}`)
      if (status === 403) t.same(res.body, { code: 'permission_denied', detail: 'You do not have permission to perform this action.' })
      if (status === 401) t.same(res.body, { code: 'not_authenticated', detail: 'Authentication credentials were not provided.' })
      // The bad-token case answers 401 even where the role would be refused.
      const bad = await inject(app, { method: method as any, url: url(ids), headers: { authorization: 'Bearer x.y.z' }, payload: payload as any })
      t.equal(bad.status, 401, `${name} with a bad token`)
    }
  }
})
