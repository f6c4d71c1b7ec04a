// /api/incidents through the real app: the role matrix for every route, atomic creation, entity
// validation over HTTP, link/unlink, filters, search, pagination, audit records and cascades.
import { and, asc, count, eq } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { auditLog, incidentAlerts, incidentEntities, incidents, users } from '../src/db/schema.js'
import { build, inject, makeRoles, makeUser, type TestUser } from './helper.js'

/** Creates a High event through the API and returns the id of the alert it raised. */
async function makeAlert(app: FastifyInstance, admin: TestUser, source = 'fw-edge-01'): Promise<number> {
  const ev = await inject(app, {
    method: 'POST',
    url: '/api/events/',
    headers: admin.auth,
    payload: { source, event_type: 'intrusion', severity: 'High' }
  })
  if (ev.status !== 201) throw new Error(`event not created: ${JSON.stringify(ev.body)}`)
  const list = await inject(app, { method: 'GET', url: `/api/alerts/?source=${encodeURIComponent(source)}`, headers: admin.auth })
  const alert = list.body.results.find((a: { event: number }) => a.event === ev.body.id)
  return alert.id
}

async function createIncident(app: FastifyInstance, who: TestUser, payload: Record<string, unknown> = {}) {
  const r = await inject(app, {
    method: 'POST',
    url: '/api/incidents/',
    headers: who.auth,
    payload: { title: 'Suspicious logins', severity: 'Medium', ...payload }
  })
  if (r.status !== 201) throw new Error(`incident not created: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}

async function rowCounts(app: FastifyInstance) {
  const n = async (table: typeof incidents | typeof incidentAlerts | typeof incidentEntities | typeof auditLog) =>
    (await app.db.select({ n: count() }).from(table))[0].n
  return {
    incidents: await n(incidents),
    links: await n(incidentAlerts),
    entities: await n(incidentEntities),
    audit: await n(auditLog)
  }
}

async function auditOf(app: FastifyInstance, action: string, targetId: number) {
  return app.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.action, action), eq(auditLog.targetId, String(targetId))))
    .orderBy(asc(auditLog.id))
}

t.test('role matrix: every incident route x anonymous, viewer, analyst, admin', async (t) => {
  const app = await build(t)
  const roles = await makeRoles(app)
  const { admin } = roles
  const base = await createIncident(app, admin)
  let n = 0
  const fresh = () => createIncident(app, admin, { title: `fresh ${++n}` })

  interface Case {
    name: string
    expect: { anonymous: number; viewer: number; analyst: number; admin: number }
    /** Builds the request; called once per role so each successful call has its own target. */
    req: () => Promise<{ method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; url: string; payload?: Record<string, unknown> }>
  }
  const cases: Case[] = [
    { name: 'GET /', expect: { anonymous: 401, viewer: 200, analyst: 200, admin: 200 }, req: async () => ({ method: 'GET', url: '/api/incidents/' }) },
    {
      name: 'POST /',
      expect: { anonymous: 401, viewer: 403, analyst: 201, admin: 201 },
      req: async () => ({ method: 'POST', url: '/api/incidents/', payload: { title: 'x', severity: 'Low' } })
    },
    { name: 'GET /:id', expect: { anonymous: 401, viewer: 200, analyst: 200, admin: 200 }, req: async () => ({ method: 'GET', url: `/api/incidents/${base.id}/` }) },
    {
      name: 'PATCH /:id',
      expect: { anonymous: 401, viewer: 403, analyst: 200, admin: 200 },
      req: async () => ({ method: 'PATCH', url: `/api/incidents/${base.id}/`, payload: { status: 'Investigating' } })
    },
    {
      name: 'DELETE /:id',
      expect: { anonymous: 401, viewer: 403, analyst: 403, admin: 204 },
      req: async () => ({ method: 'DELETE', url: `/api/incidents/${(await fresh()).id}/` })
    },
    {
      name: 'POST /:id/alerts',
      expect: { anonymous: 401, viewer: 403, analyst: 200, admin: 200 },
      req: async () => ({ method: 'POST', url: `/api/incidents/${base.id}/alerts/`, payload: { alert_ids: [await makeAlert(app, admin)] } })
    },
    {
      name: 'DELETE /:id/alerts/:alert_id',
      expect: { anonymous: 401, viewer: 403, analyst: 204, admin: 204 },
      req: async () => {
        const alertId = await makeAlert(app, admin)
        const inc = await createIncident(app, admin, { alert_ids: [alertId] })
        return { method: 'DELETE', url: `/api/incidents/${inc.id}/alerts/${alertId}/` }
      }
    },
    {
      name: 'POST /:id/entities',
      expect: { anonymous: 401, viewer: 403, analyst: 201, admin: 201 },
      req: async () => ({ method: 'POST', url: `/api/incidents/${base.id}/entities/`, payload: { type: 'hostname', value: `host-${++n}` } })
    },
    {
      name: 'DELETE /:id/entities/:entity_id',
      expect: { anonymous: 401, viewer: 403, analyst: 204, admin: 204 },
      req: async () => {
        const inc = await createIncident(app, admin, { entities: [{ type: 'ip', value: '198.51.100.1' }] })
        return { method: 'DELETE', url: `/api/incidents/${inc.id}/entities/${inc.entities[0].id}/` }
      }
    }
  ]

  const who: Record<string, Record<string, string>> = {
    anonymous: {},
    viewer: roles.viewer.auth,
    analyst: roles.analyst.auth,
    admin: roles.admin.auth
  }
  for (const c of cases) {
    for (const role of ['anonymous', 'viewer', 'analyst', 'admin'] as const) {
      const req = await c.req()
      const setup = await rowCounts(app)
      const r = await inject(app, { ...req, headers: who[role] })
      t.equal(r.status, c.expect[role], `${c.name} as ${role}: ${JSON.stringify(r.body)?.slice(0, 200)}`)
      if (r.status === 401) t.equal(r.body.detail, 'Authentication credentials were not provided.')
      if (r.status === 403) t.equal(r.body.detail, 'You do not have permission to perform this action.')
      if (r.status >= 400) {
        const after = await rowCounts(app)
        t.same(after, setup, `${c.name} as ${role} changed nothing`)
      }
    }
  }

  const bad = await inject(app, { method: 'GET', url: '/api/incidents/', headers: { authorization: 'Bearer not-a-token' } })
  t.equal(bad.status, 401, 'a bad token is a 401')
})

t.test('create: 201 with linked alerts, normalised entities, created_by, defaults and an audit record', async (t) => {
  const app = await build(t)
  const { admin, analyst } = await makeRoles(app)
  const a1 = await makeAlert(app, admin)
  const a2 = await makeAlert(app, admin)
  const r = await inject(app, {
    method: 'POST',
    url: '/api/incidents/',
    headers: analyst.auth,
    payload: {
      title: '  SSH brute force  ',
      description: 'Line one\nLine two\twith a tab',
      severity: 'High',
      assignee: admin.user.id,
      alert_ids: [a2, a1],
      entities: [
        { type: 'ip', value: ' 203.0.113.7 ' },
        { type: 'domain', value: 'Evil.EXAMPLE.' },
        { type: 'file_hash', value: 'D41D8CD98F00B204E9800998ECF8427E' },
        { type: 'email', value: 'Phish@Example.COM' },
        { type: 'url', value: 'https://evil.example/Login?Next=/' },
        { type: 'user', value: 'CORP\\Alice' },
        { type: 'hostname', value: 'WS-042' },
        { type: 'other', value: 'HKLM\\Run\\updater' }
      ]
    }
  })
  t.equal(r.status, 201, JSON.stringify(r.body))
  const inc = r.body
  t.match(inc, {
    title: 'SSH brute force',
    description: 'Line one\nLine two\twith a tab',
    severity: 'High',
    status: 'Open',
    assignee: admin.user.id,
    assignee_username: admin.user.username,
    created_by: analyst.user.id,
    alert_count: 2,
    entity_count: 8
  })
  t.equal(inc.created_at, inc.updated_at)
  t.same(
    inc.alerts.map((a: { id: number }) => a.id),
    [a1, a2],
    'alerts linked together are ordered by id'
  )
  const alertView = await inject(app, { method: 'GET', url: `/api/alerts/${a1}/`, headers: analyst.auth })
  t.same(inc.alerts[0], alertView.body, 'linked alerts have the alert shape')
  t.same(
    inc.entities.map((e: { type: string; value: string }) => [e.type, e.value]),
    [
      ['ip', '203.0.113.7'],
      ['domain', 'evil.example'],
      ['file_hash', 'd41d8cd98f00b204e9800998ecf8427e'],
      ['email', 'phish@example.com'],
      ['url', 'https://evil.example/Login?Next=/'],
      ['user', 'CORP\\Alice'],
      ['hostname', 'ws-042'],
      ['other', 'HKLM\\Run\\updater']
    ]
  )
  for (const e of inc.entities) t.same(Object.keys(e).sort(), ['created_at', 'id', 'type', 'value'])

  const got = await inject(app, { method: 'GET', url: `/api/incidents/${inc.id}`, headers: analyst.auth })
  t.same(got.body, inc, 'GET returns what POST returned')

  const [audit] = await auditOf(app, 'incident.created', inc.id)
  t.ok(audit, 'incident.created audited')
  t.equal(audit.actorId, analyst.user.id)
  t.match(audit.after, { title: 'SSH brute force', severity: 'High', status: 'Open', assignee: admin.user.id, alert_ids: [a2, a1] })

  const minimal = await inject(app, { method: 'POST', url: '/api/incidents/', headers: admin.auth, payload: { title: 'm', severity: 'Low', status: 'Investigating' } })
  t.equal(minimal.status, 201)
  t.match(minimal.body, { description: '', status: 'Investigating', assignee: null, assignee_username: null, alerts: [], entities: [], created_by: admin.user.id })
})

t.test('create is atomic: one bad alert id, assignee or entity creates nothing', async (t) => {
  const app = await build(t)
  const { admin, analyst } = await makeRoles(app)
  const good = await makeAlert(app, admin)
  const inactive = await makeUser(app, 'analyst')
  await app.db.update(users).set({ isActive: false }).where(eq(users.id, inactive.user.id))
  const okEntities = [
    { type: 'ip', value: '203.0.113.7' },
    { type: 'domain', value: 'example.com' }
  ]
  const before = await rowCounts(app)

  const cases: { name: string; payload: Record<string, unknown>; field: string; message: RegExp }[] = [
    { name: 'unknown alert id', payload: { alert_ids: [good, 999999] }, field: 'alert_ids', message: /Alert 999999 does not exist/ },
    {
      name: 'invalid entity at index 2',
      payload: { alert_ids: [good], entities: [...okEntities, { type: 'ip', value: '999.1.1.1' }] },
      field: 'entities.2.value',
      message: /IPv4 or IPv6/
    },
    {
      name: 'invalid hash',
      payload: { entities: [{ type: 'file_hash', value: 'abc123' }] },
      field: 'entities.0.value',
      message: /MD5/
    },
    {
      name: 'NUL byte in an entity',
      payload: { entities: [{ type: 'other', value: 'a\u0000b' }] },
      field: 'entities.0.value',
      message: /control characters/
    },
    {
      name: 'duplicate entity after normalisation',
      payload: { entities: [{ type: 'domain', value: 'Example.com' }, { type: 'domain', value: 'example.COM.' }] },
      field: 'entities.1.value',
      message: /Duplicate of entities\.0/
    },
    { name: 'unknown entity type', payload: { entities: [{ type: 'mac', value: 'x' }] }, field: 'entities.0.type', message: /not a valid choice/ },
    { name: 'unknown assignee', payload: { alert_ids: [good], assignee: 999999 }, field: 'assignee', message: /User 999999 does not exist/ },
    { name: 'deactivated assignee', payload: { assignee: inactive.user.id }, field: 'assignee', message: /deactivated/ },
    { name: 'repeated alert id', payload: { alert_ids: [good, good] }, field: 'alert_ids', message: /duplicate/i },
    { name: 'alert id as a string', payload: { alert_ids: [String(good)] }, field: 'alert_ids.0', message: /integer/ },
    {
      name: 'too many alert ids',
      payload: { alert_ids: Array.from({ length: 501 }, (_, i) => i + 1) },
      field: 'alert_ids',
      message: /more than 500|fewer than 500|500/
    },
    {
      name: 'too many entities',
      payload: { entities: Array.from({ length: 501 }, (_, i) => ({ type: 'hostname', value: `h${i}` })) },
      field: 'entities',
      message: /500/
    },
    { name: 'blank title', payload: { title: '   ' }, field: 'title', message: /blank/ },
    { name: 'title with a control character', payload: { title: 'a\u001bb' }, field: 'title', message: /control/ },
    { name: 'title too long', payload: { title: 't'.repeat(201) }, field: 'title', message: /200/ },
    { name: 'NUL in description', payload: { description: 'x\u0000' }, field: 'description', message: /control/ },
    { name: 'unknown severity', payload: { severity: 'Extreme' }, field: 'severity', message: /Allowed values: Low, Medium, High, Critical/ },
    { name: 'unknown status', payload: { status: 'Done' }, field: 'status', message: /not a valid choice/ },
  ]
  for (const c of cases) {
    const r = await inject(app, {
      method: 'POST',
      url: '/api/incidents/',
      headers: analyst.auth,
      payload: { title: 'Atomic', severity: 'High', ...c.payload }
    })
    t.equal(r.status, 400, `${c.name}: ${JSON.stringify(r.body).slice(0, 300)}`)
    t.ok(r.body.errors?.[c.field], `${c.name}: names ${c.field}`)
    t.match((r.body.errors?.[c.field] ?? []).join(' '), c.message, `${c.name}: message`)
    t.match(r.body.detail, /\S/, `${c.name}: has a detail`)
  }
  // Several problems at once are all reported.
  const many = await inject(app, {
    method: 'POST',
    url: '/api/incidents/',
    headers: analyst.auth,
    payload: { title: 'x', severity: 'Low', assignee: 999999, alert_ids: [999998], entities: [{ type: 'email', value: 'nope' }] }
  })
  t.equal(many.status, 400)
  t.same(Object.keys(many.body.errors).sort(), ['alert_ids', 'assignee', 'entities.0.value'])

  t.same(await rowCounts(app), before, 'no incident, link, entity or audit row was written')

  // Unknown body fields are dropped (the app's Ajv uses removeAdditional): the creator cannot be forged.
  const forged = await inject(app, {
    method: 'POST',
    url: '/api/incidents/',
    headers: analyst.auth,
    payload: { title: 'Forged', severity: 'Low', created_by: admin.user.id, id: 4242, alerts: [good] }
  })
  t.equal(forged.status, 201)
  t.match(forged.body, { created_by: analyst.user.id, alerts: [] })
  t.not(forged.body.id, 4242)
})

t.test('get, patch and delete', async (t) => {
  const app = await build(t)
  const { admin, analyst, viewer } = await makeRoles(app)
  const alertId = await makeAlert(app, admin)
  const inc = await createIncident(app, analyst, { title: 'Case', alert_ids: [alertId], entities: [{ type: 'ip', value: '192.0.2.1' }] })

  t.equal((await inject(app, { method: 'GET', url: '/api/incidents/999999', headers: viewer.auth })).status, 404)
  const nonNumeric = await inject(app, { method: 'GET', url: '/api/incidents/abc', headers: viewer.auth })
  t.equal(nonNumeric.status, 400)
  t.ok(nonNumeric.body.errors.id)
  t.equal((await inject(app, { method: 'GET', url: '/api/incidents/0', headers: viewer.auth })).status, 400)

  // PATCH: only changed fields are written and audited.
  const p = await inject(app, {
    method: 'PATCH',
    url: `/api/incidents/${inc.id}/`,
    headers: analyst.auth,
    payload: { status: 'Contained', assignee: viewer.user.id, severity: 'Medium', title: 'Case' }
  })
  t.equal(p.status, 200, JSON.stringify(p.body))
  t.match(p.body, { status: 'Contained', assignee: viewer.user.id, assignee_username: viewer.user.username, severity: 'Medium', title: 'Case' })
  t.equal(p.body.alerts.length, 1, 'links survive a patch')
  t.ok(p.body.updated_at >= inc.updated_at)
  const [upd] = await auditOf(app, 'incident.updated', inc.id)
  t.same(upd.before, { status: 'Open', assignee: null }, 'before holds only changed fields (severity was already Medium)')
  t.same(upd.after, { status: 'Contained', assignee: viewer.user.id })
  t.equal(upd.actorId, analyst.user.id)

  // null unassigns.
  const un = await inject(app, { method: 'PATCH', url: `/api/incidents/${inc.id}`, headers: admin.auth, payload: { assignee: null } })
  t.equal(un.status, 200)
  t.equal(un.body.assignee, null)
  t.equal(un.body.assignee_username, null)

  // A patch that changes nothing writes nothing.
  const auditBefore = (await rowCounts(app)).audit
  const same = await inject(app, { method: 'PATCH', url: `/api/incidents/${inc.id}`, headers: admin.auth, payload: { status: 'Contained' } })
  t.equal(same.status, 200)
  t.equal(same.body.updated_at, un.body.updated_at, 'updated_at unchanged')
  t.equal((await rowCounts(app)).audit, auditBefore, 'no audit record for a no-op')
  t.equal((await inject(app, { method: 'PATCH', url: `/api/incidents/${inc.id}`, headers: admin.auth, payload: {} })).status, 200)

  // Bad patches change nothing.
  for (const payload of [{ assignee: 999999 }, { title: '' }, { title: ' ' }, { status: 'Done' }, { severity: 5 }, { description: 'a\u0007' }]) {
    const r = await inject(app, { method: 'PATCH', url: `/api/incidents/${inc.id}`, headers: admin.auth, payload })
    t.equal(r.status, 400, `PATCH ${JSON.stringify(payload)}: ${JSON.stringify(r.body)}`)
  }
  const still = await inject(app, { method: 'GET', url: `/api/incidents/${inc.id}`, headers: admin.auth })
  t.same(still.body, same.body, 'the refused patches changed nothing')
  const ignored = await inject(app, { method: 'PATCH', url: `/api/incidents/${inc.id}`, headers: admin.auth, payload: { created_by: admin.user.id, alert_ids: [] } })
  t.equal(ignored.status, 200, 'fields PATCH does not own are ignored')
  t.same(ignored.body, same.body, 'and change nothing')
  t.equal((await inject(app, { method: 'PATCH', url: '/api/incidents/999999', headers: admin.auth, payload: { status: 'Closed' } })).status, 404)

  // DELETE: the incident, its links and its entities go; the alert stays; the trail keeps them.
  const d = await inject(app, { method: 'DELETE', url: `/api/incidents/${inc.id}/`, headers: admin.auth })
  t.equal(d.status, 204)
  t.equal(d.body, undefined, 'no body')
  t.equal((await inject(app, { method: 'GET', url: `/api/incidents/${inc.id}`, headers: admin.auth })).status, 404)
  t.equal((await inject(app, { method: 'DELETE', url: `/api/incidents/${inc.id}`, headers: admin.auth })).status, 404)
  const counts = await rowCounts(app)
  t.equal(counts.links, 0)
  t.equal(counts.entities, 0)
  t.equal((await inject(app, { method: 'GET', url: `/api/alerts/${alertId}`, headers: admin.auth })).status, 200, 'the alert stays')
  const [del] = await auditOf(app, 'incident.deleted', inc.id)
  t.match(del.before, { title: 'Case', alert_ids: [alertId], entities: [{ type: 'ip', value: '192.0.2.1' }] })
  t.equal(del.actorId, admin.user.id)
})

t.test('link and unlink alerts', async (t) => {
  const app = await build(t)
  const { admin, analyst } = await makeRoles(app)
  const [a1, a2, a3] = [await makeAlert(app, admin), await makeAlert(app, admin), await makeAlert(app, admin)]
  const inc = await createIncident(app, analyst)
  const other = await createIncident(app, analyst, { alert_ids: [a3] })
  const url = `/api/incidents/${inc.id}/alerts/`

  const l1 = await inject(app, { method: 'POST', url, headers: analyst.auth, payload: { alert_ids: [a1, a2] } })
  t.equal(l1.status, 200, JSON.stringify(l1.body))
  t.same(l1.body.alerts.map((a: { id: number }) => a.id), [a1, a2])
  t.ok(l1.body.updated_at > inc.updated_at, 'linking touches updated_at')

  const l2 = await inject(app, { method: 'POST', url: url.slice(0, -1), headers: analyst.auth, payload: { alert_id: a3 } })
  t.equal(l2.status, 200)
  t.same(l2.body.alerts.map((a: { id: number }) => a.id), [a1, a2, a3], 'one alert may belong to several incidents')

  const again = await inject(app, { method: 'POST', url, headers: analyst.auth, payload: { alert_ids: [a1] } })
  t.equal(again.status, 200, 'linking an already linked alert is harmless')
  t.equal(again.body.alerts.length, 3)
  t.equal(again.body.updated_at, l2.body.updated_at, 'and changes nothing')

  const audits = await auditOf(app, 'incident.alert_linked', inc.id)
  t.same(
    audits.map((a) => a.after),
    [{ alert_ids: [a1, a2] }, { alert_ids: [a3] }]
  )

  const linksBefore = (await rowCounts(app)).links
  for (const [payload, field] of [
    [{ alert_ids: [a1, 999999] }, 'alert_ids'],
    [{}, 'non_field_errors'],
    [{ alert_ids: [a1], alert_id: a2 }, 'non_field_errors'],
    [{ alert_ids: [] }, 'alert_ids'],
    [{ alert_id: 'x' }, 'alert_id'],
    [{ alert_ids: [a1, a1] }, 'alert_ids']
  ] as const) {
    const r = await inject(app, { method: 'POST', url, headers: analyst.auth, payload })
    t.equal(r.status, 400, `link ${JSON.stringify(payload)}: ${JSON.stringify(r.body)}`)
    t.ok(r.body.errors?.[field], `names ${field}`)
  }
  t.equal((await rowCounts(app)).links, linksBefore, 'a bad link request links nothing')
  t.equal((await inject(app, { method: 'POST', url: '/api/incidents/999999/alerts/', headers: analyst.auth, payload: { alert_id: a1 } })).status, 404)

  const u = await inject(app, { method: 'DELETE', url: `${url}${a2}/`, headers: analyst.auth })
  t.equal(u.status, 204)
  const after = await inject(app, { method: 'GET', url: `/api/incidents/${inc.id}`, headers: analyst.auth })
  t.same(after.body.alerts.map((a: { id: number }) => a.id), [a1, a3])
  t.ok(after.body.updated_at > again.body.updated_at, 'unlinking touches updated_at')
  t.same((await auditOf(app, 'incident.alert_unlinked', inc.id)).map((a) => a.before), [{ alert_id: a2 }])

  const notLinked = await inject(app, { method: 'DELETE', url: `${url}${a2}`, headers: analyst.auth })
  t.equal(notLinked.status, 404)
  t.match(notLinked.body.detail, /not linked/)
  t.equal((await inject(app, { method: 'DELETE', url: `/api/incidents/${other.id}/alerts/${a1}`, headers: analyst.auth })).status, 404, 'linked elsewhere only')
  t.equal((await inject(app, { method: 'DELETE', url: `/api/incidents/999999/alerts/${a1}`, headers: analyst.auth })).status, 404)
  t.equal((await inject(app, { method: 'DELETE', url: `${url}abc`, headers: analyst.auth })).status, 400)
  t.equal((await inject(app, { method: 'GET', url: `/api/alerts/${a2}`, headers: analyst.auth })).status, 200, 'unlinked alert stays')
})

t.test('entities: add with per-type validation over HTTP, 409 for duplicates, remove', async (t) => {
  const app = await build(t)
  const { analyst } = await makeRoles(app)
  const inc = await createIncident(app, analyst)
  const other = await createIncident(app, analyst, { entities: [{ type: 'user', value: 'bob' }] })
  const url = `/api/incidents/${inc.id}/entities/`

  const ok = [
    [{ type: 'ip', value: '2001:DB8::7' }, '2001:db8::7'],
    [{ type: 'file_hash', value: 'DA39A3EE5E6B4B0D3255BFEF95601890AFD80709' }, 'da39a3ee5e6b4b0d3255bfef95601890afd80709'],
    [{ type: 'email', value: 'CEO@Example.com' }, 'ceo@example.com'],
    [{ type: 'domain', value: 'bücher.de' }, 'xn--bcher-kva.de']
  ] as const
  let last = inc.updated_at
  for (const [payload, stored] of ok) {
    const r = await inject(app, { method: 'POST', url, headers: analyst.auth, payload })
    t.equal(r.status, 201, JSON.stringify(r.body))
    t.match(r.body, { type: payload.type, value: stored })
    t.same(Object.keys(r.body).sort(), ['created_at', 'id', 'type', 'value'])
    const now = (await inject(app, { method: 'GET', url: `/api/incidents/${inc.id}`, headers: analyst.auth })).body.updated_at
    t.ok(now > last, 'adding an entity touches updated_at')
    last = now
  }
  const [added] = await auditOf(app, 'incident.entity_added', inc.id)
  t.match(added.after, { type: 'ip', value: '2001:db8::7' })

  const dup = await inject(app, { method: 'POST', url, headers: analyst.auth, payload: { type: 'file_hash', value: 'da39a3ee5e6b4b0d3255bfef95601890afd80709' } })
  t.equal(dup.status, 409, 'same type and value (after normalisation) on one incident')
  t.ok(dup.body.errors.value)
  const sameValueOtherType = await inject(app, { method: 'POST', url, headers: analyst.auth, payload: { type: 'other', value: 'ceo@example.com' } })
  t.equal(sameValueOtherType.status, 201, 'the same value under another type is another entity')
  const sameOnOther = await inject(app, { method: 'POST', url: `/api/incidents/${other.id}/entities`, headers: analyst.auth, payload: { type: 'ip', value: '2001:db8::7' } })
  t.equal(sameOnOther.status, 201, 'the same entity on another incident is fine')

  const entitiesBefore = (await rowCounts(app)).entities
  for (const payload of [
    { type: 'ip', value: '10.0.0.256' },
    { type: 'domain', value: 'no_underscores.example' },
    { type: 'hostname', value: 'bad host' },
    { type: 'url', value: 'javascript:alert(1)' },
    { type: 'email', value: 'a@b' },
    { type: 'file_hash', value: 'xyz' },
    { type: 'user', value: 'u'.repeat(257) },
    { type: 'other', value: 'bell\u0007' }
  ]) {
    const r = await inject(app, { method: 'POST', url, headers: analyst.auth, payload })
    t.equal(r.status, 400, `${payload.type} ${JSON.stringify(payload.value).slice(0, 40)}: ${JSON.stringify(r.body)}`)
    t.ok(r.body.errors?.value, 'names value')
  }
  for (const payload of [{ type: 'mac', value: 'x' }, { type: 'ip' }, { value: '1.2.3.4' }, { type: 'ip', value: 7 }, { type: 'other', value: 'o'.repeat(2049) }]) {
    const r = await inject(app, { method: 'POST', url, headers: analyst.auth, payload })
    t.equal(r.status, 400, `schema refuses ${JSON.stringify(payload).slice(0, 60)}`)
  }
  t.equal((await rowCounts(app)).entities, entitiesBefore, 'refused entities were not stored')
  t.equal((await inject(app, { method: 'POST', url: '/api/incidents/999999/entities', headers: analyst.auth, payload: { type: 'ip', value: '1.2.3.4' } })).status, 404)

  const entityOfOther = other.entities[0].id
  const cross = await inject(app, { method: 'DELETE', url: `${url}${entityOfOther}/`, headers: analyst.auth })
  t.equal(cross.status, 404, "another incident's entity cannot be removed through this one")
  const otherNow = await inject(app, { method: 'GET', url: `/api/incidents/${other.id}`, headers: analyst.auth })
  t.equal(otherNow.body.entities.length, 2, 'and it is still there')

  const mine = (await inject(app, { method: 'GET', url: `/api/incidents/${inc.id}`, headers: analyst.auth })).body
  const target = mine.entities[0]
  const rm = await inject(app, { method: 'DELETE', url: `${url}${target.id}`, headers: analyst.auth })
  t.equal(rm.status, 204)
  const afterRm = (await inject(app, { method: 'GET', url: `/api/incidents/${inc.id}`, headers: analyst.auth })).body
  t.notOk(afterRm.entities.some((e: { id: number }) => e.id === target.id))
  t.ok(afterRm.updated_at > mine.updated_at, 'removing an entity touches updated_at')
  t.equal((await inject(app, { method: 'DELETE', url: `${url}${target.id}`, headers: analyst.auth })).status, 404, 'already removed')
  const [removed] = await auditOf(app, 'incident.entity_removed', inc.id)
  t.match(removed.before, { entity_id: target.id, type: target.type, value: target.value })
})

t.test('list: filters, search, pagination, order and per-incident alerts and entities', async (t) => {
  const app = await build(t)
  const { admin, analyst, viewer } = await makeRoles(app)
  const a1 = await makeAlert(app, admin)
  const a2 = await makeAlert(app, admin)
  const specs = [
    { title: 'Ransomware on FILESRV-01', severity: 'Critical', status: 'Investigating', assignee: analyst.user.id, alert_ids: [a1] },
    { title: 'Phishing wave', severity: 'High', status: 'Open', entities: [{ type: 'email', value: 'x@evil.example' }] },
    { title: 'phishing follow-up', severity: 'Medium', status: 'Closed', assignee: analyst.user.id, alert_ids: [a1, a2] },
    { title: '100% CPU on db_01', severity: 'Low', status: 'Open', assignee: admin.user.id },
    { title: 'Disk 100x slower', severity: 'Low', status: 'Resolved' }
  ]
  const created = []
  for (const s of specs) created.push(await createIncident(app, analyst, s))
  const ids = (body: { results: { id: number }[] }) => body.results.map((r) => r.id)
  const list = async (qs: string) => {
    const r = await inject(app, { method: 'GET', url: `/api/incidents/${qs}`, headers: viewer.auth })
    t.equal(r.status, 200, `${qs}: ${JSON.stringify(r.body).slice(0, 200)}`)
    return r.body
  }
  const [ransom, phish, follow, cpu, disk] = created.map((c) => c.id)

  const all = await list('')
  t.equal(all.count, 5)
  t.same(ids(all), [disk, cpu, follow, phish, ransom], 'newest first')
  const byId = new Map(all.results.map((r: { id: number }) => [r.id, r]))
  t.same((byId.get(follow) as any).alerts.map((a: { id: number }) => a.id), [a1, a2], 'each incident carries its own alerts')
  t.same((byId.get(ransom) as any).alerts.map((a: { id: number }) => a.id), [a1])
  t.same((byId.get(phish) as any).entities.map((e: { value: string }) => e.value), ['x@evil.example'])
  t.same((byId.get(cpu) as any).alerts, [])
  t.equal((byId.get(cpu) as any).assignee_username, admin.user.username)

  const check = async (qs: string, expected: number[]) => {
    const body = await list(qs)
    t.same(ids(body), expected, qs)
    t.equal(body.count, expected.length, `${qs}: count follows the filter`)
  }
  await check('?status=Open', [cpu, phish])
  await check('?severity=Low', [disk, cpu])
  await check(`?assignee=${analyst.user.id}`, [follow, ransom])
  await check(`?assignee=${viewer.user.id}`, [])
  await check('?search=PHISH', [follow, phish])
  await check('?search=phishing%20wave', [phish])
  await check('?search=100%25', [cpu])
  await check('?search=db_01', [cpu])
  await check('?search=db%5F', [cpu])
  await check('?search=d_', [])
  await check('?search=%25', [cpu])
  await check('?search=_', [cpu])
  await check('?search=%5C', [])
  await check(`?status=Open&severity=Low&assignee=${admin.user.id}&search=cpu`, [cpu])
  await check('?status=Closed&severity=High', [])

  for (const qs of ['?status=Done', '?severity=Extreme', '?assignee=abc', '?assignee=0', '?search=', '?search=%00', '?search=a%1Bb', `?search=${'s'.repeat(201)}`, '?page=0', '?page_size=101']) {
    const r = await inject(app, { method: 'GET', url: `/api/incidents/${qs}`, headers: viewer.auth })
    t.equal(r.status, 400, `${qs} is a 400`)
  }
  const badEnum = await inject(app, { method: 'GET', url: '/api/incidents/?status=Done', headers: viewer.auth })
  t.match(badEnum.body.errors.status[0], /Open, Investigating, Contained, Resolved, Closed/)

  // Pagination over 25 incidents (5 above + 20 inserted in one statement, so they share
  // created_at and only the id tie-breaker orders them).
  await app.db.insert(incidents).values(Array.from({ length: 20 }, (_, i) => ({ title: `bulk ${i}`, severity: 'Low' as const })))
  const p1 = await list('?page_size=10')
  t.equal(p1.count, 25)
  t.equal(p1.results.length, 10)
  t.equal(p1.previous, null)
  t.match(p1.next, /^http:\/\/[^/]+\/api\/incidents\/\?page_size=10&cursor=[\w-]+$/)
  const p2 = await list('?page_size=10&page=2')
  t.match(p2.previous, /\/api\/incidents\/\?page_size=10$/)
  t.same(ids(await list(new URL(p1.next).search)), ids(p2), 'the cursor link leads to page 2')
  const p3 = await list('?page_size=10&page=3')
  t.equal(p3.results.length, 5)
  t.equal(p3.next, null)
  const walked = [...ids(p1), ...ids(p2), ...ids(p3)]
  t.equal(new Set(walked).size, 25, 'no incident twice, none missing')
  const bulkIds = walked.filter((id) => id > disk)
  t.same(bulkIds, [...bulkIds].sort((a, b) => b - a), 'equal created_at: newest id first')
  t.same(walked.slice(-5), [disk, cpu, follow, phish, ransom])
  t.equal((await inject(app, { method: 'GET', url: '/api/incidents/?page=4&page_size=10', headers: viewer.auth })).status, 404, 'past the last page')
  const filteredPage = await list('?severity=Low&page_size=2&page=2')
  t.equal(filteredPage.count, 22, 'the count of a filtered page is the filtered total')
})

t.test('cascade: deleting an event deletes its alert and the link; the incident remains', async (t) => {
  const app = await build(t)
  const { admin, analyst } = await makeRoles(app)
  const keep = await makeAlert(app, admin, 'keep-src')
  const gone = await makeAlert(app, admin, 'gone-src')
  const inc = await createIncident(app, analyst, { alert_ids: [keep, gone], entities: [{ type: 'ip', value: '192.0.2.9' }] })
  const eventId = (await inject(app, { method: 'GET', url: `/api/alerts/${gone}`, headers: admin.auth })).body.event
  const del = await inject(app, { method: 'DELETE', url: `/api/events/${eventId}/`, headers: admin.auth })
  t.equal(del.status, 204)
  t.equal((await inject(app, { method: 'GET', url: `/api/alerts/${gone}`, headers: admin.auth })).status, 404, 'the alert went with its event')
  const after = await inject(app, { method: 'GET', url: `/api/incidents/${inc.id}`, headers: analyst.auth })
  t.equal(after.status, 200, 'the incident remains')
  t.same(after.body.alerts.map((a: { id: number }) => a.id), [keep], 'only the link to the deleted alert went')
  t.equal(after.body.entities.length, 1)
  const links = await app.db.select().from(incidentAlerts).where(eq(incidentAlerts.alertId, gone))
  t.equal(links.length, 0)

  // Deleting the assignee's or creator's account keeps the incident, with nobody in those fields.
  const temp = await makeUser(app, 'analyst')
  const owned = await createIncident(app, temp, { assignee: temp.user.id })
  await app.db.delete(users).where(eq(users.id, temp.user.id))
  const orphan = await inject(app, { method: 'GET', url: `/api/incidents/${owned.id}`, headers: admin.auth })
  t.equal(orphan.status, 200)
  t.match(orphan.body, { assignee: null, assignee_username: null, created_by: null })
})
