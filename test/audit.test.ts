// The audit trail records who changed what, when, with the values before and after; admins read
// it through /api/audit/ with filters.
import t from 'tap'
import { build, inject, makeRoles } from './helper.js'

t.test('alert status changes and failed logins are audited', async (t) => {
  const app = await build(t)
  const { admin, analyst, viewer } = await makeRoles(app)
  const ev = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 'a', event_type: 'malware', severity: 'High' } })
  const alert = (await inject(app, { method: 'GET', url: '/api/alerts/', headers: admin.auth })).body.results[0]
  t.equal(alert.event, ev.body.id)
  await inject(app, { method: 'PATCH', url: `/api/alerts/${alert.id}/`, headers: admin.auth, payload: { status: 'Acknowledged' } })
  await inject(app, { method: 'PATCH', url: `/api/alerts/${alert.id}/`, headers: admin.auth, payload: { status: 'Acknowledged' } })
  await inject(app, { method: 'PATCH', url: `/api/alerts/${alert.id}/`, headers: admin.auth, payload: { status: 'Resolved' } })
  await inject(app, { method: 'POST', url: '/api/token/', payload: { username: 'ghost', password: 'not-the-password' } })
  await inject(app, { method: 'POST', url: '/api/token/', payload: { username: analyst.user.username, password: 'not-the-password' } })

  const changes = await inject(app, { method: 'GET', url: '/api/audit/?action=alert.status_changed', headers: admin.auth })
  t.equal(changes.status, 200)
  t.equal(changes.body.count, 2, 'a PATCH that changes nothing writes no entry')
  t.match(changes.body.results[0], {
    action: 'alert.status_changed',
    actor: admin.user.username,
    actor_id: admin.user.id,
    target_type: 'alert',
    target_id: String(alert.id),
    before: { status: 'Acknowledged' },
    after: { status: 'Resolved' },
    ip: '127.0.0.1'
  })
  t.ok(Date.parse(changes.body.results[0].created_at))

  const failed = await inject(app, { method: 'GET', url: '/api/audit/?action=auth.login_failed', headers: admin.auth })
  t.equal(failed.body.count, 2)
  t.same(failed.body.results.map((r: any) => r.actor).sort(), [analyst.user.username, 'ghost'].sort())
  t.notMatch(JSON.stringify(failed.body), /not-the-password/, 'the password tried is never recorded')

  const byActor = await inject(app, { method: 'GET', url: `/api/audit/?actor=${admin.user.username.toUpperCase()}`, headers: admin.auth })
  t.equal(byActor.body.count, 2)
  const byTarget = await inject(app, { method: 'GET', url: `/api/audit/?target_type=alert&target_id=${alert.id}`, headers: admin.auth })
  t.equal(byTarget.body.count, 2)
  const future = await inject(app, { method: 'GET', url: '/api/audit/?created_after=2999-01-01', headers: admin.auth })
  t.equal(future.body.count, 0)
  t.equal((await inject(app, { method: 'GET', url: '/api/audit/?created_after=soon', headers: admin.auth })).status, 400)

  for (const [who, status] of [[analyst, 403], [viewer, 403]] as const) {
    t.equal((await inject(app, { method: 'GET', url: '/api/audit/', headers: who.auth })).status, status)
  }
  t.equal((await inject(app, { method: 'GET', url: '/api/audit/' })).status, 401)
})
