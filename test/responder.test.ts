// The responder role (issue 12, "Who may triage"): between analyst and admin. A responder triages
// alerts (changes their status, audited as theirs) and works incidents as analysts do; everything
// else stays the admin's. Users can be made responders through the API.
import { and, eq } from 'drizzle-orm'
import t from 'tap'
import { auditLog } from '../src/db/schema.js'
import { build, inject, makeRoles, makeUser } from './helper.js'

t.test('a responder triages alerts and works incidents, and nothing more', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const responder = await makeUser(app, 'responder')
  const ev = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 'fw-1', event_type: 'intrusion', severity: 'High' } })
  const [alert] = (await inject(app, { method: 'GET', url: '/api/alerts/', headers: responder.auth })).body.results
  t.equal(alert.event, ev.body.id, 'reads the alert queue')

  const ack = await inject(app, { method: 'PATCH', url: `/api/alerts/${alert.id}/`, headers: responder.auth, payload: { status: 'Acknowledged' } })
  t.equal(ack.status, 200)
  t.equal(ack.body.status, 'Acknowledged')
  const [entry] = await app.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.action, 'alert.status_changed'), eq(auditLog.targetId, String(alert.id))))
  t.equal(entry.actorId, responder.user.id, "the change is audited as the responder's")

  const inc = await inject(app, { method: 'POST', url: '/api/incidents/', headers: responder.auth, payload: { title: 'Port scan', severity: 'High', alert_ids: [alert.id] } })
  t.equal(inc.status, 201, 'opens an incident with the alert')

  for (const [method, url, payload] of [
    ['POST', '/api/alerts/', { event: ev.body.id }],
    ['POST', '/api/events/', { source: 'x', event_type: 'intrusion', severity: 'Low' }],
    ['DELETE', `/api/incidents/${inc.body.id}/`, undefined],
    ['GET', '/api/users/', undefined],
    ['POST', '/api/models/', { name: 'm', model_type: 'sigma', definition: 'x' }]
  ] as const) {
    const r = await inject(app, { method, url, headers: responder.auth, payload })
    t.equal(r.status, 403, `${method} ${url}: 403`)
    t.equal(r.body.code, 'permission_denied')
  }

  const made = await inject(app, { method: 'POST', url: '/api/users/', headers: admin.auth, payload: { username: 'resp2', password: 'a-long-enough-password', role: 'responder' } })
  t.equal(made.status, 201)
  t.equal(made.body.role, 'responder', 'an admin makes responders')
})
