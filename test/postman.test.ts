// The Postman collection in docs/ agrees with the OpenAPI document the app serves: every request
// is a documented operation (method and path, `{{var}}` segments standing for `{param}`s, trailing
// slashes ignored), its query parameters are documented, the status it expects is documented for
// that operation, and the bodies of requests expected to succeed satisfy the documented schema.
// newman itself runs the collection against a listening server (scripts/newman.sh).
import { readFileSync } from 'node:fs'
import t from 'tap'
import { build, inject } from './helper.js'
import { operations, schemaValidator, type Operation } from './support/openapi.js'

const COLLECTION = new URL('../docs/vigil.postman_collection.json', import.meta.url)
const ENVIRONMENT = new URL('../docs/vigil.postman_environment.json', import.meta.url)
const V21 = 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json'

interface PmItem {
  name: string
  item?: PmItem[]
  request?: {
    method: string
    url: string | { raw: string; path: string[]; query?: { key: string; value: string; disabled?: boolean }[] }
    body?: { mode: string; raw?: string; urlencoded?: { key: string; value: string }[] }
  }
  event?: { listen: string; script: { exec: string[] } }[]
}

interface Request {
  name: string
  method: string
  raw: string
  rawPath: string
  rawQuery: string
  path: string
  /** The query string newman sends, variables unresolved. */
  query: string
  body?: { type: string; value: unknown }
  expected: number[]
}

/** A variable in a request stands for any value; 1 fits every id, name and text field here. */
const ANY = '1'
const substitute = (s: string) => s.replace(/\{\{\w+\}\}/g, ANY)

/** Every request of the collection, folders flattened in run order. */
function requests(items: PmItem[], folder = ''): Request[] {
  return items.flatMap((it): Request[] => {
    const name = folder ? `${folder} / ${it.name}` : it.name
    if (it.item) return requests(it.item, name)
    const req = it.request!
    // newman sends what the structured URL says; `raw` is what Postman shows. Both are checked.
    const raw = typeof req.url === 'string' ? req.url : req.url.raw
    const [rawPath, rawQuery = ''] = raw.replace(/^\{\{baseUrl\}\}/, '').split('?')
    const path = typeof req.url === 'string' ? rawPath : `/${req.url.path.join('/')}`
    const query =
      typeof req.url === 'string'
        ? rawQuery
        : (req.url.query ?? []).filter((q) => !q.disabled).map((q) => `${q.key}=${q.value}`).join('&')
    const tests = (it.event ?? []).filter((e) => e.listen === 'test').flatMap((e) => e.script.exec).join('\n')
    const expected = [...tests.matchAll(/to\.have\.status\((\d{3})\)/g)].map((m) => Number(m[1]))
    let body: Request['body']
    if (req.body?.mode === 'raw' && req.body.raw) body = { type: 'application/json', value: JSON.parse(substitute(req.body.raw)) }
    if (req.body?.mode === 'urlencoded') {
      const form = Object.fromEntries((req.body.urlencoded ?? []).map((p) => [p.key, substitute(p.value)]))
      body = { type: 'application/x-www-form-urlencoded', value: form }
    }
    return [{ name, method: req.method, raw, rawPath, rawQuery, path, query, body, expected }]
  })
}

const segments = (p: string) => p.split('/').filter((s, i, all) => s !== '' || (i > 0 && i < all.length - 1))

/** A documented path matches when each segment is equal or is a `{param}` (which any value fills). */
function matches(template: string, path: string): boolean {
  const a = segments(template)
  const b = segments(path)
  return a.length === b.length && a.every((seg, i) => seg === b[i] || (/^\{\w+\}$/.test(seg) && b[i] !== ''))
}

const collection = JSON.parse(readFileSync(COLLECTION, 'utf8'))
const all = requests(collection.item)

t.test('the collection is a Postman v2.1 collection driven by baseUrl, adminUser and adminPassword', async (t) => {
  t.equal(collection.info.schema, V21)
  t.ok(all.length >= 40, `${all.length} requests`)
  for (const r of all) {
    t.ok(r.expected.length === 1, `${r.name}: asserts its status once`)
  }
  for (const r of all) {
    t.ok(r.raw.startsWith('{{baseUrl}}/'), `${r.name}: the URL starts with {{baseUrl}}`)
    t.equal(r.rawPath, r.path, `${r.name}: raw URL and path agree`)
    t.equal(r.rawQuery, r.query, `${r.name}: raw URL and query agree`)
  }
  const env = JSON.parse(readFileSync(ENVIRONMENT, 'utf8'))
  t.same(
    env.values.map((v: { key: string }) => v.key).sort(),
    ['adminPassword', 'adminUser', 'baseUrl'],
    'the environment file sets the three inputs'
  )
  t.equal(env.values.find((v: { key: string }) => v.key === 'adminPassword').value, '', 'and holds no password')
})

t.test('every request is a documented operation', async (t) => {
  const app = await build(t)
  const res = await inject(app, { method: 'GET', url: '/docs/json' })
  t.equal(res.status, 200)
  const ops = operations(res.body)
  const ajv = schemaValidator()

  for (const r of all) {
    const label = `${r.name}: ${r.method} ${r.path}`
    // A literal segment beats a parameter, as in the router (e.g. /alerts/{id} vs a literal).
    const candidates = ops.filter(([m, p]) => m === r.method && matches(p, r.path))
    const found = candidates.sort(([, a], [, b]) => (a.match(/\{/g) ?? []).length - (b.match(/\{/g) ?? []).length)[0]
    if (!t.ok(found, `${label} is in the OpenAPI document`)) continue
    const [, path, op] = found as [string, string, Operation]

    const documentedQuery = new Set((op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name))
    for (const key of new URLSearchParams(r.query).keys()) t.ok(documentedQuery.has(key), `${label}: query parameter ${key} is documented`)

    for (const status of r.expected) {
      t.ok(op.responses[String(status)], `${label}: the expected ${status} is documented for ${r.method} ${path}`)
    }

    if (r.body) {
      const media = op.requestBody?.content[r.body.type]
      if (!t.ok(media, `${label}: ${r.body.type} bodies are documented`)) continue
      // Requests that expect a refusal send bad bodies on purpose.
      if (r.expected.every((s) => s < 300) && media?.schema) {
        const validate = ajv.compile(media.schema)
        t.ok(validate(r.body.value), `${label}: the body satisfies the documented schema`, { errors: validate.errors })
      }
    }
  }
})
