import { createHash } from 'node:crypto'
import { eq } from 'drizzle-orm'
import t from 'tap'
import { auditLog, ingestKeys } from '../src/db/schema.js'
import { build, inject, makeRoles } from './helper.js'

t.test('ingest keys: admin API, secrets, audit, revocation', async (t) => {
  const app = await build(t)
  const { admin, analyst, viewer } = await makeRoles(app)

  await t.test('create shows the key once, stores only its hash, audits without it', async (t) => {
    const r = await inject(app, {
      method: 'POST',
      url: '/api/ingest-keys/',
      headers: admin.auth,
      payload: { name: 'syslog-ng fw01', defaults: { source: 'fw01', event_type: 'intrusion', severity: 'Low' } }
    })
    t.equal(r.status, 201)
    t.match(r.body, { id: Number, name: 'syslog-ng fw01', key: /^vgl_[A-Za-z0-9_-]{43}$/, defaults: { source: 'fw01', event_type: 'intrusion', severity: 'Low' } })
    t.ok(r.body.created_at)
    t.equal(r.body.prefix, r.body.key.slice(0, 12))

    const [row] = await app.db.select().from(ingestKeys).where(eq(ingestKeys.id, r.body.id))
    t.equal(row.keyHash, createHash('sha256').update(r.body.key).digest('hex'))
    t.equal(row.createdById, admin.user.id)

    const audit = await app.db.select().from(auditLog).where(eq(auditLog.action, 'ingest_key.created'))
    t.equal(audit.length, 1)
    t.equal(audit[0].targetId, String(r.body.id))
    t.equal(audit[0].actorId, admin.user.id)
    const trail = JSON.stringify(audit)
    t.notOk(trail.includes(r.body.key), 'the key is not in the audit trail')
    t.notOk(trail.includes(row.keyHash), 'nor its hash')

    const list = await inject(app, { method: 'GET', url: '/api/ingest-keys/', headers: admin.auth })
    t.equal(list.status, 200)
    t.equal(list.body.count, 1)
    t.same(Object.keys(list.body.results[0]).sort(), ['created_at', 'created_by', 'defaults', 'id', 'last_used_at', 'name', 'prefix', 'revoked_at'])
    t.notOk(JSON.stringify(list.body).includes(r.body.key), 'no secret in the list')
    const one = await inject(app, { method: 'GET', url: `/api/ingest-keys/${r.body.id}/`, headers: admin.auth })
    t.equal(one.status, 200)
    t.equal(one.body.revoked_at, null)
    t.notOk(JSON.stringify(one.body).includes(r.body.key))
  })

  await t.test('defaults are validated with the event enums', async (t) => {
    for (const payload of [
      { name: 'x', defaults: { severity: 'Extreme' } },
      { name: 'x', defaults: { severity: 'high' } },
      { name: 'x', defaults: { event_type: 'phishing' } },
      { name: 'x', defaults: { source: '' } },
      { name: 'x', defaults: { severity: 3 } },
      { name: '' },
      { name: 'x', defaults: 'Low' },
      {}
    ]) {
      const r = await inject(app, { method: 'POST', url: '/api/ingest-keys/', headers: admin.auth, payload })
      t.equal(r.status, 400, JSON.stringify(payload))
      t.type(r.body.detail, 'string')
    }
    const bad = await inject(app, { method: 'POST', url: '/api/ingest-keys/', headers: admin.auth, payload: { name: 'x', defaults: { severity: 'Extreme' } } })
    t.match(bad.body.errors, { 'defaults.severity': [/not a valid choice/] })

    // Unknown fields are dropped, as everywhere in the API: a caller cannot choose the key.
    const chosen = await inject(app, {
      method: 'POST',
      url: '/api/ingest-keys/',
      headers: admin.auth,
      payload: { name: 'x', key: 'chosen', defaults: { colour: 'red' } }
    })
    t.equal(chosen.status, 201)
    t.not(chosen.body.key, 'chosen')
    t.same(chosen.body.defaults, {})
  })

  await t.test('only admins manage keys', async (t) => {
    for (const user of [analyst, viewer]) {
      t.equal((await inject(app, { method: 'GET', url: '/api/ingest-keys/', headers: user.auth })).status, 403)
      t.equal((await inject(app, { method: 'POST', url: '/api/ingest-keys/', headers: user.auth, payload: { name: 'x' } })).status, 403)
      t.equal((await inject(app, { method: 'DELETE', url: '/api/ingest-keys/1/', headers: user.auth })).status, 403)
    }
    t.equal((await inject(app, { method: 'GET', url: '/api/ingest-keys/' })).status, 401)
  })

  await t.test('a revoked key is refused on its very next request', async (t) => {
    const created = await inject(app, {
      method: 'POST',
      url: '/api/ingest-keys/',
      headers: admin.auth,
      payload: { name: 'to revoke', defaults: { event_type: 'anomaly', severity: 'Low' } }
    })
    const { id, key } = created.body
    const send = () =>
      inject(app, { method: 'POST', url: '/api/events/bulk', headers: { authorization: `Bearer ${key}` }, payload: '{"host":"h1","message":"m"}' })
    const before = await send()
    t.equal(before.status, 200)
    t.equal(before.body.accepted, 1)

    const used = await inject(app, { method: 'GET', url: `/api/ingest-keys/${id}/`, headers: admin.auth })
    t.ok(used.body.last_used_at, 'last_used_at is recorded')

    const del = await inject(app, { method: 'DELETE', url: `/api/ingest-keys/${id}/`, headers: admin.auth })
    t.equal(del.status, 204)
    t.equal(del.raw.body, '')

    const after = await send()
    t.equal(after.status, 401)
    t.equal(after.body.detail, 'Invalid or revoked API key.')
    for (const headers of [
      { 'x-api-key': key },
      { authorization: `Splunk ${key}` },
      { authorization: `Basic ${Buffer.from(`elastic:${key}`).toString('base64')}` }
    ]) {
      t.equal((await inject(app, { method: 'POST', url: '/api/events/bulk', headers, payload: '{}' })).status, 401)
    }

    const row = await inject(app, { method: 'GET', url: `/api/ingest-keys/${id}/`, headers: admin.auth })
    t.ok(row.body.revoked_at)
    const again = await inject(app, { method: 'DELETE', url: `/api/ingest-keys/${id}/`, headers: admin.auth })
    t.equal(again.status, 204, 'revoking twice is harmless')
    const audit = await app.db.select().from(auditLog).where(eq(auditLog.action, 'ingest_key.revoked'))
    t.equal(audit.length, 1, 'one revocation, one audit row')
    t.match(audit[0], { targetType: 'ingest_key', targetId: String(id), before: { revoked_at: null }, after: { revoked_at: String } })
    t.notOk(JSON.stringify(audit).includes(key))

    const active = await inject(app, { method: 'GET', url: '/api/ingest-keys/?revoked=false', headers: admin.auth })
    t.notOk(active.body.results.some((k: { id: number }) => k.id === id))
    const revoked = await inject(app, { method: 'GET', url: '/api/ingest-keys/?revoked=true', headers: admin.auth })
    t.same(revoked.body.results.map((k: { id: number }) => k.id), [id])
    t.equal(revoked.body.count, 1)

    t.equal((await inject(app, { method: 'DELETE', url: '/api/ingest-keys/999999/', headers: admin.auth })).status, 404)
    t.equal((await inject(app, { method: 'DELETE', url: '/api/ingest-keys/abc/', headers: admin.auth })).status, 400)
  })

  await t.test('the list is paginated, newest first', async (t) => {
    const before = (await inject(app, { method: 'GET', url: '/api/ingest-keys/', headers: admin.auth })).body.count
    for (let i = 0; i < 3; i++) {
      await inject(app, { method: 'POST', url: '/api/ingest-keys/', headers: admin.auth, payload: { name: `k${i}` } })
    }
    const page = await inject(app, { method: 'GET', url: '/api/ingest-keys/?page_size=2', headers: admin.auth })
    t.equal(page.status, 200)
    t.equal(page.body.count, before + 3)
    t.equal(page.body.results.length, 2)
    t.match(page.body.next, /cursor=/)
    t.same(page.body.results.map((k: { name: string }) => k.name), ['k2', 'k1'])
    const lastPage = Math.ceil((before + 3) / 2)
    const last = await inject(app, { method: 'GET', url: `/api/ingest-keys/?page_size=2&page=${lastPage}`, headers: admin.auth })
    t.equal(last.body.results.length, (before + 3) % 2 || 2)
    t.equal(last.body.next, null)
    t.equal((await inject(app, { method: 'GET', url: '/api/ingest-keys/?page_size=101', headers: admin.auth })).status, 400)
  })
})
