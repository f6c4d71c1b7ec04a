// /api/models through the real app: the role matrix, CRUD, definitions compiled before they are
// stored, unique names regardless of case, metadata_json as JSON text, filters, pagination,
// retraining, audit records, what responses leave out, and the change announcements
// (drizzle/0007_detection_models.sql).
import { and, asc, count, eq, sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { modelChanges } from '../src/db/channels.js'
import { rowsOf } from '../src/db/queries.js'
import { MODEL_BODY_LIMIT } from '../routes/models/schema.js'
import { auditLog, models } from '../src/db/schema.js'
import { build, eventually, inject, makeRoles, makeUser, type TestUser } from './helper.js'
import { record } from './support/notifications.js'

const SIGMA_RULE = `title: SSH brute force source
id: 6e0c5a9e-2f3b-4a51-9d6f-0b8f3f1b2a10
status: stable
level: medium
tags: [attack.credential_access, attack.t1110]
logsource: {product: linux, service: sshd}
detection:
  failed:
    event.outcome: failure
    event.action: ssh_login
  condition: failed
`
const ANOMALY = 'group_by: source\nbucket: 1h\nhistory: 7d\nthreshold: 3\nmin_count: 10\nlevel: high\n'

const FIELDS = [
  'created_at',
  'created_by',
  'definition',
  'description',
  'group_alerts',
  'group_by',
  'id',
  'is_active',
  'last_matched_at',
  'matches',
  'metadata_json',
  'model_type',
  'name',
  'status',
  'status_reason',
  'trained_at',
  'updated_at',
  'version'
]

let n = 0
async function createModel(app: FastifyInstance, who: TestUser, payload: Record<string, unknown> = {}) {
  const r = await inject(app, {
    method: 'POST',
    url: '/api/models/',
    headers: who.auth,
    payload: { name: `model ${++n}`, model_type: 'sigma', definition: SIGMA_RULE, ...payload }
  })
  if (r.status !== 201) throw new Error(`model not created: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}

async function rowCounts(app: FastifyInstance) {
  const [m] = await app.db.select({ n: count() }).from(models)
  const [a] = await app.db.select({ n: count() }).from(auditLog)
  const [h] = await rowsOf<{ h: string }>(app.db, sql`select md5(coalesce(string_agg(x::text, '|' order by x.id), '')) as h from models x`)
  return { models: m.n, audit: a.n, content: h.h }
}

async function auditOf(app: FastifyInstance, action: string, targetId: number) {
  return app.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.action, action), eq(auditLog.targetType, 'model'), eq(auditLog.targetId, String(targetId))))
    .orderBy(asc(auditLog.id))
}

t.test('role matrix: every model route x anonymous, viewer, analyst, admin', async (t) => {
  const app = await build(t)
  const roles = await makeRoles(app)
  const base = await createModel(app, roles.admin)
  const fresh = () => createModel(app, roles.admin)

  type Req = { method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'; url: string; payload?: Record<string, unknown> }
  const cases: { name: string; expect: [number, number, number, number]; req: () => Promise<Req> }[] = [
    { name: 'GET /', expect: [401, 200, 200, 200], req: async () => ({ method: 'GET', url: '/api/models/' }) },
    {
      name: 'POST /',
      expect: [401, 403, 201, 201],
      req: async () => ({ method: 'POST', url: '/api/models/', payload: { name: `new ${++n}`, model_type: 'sigma', definition: SIGMA_RULE } })
    },
    { name: 'GET /:id', expect: [401, 200, 200, 200], req: async () => ({ method: 'GET', url: `/api/models/${base.id}/` }) },
    {
      name: 'PUT /:id',
      expect: [401, 403, 200, 200],
      req: async () => ({ method: 'PUT', url: `/api/models/${base.id}/`, payload: { name: `put ${++n}`, model_type: 'sigma', definition: SIGMA_RULE } })
    },
    { name: 'PATCH /:id', expect: [401, 403, 200, 200], req: async () => ({ method: 'PATCH', url: `/api/models/${base.id}/`, payload: { version: `2.${++n}` } }) },
    { name: 'DELETE /:id', expect: [401, 403, 204, 204], req: async () => ({ method: 'DELETE', url: `/api/models/${(await fresh()).id}/` }) },
    { name: 'POST /:id/retrain', expect: [401, 403, 202, 202], req: async () => ({ method: 'POST', url: `/api/models/${(await fresh()).id}/retrain/` }) }
  ]
  const who = [{}, roles.viewer.auth, roles.analyst.auth, roles.admin.auth]
  const names = ['anonymous', 'viewer', 'analyst', 'admin']
  for (const c of cases) {
    for (let i = 0; i < 4; i++) {
      const req = await c.req()
      const before = await rowCounts(app)
      const r = await inject(app, { ...req, headers: who[i] })
      t.equal(r.status, c.expect[i], `${c.name} as ${names[i]}: ${JSON.stringify(r.body)?.slice(0, 200)}`)
      if (r.status === 401) t.equal(r.body.code, 'not_authenticated')
      if (r.status === 403) {
        t.equal(r.body.code, 'permission_denied')
        t.equal(r.body.detail, 'You do not have permission to perform this action.')
      }
      if (r.status >= 400) t.same(await rowCounts(app), before, `${c.name} as ${names[i]} changed nothing`)
    }
  }
})

t.test('create: 201 with defaults, created_by, an audit record, and nothing secret', async (t) => {
  const app = await build(t)
  const { analyst } = await makeRoles(app)
  const r = await inject(app, {
    method: 'POST',
    url: '/api/models/',
    headers: analyst.auth,
    payload: { name: '  SSH brute force  ', model_type: 'sigma', definition: SIGMA_RULE, description: 'Failed SSH logins.\nMany of them.' }
  })
  t.equal(r.status, 201, JSON.stringify(r.body))
  const m = r.body
  t.same(Object.keys(m).sort(), FIELDS, 'exactly the documented fields')
  t.match(m, {
    name: 'SSH brute force',
    version: '1.0.0',
    description: 'Failed SSH logins.\nMany of them.',
    model_type: 'sigma',
    status: 'ready',
    status_reason: null,
    is_active: true,
    metadata_json: null,
    definition: SIGMA_RULE,
    matches: 0,
    last_matched_at: null,
    trained_at: null,
    created_by: { id: analyst.user.id, username: analyst.user.username }
  })
  t.type(m.id, 'number')
  t.ok(Date.parse(m.created_at) && Date.parse(m.updated_at))
  const raw = JSON.stringify(m)
  for (const secret of ['password', 'hash', 'baseline', 'lease', 'token', 'created_by_id', analyst.user.passwordHash]) {
    t.notOk(raw.includes(secret), `the response does not carry ${secret.slice(0, 20)}`)
  }

  const got = await inject(app, { method: 'GET', url: `/api/models/${m.id}/`, headers: analyst.auth })
  t.equal(got.status, 200)
  t.same(got.body, m, 'GET answers what POST did')

  const [audit] = await auditOf(app, 'model.created', m.id)
  t.ok(audit, 'model.created recorded')
  t.equal(audit.actorId, analyst.user.id)
  t.equal(audit.actor, analyst.user.username)
  t.match(audit.after, { name: 'SSH brute force', model_type: 'sigma', status: 'ready', is_active: true, definition_length: SIGMA_RULE.length })
  t.match((audit.after as { definition_sha256: string }).definition_sha256, /^[0-9a-f]{64}$/, 'the definition by its hash, not its text')

  const all = await inject(app, {
    method: 'POST',
    url: '/api/models/',
    headers: analyst.auth,
    payload: {
      name: 'Rate per source',
      model_type: 'anomaly_detection',
      version: '2.0.1',
      status: 'deprecated',
      is_active: false,
      metadata_json: '{"owner": "soc", "tags": [1, 2]}',
      description: null,
      definition: ANOMALY
    }
  })
  t.equal(all.status, 201, JSON.stringify(all.body))
  t.match(all.body, { version: '2.0.1', status: 'deprecated', is_active: false, metadata_json: '{"owner": "soc", "tags": [1, 2]}', description: null, model_type: 'anomaly_detection' })

  // The creator's account goes: the model stays, created_by becomes null.
  const gone = await makeUser(app, 'analyst')
  const theirs = await createModel(app, gone)
  t.same(theirs.created_by, { id: gone.user.id, username: gone.user.username })
  const { admin } = await makeRoles(app)
  t.equal((await inject(app, { method: 'DELETE', url: `/api/users/${gone.user.id}/`, headers: admin.auth })).status, 204)
  const after = await inject(app, { method: 'GET', url: `/api/models/${theirs.id}/`, headers: admin.auth })
  t.equal(after.body.created_by, null)
})

t.test('names are unique regardless of case: 409 with a stable code', async (t) => {
  const app = await build(t)
  const { admin, analyst } = await makeRoles(app)
  const first = await createModel(app, admin, { name: 'Port Scan' })
  const before = await rowCounts(app)
  for (const name of ['Port Scan', 'port scan', 'PORT SCAN', '  port scan ']) {
    const r = await inject(app, { method: 'POST', url: '/api/models/', headers: analyst.auth, payload: { name, model_type: 'sigma', definition: SIGMA_RULE } })
    t.equal(r.status, 409, `"${name}" is taken`)
    t.equal(r.body.code, 'conflict')
    t.same(r.body.errors, { name: ['A model with that name already exists.'] })
  }
  t.same(await rowCounts(app), before, 'nothing was written')

  const other = await createModel(app, admin, { name: 'Other' })
  for (const method of ['PATCH', 'PUT'] as const) {
    const r = await inject(app, { method, url: `/api/models/${other.id}/`, headers: admin.auth, payload: { name: 'pORT sCAN', model_type: 'sigma', definition: SIGMA_RULE } })
    t.equal(r.status, 409, `${method} to a taken name`)
    t.equal(r.body.code, 'conflict')
  }
  const self = await inject(app, { method: 'PATCH', url: `/api/models/${first.id}/`, headers: admin.auth, payload: { name: 'port scan' } })
  t.equal(self.status, 200, 'a model may change the case of its own name')
  t.equal(self.body.name, 'port scan')
})

t.test('bad input: model_type names the allowed values, metadata_json must be JSON, fields are bounded', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const m = await createModel(app, admin)
  const before = await rowCounts(app)
  const post = (payload: Record<string, unknown>) =>
    inject(app, { method: 'POST', url: '/api/models/', headers: admin.auth, payload: { name: 'x', model_type: 'sigma', definition: SIGMA_RULE, ...payload } })
  const patch = (payload: Record<string, unknown>) => inject(app, { method: 'PATCH', url: `/api/models/${m.id}/`, headers: admin.auth, payload })

  for (const r of [await post({ model_type: 'neural_net' }), await patch({ model_type: 'neural_net' })]) {
    t.equal(r.status, 400)
    t.equal(r.body.code, 'validation_failed')
    t.match(r.body.detail, /model_type/)
    t.match(r.body.errors.model_type[0], /"neural_net" is not a valid choice\. Allowed values: sigma, anomaly_detection\./)
  }
  for (const text of ['not json', '{"a": 1', "{'single': 'quotes'}", '']) {
    for (const r of [await post({ metadata_json: text }), await patch({ metadata_json: text })]) {
      t.equal(r.status, 400, `metadata_json ${JSON.stringify(text)}`)
      t.equal(r.body.code, 'validation_failed')
      t.match(r.body.errors.metadata_json[0], /valid JSON/)
    }
  }
  const objectMeta = await post({ metadata_json: { owner: 'soc' } })
  t.equal(objectMeta.status, 400, 'metadata_json is JSON text, not an object')

  const bad: [string, Record<string, unknown>][] = [
    ['no name', { name: undefined }],
    ['blank name', { name: '   ' }],
    ['name with a line break', { name: 'a\nb' }],
    ['long name', { name: 'x'.repeat(201) }],
    ['long version', { version: '1'.repeat(51) }],
    ['no definition', { definition: undefined }],
    ['empty definition', { definition: '' }],
    ['NUL in definition', { definition: `${SIGMA_RULE}\u0000` }],
    ['long description', { description: 'x'.repeat(10_001) }],
    ['long metadata', { metadata_json: JSON.stringify('x'.repeat(70_000)) }],
    ['unknown status', { status: 'sleeping' }],
    ['is_active as text', { is_active: 'yes' }],
    ['over-long definition', { definition: `${SIGMA_RULE}#${'x'.repeat(1024 * 1024)}` }]
  ]
  for (const [what, payload] of bad) {
    const r = await post(payload)
    t.equal(r.status, 400, `${what}: ${JSON.stringify(r.body).slice(0, 200)}`)
    t.equal(r.body.code, 'validation_failed', what)
  }
  t.same(await rowCounts(app), before, 'nothing was written')

  // A definition of 1 MiB fits, although BODY_LIMIT (1 MiB by default) would not hold its body.
  const padded = `${SIGMA_RULE}#${'x'.repeat(1024 * 1024 - SIGMA_RULE.length - 1)}`
  t.equal(padded.length, 1024 * 1024)
  const big = await post({ name: 'big', definition: padded })
  t.equal(big.status, 201, 'a 1 MiB definition is stored')
  t.equal(big.body.definition.length, 1024 * 1024)
  const huge = await post({ name: 'huge', definition: 'x'.repeat(MODEL_BODY_LIMIT) })
  t.equal(huge.status, 413, 'a body over the model routes\' limit')
  t.equal(huge.body.code, 'payload_too_large')
})

t.test('definitions are compiled before they are stored: 400 invalid_definition naming what and where', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const m = await createModel(app, admin)
  const before = await rowCounts(app)
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['bad YAML', { definition: 'not: [valid' }, /^yaml: not valid YAML/],
    ['no logsource', { definition: 'title: x\n' }, /^logsource: /],
    ['an unknown search', { definition: SIGMA_RULE.replace('condition: failed', 'condition: selection') }, /^detection\.condition: .*selection/],
    ['a bad anomaly setting', { model_type: 'anomaly_detection', definition: 'threshold: -1' }, /^threshold: /],
    ['a Sigma rule as anomaly settings', { model_type: 'anomaly_detection', definition: SIGMA_RULE }, /^id: unknown setting/]
  ]
  for (const [what, payload, message] of cases) {
    const r = await inject(app, { method: 'POST', url: '/api/models/', headers: admin.auth, payload: { name: 'x', model_type: 'sigma', ...payload } })
    t.equal(r.status, 400, what)
    t.equal(r.body.code, 'invalid_definition', what)
    t.match(r.body.errors.definition[0], message, what)
    t.equal(r.body.detail, `Invalid definition: ${r.body.errors.definition[0]}`, `${what}: the detail says it`)
  }
  // An update that changes the type or the definition is compiled too, against the other field as stored.
  const typeOnly = await inject(app, { method: 'PATCH', url: `/api/models/${m.id}/`, headers: admin.auth, payload: { model_type: 'anomaly_detection' } })
  t.equal(typeOnly.status, 400, 'a Sigma definition does not become anomaly settings')
  t.equal(typeOnly.body.code, 'invalid_definition')
  const definitionOnly = await inject(app, { method: 'PATCH', url: `/api/models/${m.id}/`, headers: admin.auth, payload: { definition: 'title: x\n' } })
  t.equal(definitionOnly.status, 400)
  t.equal(definitionOnly.body.code, 'invalid_definition')
  const put = await inject(app, { method: 'PUT', url: `/api/models/${m.id}/`, headers: admin.auth, payload: { name: m.name, model_type: 'sigma', definition: 'not: [valid' } })
  t.equal(put.status, 400)
  t.equal(put.body.code, 'invalid_definition')
  t.same(await rowCounts(app), before, 'nothing was written')

  const both = await inject(app, { method: 'PATCH', url: `/api/models/${m.id}/`, headers: admin.auth, payload: { model_type: 'anomaly_detection', definition: ANOMALY } })
  t.equal(both.status, 200, 'type and definition changed together')
  t.equal(both.body.model_type, 'anomaly_detection')
})

t.test('update, replace and delete: only real changes written and audited; 404s', async (t) => {
  const app = await build(t)
  const { admin, analyst } = await makeRoles(app)
  const m = await createModel(app, admin, { name: 'Brute force', metadata_json: '{"a": 1}' })

  const same = await inject(app, { method: 'PATCH', url: `/api/models/${m.id}/`, headers: analyst.auth, payload: { name: 'Brute force', is_active: true } })
  t.equal(same.status, 200)
  t.equal(same.body.updated_at, m.updated_at, 'nothing changed, nothing written')
  t.equal((await auditOf(app, 'model.updated', m.id)).length, 0, 'and nothing audited')

  await app.db.update(models).set({ status: 'failed', statusReason: 'no events to learn from' }).where(eq(models.id, m.id))
  const r = await inject(app, {
    method: 'PATCH',
    url: `/api/models/${m.id}/`,
    headers: analyst.auth,
    payload: { is_active: false, status: 'deprecated', metadata_json: null, version: ' 1.1.0 ', definition: SIGMA_RULE.replace('level: medium', 'level: high') }
  })
  t.equal(r.status, 200, JSON.stringify(r.body))
  t.match(r.body, { is_active: false, status: 'deprecated', status_reason: null, metadata_json: null, version: '1.1.0', name: 'Brute force' })
  t.match(r.body.definition, /level: high/)
  t.ok(Date.parse(r.body.updated_at) >= Date.parse(m.updated_at))
  const [audit] = await auditOf(app, 'model.updated', m.id)
  t.equal(audit.actorId, analyst.user.id)
  t.same(Object.keys(audit.before as object).sort(), ['definition_length', 'definition_sha256', 'is_active', 'metadata_json', 'status', 'version'])
  t.match(audit.before, { is_active: true, status: 'failed', metadata_json: '{"a": 1}', version: '1.0.0' })
  t.match(audit.after, { is_active: false, status: 'deprecated', metadata_json: null, version: '1.1.0' })
  t.not((audit.before as any).definition_sha256, (audit.after as any).definition_sha256)

  // PUT: the required fields, and the optional ones sent; the others stay.
  const put = await inject(app, {
    method: 'PUT',
    url: `/api/models/${m.id}/`,
    headers: analyst.auth,
    payload: { name: 'Brute force v2', model_type: 'anomaly_detection', definition: ANOMALY, description: 'Now a baseline.' }
  })
  t.equal(put.status, 200, JSON.stringify(put.body))
  t.match(put.body, { name: 'Brute force v2', model_type: 'anomaly_detection', definition: ANOMALY, description: 'Now a baseline.', is_active: false, version: '1.1.0' })
  const missing = await inject(app, { method: 'PUT', url: `/api/models/${m.id}/`, headers: analyst.auth, payload: { name: 'only a name' } })
  t.equal(missing.status, 400, 'PUT requires model_type and definition')
  t.same(Object.keys(missing.body.errors).sort(), ['definition', 'model_type'])

  // Unknown ids.
  const ghost = '/api/models/999999/'
  for (const [method, payload] of [
    ['GET', undefined],
    ['PATCH', { is_active: false }],
    ['PUT', { name: 'x', model_type: 'sigma', definition: SIGMA_RULE }],
    ['DELETE', undefined],
    ['POST', undefined]
  ] as const) {
    const url = method === 'POST' ? `${ghost}retrain/` : ghost
    const res = await inject(app, { method, url, headers: admin.auth, ...(payload && { payload }) })
    t.equal(res.status, 404, `${method} ${url}`)
    t.same(res.body, { code: 'not_found', detail: 'Not found.' })
  }
  const badId = await inject(app, { method: 'GET', url: '/api/models/abc/', headers: admin.auth })
  t.equal(badId.status, 400)

  const del = await inject(app, { method: 'DELETE', url: `/api/models/${m.id}/`, headers: analyst.auth })
  t.equal(del.status, 204)
  t.equal(del.raw.body, '')
  t.equal((await inject(app, { method: 'GET', url: `/api/models/${m.id}/`, headers: admin.auth })).status, 404, 'gone')
  const [deleted] = await auditOf(app, 'model.deleted', m.id)
  t.match(deleted.before, { name: 'Brute force v2', model_type: 'anomaly_detection', matches: 0 })
  t.equal((await inject(app, { method: 'DELETE', url: `/api/models/${m.id}/`, headers: analyst.auth })).status, 404, 'deleting again is a 404')
})

t.test('retrain: 202, status training, reason cleared, audited', async (t) => {
  const app = await build(t)
  const { analyst, viewer } = await makeRoles(app)
  const m = await createModel(app, analyst, { model_type: 'anomaly_detection', definition: ANOMALY })
  await app.db.update(models).set({ status: 'failed', statusReason: 'no events' }).where(eq(models.id, m.id))
  const r = await inject(app, { method: 'POST', url: `/api/models/${m.id}/retrain/`, headers: analyst.auth })
  t.equal(r.status, 202, JSON.stringify(r.body))
  t.same(Object.keys(r.body).sort(), ['message', 'model_id', 'status'])
  t.equal(r.body.model_id, m.id)
  t.equal(r.body.status, 'training')
  t.type(r.body.message, 'string')
  // The trainer takes it at once, in the background: learned, ready, the reason cleared.
  const ready = async () => (await inject(app, { method: 'GET', url: `/api/models/${m.id}/`, headers: viewer.auth })).body
  t.ok(await eventually(async () => (await ready()).status === 'ready', 5000), 'trained in the background')
  t.match(await ready(), { status: 'ready', status_reason: null, trained_at: String })
  const [audit] = await auditOf(app, 'model.retrained', m.id)
  t.same(audit.before, { status: 'failed', status_reason: 'no events' })
  t.same(audit.after, { status: 'training' })
  t.equal(audit.actorId, analyst.user.id)
  const again = await inject(app, { method: 'POST', url: `/api/models/${m.id}/retrain`, headers: analyst.auth, payload: {} })
  t.equal(again.status, 202, 'retraining a model already training is accepted again')
})

t.test('list: newest first, filters, search, pagination', async (t) => {
  const app = await build(t)
  const { admin, viewer } = await makeRoles(app)
  const a = await createModel(app, admin, { name: 'SSH brute force', description: 'Failed logins' })
  const b = await createModel(app, admin, { name: 'Port scan', description: 'Many ports, one SSH', is_active: false })
  const c = await createModel(app, admin, { name: 'Rate per source', model_type: 'anomaly_detection', definition: ANOMALY, status: 'deprecated' })
  const d = await createModel(app, admin, { name: '100%_literal', description: null })
  const list = async (query: string) => {
    const r = await inject(app, { method: 'GET', url: `/api/models/${query}`, headers: viewer.auth })
    t.equal(r.status, 200, `${query}: ${JSON.stringify(r.body).slice(0, 200)}`)
    return r.body
  }
  const all = await list('')
  t.equal(all.count, 4)
  t.same(all.results.map((m: { id: number }) => m.id), [d.id, c.id, b.id, a.id], 'newest first')
  t.same(Object.keys(all.results[0]).sort(), FIELDS)

  const ids = async (query: string) => (await list(query)).results.map((m: { id: number }) => m.id)
  t.same(await ids('?status=deprecated'), [c.id])
  t.same(await ids('?status=ready'), [d.id, b.id, a.id])
  t.same(await ids('?model_type=anomaly_detection'), [c.id])
  t.same(await ids('?model_type=sigma'), [d.id, b.id, a.id])
  t.same(await ids('?is_active=false'), [b.id])
  t.same(await ids('?is_active=true&model_type=sigma'), [d.id, a.id])
  t.same(await ids('?q=ssh'), [b.id, a.id], 'q matches the name or the description, whatever the case')
  t.same(await ids('?q=PORTS'), [b.id])
  t.same(await ids('?q=%25_'), [d.id], '% and _ match themselves')
  t.same(await ids('?q=nothing'), [])
  t.equal((await list('?q=ssh')).count, 2, 'the count is over the same filter')

  for (const bad of ['?status=sleeping', '?model_type=neural_net', '?is_active=maybe', '?q=', `?q=${'x'.repeat(201)}`, '?q=a%00b', '?page_size=101']) {
    const r = await inject(app, { method: 'GET', url: `/api/models/${bad}`, headers: viewer.auth })
    t.equal(r.status, 400, bad)
    t.equal(r.body.code, 'validation_failed', bad)
  }
  const allowed = await inject(app, { method: 'GET', url: '/api/models/?model_type=neural_net', headers: viewer.auth })
  t.match(allowed.body.detail, /Allowed values: sigma, anomaly_detection/)

  // Pages: by cursor (the default) and by number.
  const first = await list('?page_size=3')
  t.equal(first.count, 4)
  t.equal(first.results.length, 3)
  t.equal(first.previous, null)
  t.ok(first.next)
  const next = await inject(app, { method: 'GET', url: new URL(first.next).pathname + new URL(first.next).search, headers: viewer.auth })
  t.same(next.body.results.map((m: { id: number }) => m.id), [a.id], 'the next page holds the rest')
  t.equal(next.body.next, null)
  const numbered = await list('?page_size=3&page=2')
  t.same(numbered.results.map((m: { id: number }) => m.id), [a.id])
  t.match(numbered.previous, /page_size=3/)
  const past = await inject(app, { method: 'GET', url: '/api/models/?page=3&page_size=3', headers: viewer.auth })
  t.equal(past.status, 404)
})

t.test('changes the engine sees are announced on vigil_models; match counters are not', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const stop = new AbortController()
  t.teardown(() => stop.abort())
  const heard = record(app.notifications, modelChanges, stop.signal)
  t.ok(await eventually(async () => heard.count('ready') >= 1, 5000), 'subscribed')

  const m = await createModel(app, admin)
  t.ok(await eventually(async () => heard.messages.length === 1, 5000), 'the insert is announced')
  t.same(heard.messages, [m.id])

  // Counters and other columns the engine does not read: no announcement. A change it reads comes
  // after them, so had they been announced, they would arrive first.
  await app.db.update(models).set({ matches: 5, lastMatchedAt: new Date() }).where(eq(models.id, m.id))
  await inject(app, { method: 'PATCH', url: `/api/models/${m.id}/`, headers: admin.auth, payload: { description: 'only words', metadata_json: '{}' } })
  await inject(app, { method: 'PATCH', url: `/api/models/${m.id}/`, headers: admin.auth, payload: { is_active: false } })
  t.ok(await eventually(async () => heard.messages.length >= 2, 5000))
  for (const payload of [{ name: 'renamed' }, { version: '9' }, { status: 'deprecated' }, { model_type: 'anomaly_detection', definition: ANOMALY }]) {
    await inject(app, { method: 'PATCH', url: `/api/models/${m.id}/`, headers: admin.auth, payload })
  }
  // A new baseline definition is trained at once: its baseline, learned, is announced too.
  await app.trainModels()
  await app.db.update(models).set({ baseline: { groups: {} } }).where(eq(models.id, m.id))
  await inject(app, { method: 'DELETE', url: `/api/models/${m.id}/`, headers: admin.auth })
  t.ok(await eventually(async () => heard.messages.length >= 9, 5000))
  await app.db.execute(sql`truncate models`)
  t.ok(await eventually(async () => heard.messages.length >= 10, 5000))
  t.same(heard.messages, [m.id, m.id, m.id, m.id, m.id, m.id, m.id, m.id, m.id, '*'], 'insert, is_active, name, version, status, type+definition, trained, baseline, delete, truncate')
  t.equal(modelChanges.parse('12'), 12)
  t.equal(modelChanges.parse('x'), '*', 'anything but an id means every model')
  t.equal(modelChanges.format('*'), '*')
})
