import t from 'tap'
import { build, inject, makeRoles } from './helper.js'

t.test('smoke', async (t) => {
  const app = await build(t)
  const { admin, viewer } = await makeRoles(app)
  const r = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 's', event_type: 'intrusion', severity: 'High' } })
  t.equal(r.status, 201, JSON.stringify(r.body))
  const l = await inject(app, { method: 'GET', url: '/api/alerts?severity=Extreme', headers: viewer.auth })
  t.equal(l.status, 400); console.log(l.body)
  const l2 = await inject(app, { method: 'GET', url: '/api/alerts/', headers: viewer.auth })
  console.log(l2.body)
  const v = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 5, event_type: 'x' } })
  console.log(v.status, JSON.stringify(v.body))
})
