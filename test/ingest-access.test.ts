// An ingest key can ingest and nothing else: every other authenticated route refuses it with 403,
// whatever form the key takes. The routes are read from the OpenAPI document, so routes added
// later are covered too.
import t from 'tap'
import { build, inject, makeUser } from './helper.js'
import { makeIngestKey } from './ingest-helper.js'

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const

t.test('an ingest key is refused on every non-ingest route', async (t) => {
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  const { key } = await makeIngestKey(app, admin, { event_type: 'anomaly', severity: 'Low' })
  const forms = [
    { authorization: `Bearer ${key}` },
    { 'x-api-key': key },
    { authorization: `Basic ${Buffer.from(`u:${key}`).toString('base64')}` },
    { authorization: `ApiKey ${Buffer.from(`id:${key}`).toString('base64')}` },
    { authorization: `Splunk ${key}` }
  ]

  const doc = (await inject(app, { method: 'GET', url: '/docs/json' })).body
  const routes: { method: string; url: string; permission: string }[] = []
  for (const [path, item] of Object.entries<Record<string, { 'x-permission'?: string }>>(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method]
      if (op?.['x-permission'] && op['x-permission'] !== 'events:ingest') {
        routes.push({ method: method.toUpperCase(), url: path.replace(/\{[^}]+\}/g, '1'), permission: op['x-permission'] })
      }
    }
  }
  const urls = routes.map((r) => `${r.method} ${r.url}`)
  for (const expected of ['GET /api/events', 'POST /api/events', 'GET /api/events/1', 'DELETE /api/events/1', 'GET /api/alerts', 'PATCH /api/alerts/1', 'GET /api/ingest-keys', 'POST /api/ingest-keys', 'DELETE /api/ingest-keys/1']) {
    t.ok(urls.includes(expected), `${expected} is checked`)
  }

  // The Bearer form is the matrix's ingestKey caller (test/authz-matrix.test.ts); here the others.
  for (const route of routes) {
    for (const headers of forms.slice(1)) {
      const r = await inject(app, {
        method: route.method as 'GET',
        url: route.url,
        headers: { ...headers, 'content-type': 'application/json' },
        ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { payload: '{}' })
      })
      t.equal(r.status, 403, `${route.method} ${route.url} with ${Object.keys(headers)[0]} ${headers.authorization?.split(' ')[0] ?? ''}`)
      t.equal(r.body.detail, 'You do not have permission to perform this action.')
    }
  }

  // Token routes are open to anyone; a key there is just not a credential.
  const login = await inject(app, { method: 'POST', url: '/api/token/', headers: forms[0], payload: { username: 'shipper', password: key } })
  t.equal(login.status, 401)
  const refresh = await inject(app, { method: 'POST', url: '/api/token/refresh/', headers: forms[0], payload: { refresh: key } })
  t.equal(refresh.status, 401)

  // What it may do: ingest, on every ingest route.
  const ok = await inject(app, { method: 'POST', url: '/api/events/bulk', headers: forms[1], payload: '{"host":"h"}' })
  t.equal(ok.status, 200)
  const refreshIndex = await inject(app, { method: 'POST', url: '/idx/_refresh', headers: forms[3] })
  t.equal(refreshIndex.status, 200)
})
