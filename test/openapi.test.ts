// The OpenAPI document at /docs/json is valid OpenAPI (checked by a real validator), lists every
// route the app serves, and documents each one fully: tags, summary, description, a 2xx response,
// request and response examples that match their own schemas, and a security entry that agrees
// with what the route really does to an anonymous caller. The checks are generic: a route added
// later is held to them without editing this file.
import SwaggerParser from '@apidevtools/swagger-parser'
import t from 'tap'
import { readFileSync } from 'node:fs'
import { ERROR_CATALOGUE, ERROR_CODES, statusOf, type ErrorCode } from '../src/errors.js'
import { build, inject } from './helper.js'
import { examplesOf, operations, schemaValidator, type Media } from './support/openapi.js'
import { parseRouteTree, registeredRoutes, stripSlash, toFastifyPath, toOpenApiPath } from './support/routes.js'

/** The docs UI's own pages and assets are not part of the API. */
const isDocsUi = (url: string) => /^\/docs(\/|\*|$)/.test(url)

t.test('the route tree parser', async (t) => {
  const tree = [
    '├── /api/items (GET, HEAD, POST)',
    '│   └── /:id (GET, DELETE)',
    '│       └── /tags (POST)',
    '└── /health (GET) {"version":"1.0.0"}',
    '    /health (GET) {"version":"2.0.0"}'
  ].join('\n')
  t.same(parseRouteTree(tree), [
    { method: 'GET', url: '/api/items' },
    { method: 'HEAD', url: '/api/items' },
    { method: 'POST', url: '/api/items' },
    { method: 'GET', url: '/api/items/:id' },
    { method: 'DELETE', url: '/api/items/:id' },
    { method: 'POST', url: '/api/items/:id/tags' },
    { method: 'GET', url: '/health' },
    { method: 'GET', url: '/health' }
  ])
  t.throws(() => parseRouteTree('├── (empty root node) (GET)'), /unexpected line/, 'an unknown shape fails loudly')
  t.equal(toOpenApiPath('/a/:id/b/:alert_id'), '/a/{id}/b/{alert_id}')
  t.equal(toFastifyPath('/a/{id}/b/'), '/a/:id/b')
})

t.test('OpenAPI document', async (t) => {
  const app = await build(t)
  const res = await inject(app, { method: 'GET', url: '/docs/json' })
  t.equal(res.status, 200)
  const doc = res.body

  await t.test('is valid OpenAPI', async (t) => {
    // The validator dereferences in place; keep the served document intact for the other checks.
    await t.resolves(SwaggerParser.validate(structuredClone(doc)), 'swagger-parser accepts the document')
  })

  const ops = operations(doc)
  const documented = new Set(ops.map(([m, p]) => `${m} ${stripSlash(p)}`))
  const routes = registeredRoutes(app).filter((r) => r.method !== 'HEAD' && !isDocsUi(r.url))

  await t.test('lists every route the app serves, and only those', async (t) => {
    // Guards against a parser that finds nothing and so checks nothing.
    t.ok(routes.length >= 30, `the app serves ${routes.length} API routes`)
    for (const known of ['POST /api/token', 'GET /api/alerts/:id', 'DELETE /api/incidents/:id/entities/:entity_id', 'GET /health/live']) {
      t.ok(routes.some((r) => `${r.method} ${r.url}` === known), `the route list includes ${known}`)
    }
    for (const r of routes) {
      const key = `${r.method} ${stripSlash(toOpenApiPath(r.url))}`
      t.ok(documented.has(key), `${key} is documented`)
    }
    for (const [method, path] of ops) {
      t.ok(app.hasRoute({ method: method as 'GET', url: toFastifyPath(path) }), `${method} ${path} is a real route`)
    }
    t.equal(ops.length, routes.length, 'as many operations as routes')
  })

  await t.test('every operation is tagged, summarised, described and has a 2xx response', async (t) => {
    const declaredTags = new Set((doc.tags as { name: string }[]).map((tag) => tag.name))
    for (const [method, path, op] of ops) {
      const name = `${method} ${path}`
      t.ok(op.tags?.length, `${name} has tags`)
      for (const tag of op.tags ?? []) t.ok(declaredTags.has(tag), `${name}: tag ${tag} is declared at the top level`)
      t.ok(op.summary?.trim(), `${name} has a summary`)
      t.ok(op.description?.trim(), `${name} has a description`)
      t.ok(Object.keys(op.responses).some((c) => /^2\d\d$/.test(c)), `${name} documents a 2xx response`)
    }
  })

  await t.test('request and response examples exist and match their schemas', async (t) => {
    const ajv = schemaValidator()
    const check = (name: string, media: Media) => {
      const examples = examplesOf(media)
      t.ok(examples.length > 0, `${name} has an example`)
      if (!media.schema) return
      const validate = ajv.compile(media.schema)
      for (const example of examples) {
        t.ok(validate(example), `${name}: example matches the schema`, { errors: validate.errors, example })
      }
    }
    for (const [method, path, op] of ops) {
      for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
        check(`${method} ${path} request body (${type})`, media)
      }
      // The main success response: the lowest 2xx that has a body (a 204 has none to show).
      const success = Object.keys(op.responses)
        .filter((c) => /^2\d\d$/.test(c) && op.responses[c].content)
        .sort()[0]
      for (const [type, media] of Object.entries(success ? op.responses[success].content! : {})) {
        check(`${method} ${path} ${success} response (${type})`, media)
      }
    }
  })

  await t.test("every error response carries Vigil's error code enum", async (t) => {
    let checked = 0
    for (const [method, path, op] of ops) {
      for (const [status, response] of Object.entries(op.responses)) {
        if (!/^[45]\d\d$/.test(status)) continue
        for (const [type, media] of Object.entries(response.content ?? {})) {
          const name = `${method} ${path} ${status} (${type})`
          const schema = media.schema as { properties?: Record<string, any>; required?: string[] } | undefined
          const props = schema?.properties ?? {}
          // Splunk HEC clients read `code` as Splunk's number; Vigil's code is `vigil_code` there.
          const field = props.code?.type === 'integer' ? 'vigil_code' : 'code'
          t.same(props[field]?.enum, ERROR_CODES, `${name}: \`${field}\` is the catalogue's enum`)
          t.equal(props[field]?.type, 'string', `${name}: \`${field}\` is a string`)
          if (field === 'code') t.ok(schema?.required?.includes('code'), `${name}: \`code\` is required`)
          checked++
        }
      }
    }
    t.ok(checked >= 150, `${checked} error responses checked`)
  })

  await t.test('every response is described for its own status, with an example that fits it', async (t) => {
    let errorsChecked = 0
    for (const [method, path, op] of ops) {
      const name = `${method} ${path}`
      const seen = new Map<string, string>()
      for (const [status, response] of Object.entries(op.responses)) {
        const description = (response as { description?: string }).description ?? ''
        t.ok(description.trim(), `${name} ${status} is described`)
        t.notMatch(description, /^(Default Response|Every error has this shape)$/, `${name} ${status}: not a generic description`)
        if (!/^[45]\d\d$/.test(status)) continue
        t.notOk(seen.has(description), `${name} ${status}: its description is not also ${seen.get(description)}'s`)
        seen.set(description, status)
        for (const [type, media] of Object.entries(response.content ?? {})) {
          for (const example of examplesOf(media) as Record<string, unknown>[]) {
            // Vigil's code (`vigil_code` where Splunk's numeric `code` sits) always has its status.
            const code = (typeof example.code === 'string' ? example.code : example.vigil_code) as ErrorCode | undefined
            if (code === undefined) continue
            t.equal(statusOf(code), Number(status), `${name} ${status} (${type}): the example's code ${code} is a ${status}`)
            errorsChecked++
          }
        }
      }
    }
    t.ok(errorsChecked >= 150, `${errorsChecked} error examples checked`)
  })

  await t.test('every union schema is titled (the docs page shows a title, not a bare anyOf)', async (t) => {
    const untitled: string[] = []
    const walk = (node: unknown, where: string) => {
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${where}[${i}]`))
      if (node === null || typeof node !== 'object') return
      const o = node as Record<string, unknown>
      if ((o.anyOf || o.oneOf) && typeof o.title !== 'string') untitled.push(where)
      for (const [k, v] of Object.entries(o)) if (!['example', 'examples'].includes(k)) walk(v, `${where}.${k}`)
    }
    walk(doc.paths, 'paths')
    t.same(untitled, [])
  })

  await t.test('ingestion routes take an ingest key, a bearer token or the login of the page', async (t) => {
    const ingest = ops.filter(([, , op]) => op['x-permission'] === 'events:ingest')
    t.ok(ingest.length >= 10, `${ingest.length} ingestion operations`)
    for (const [method, path, op] of ingest) {
      t.same(op.security, [{ ingestKey: [] }, { bearerAuth: [] }, { oauth2: [] }], `${method} ${path}: any of the three`)
    }
  })

  await t.test('every array a request body may hold is bounded (maxItems), so validation errors are too', async (t) => {
    const unbounded: string[] = []
    const walk = (node: unknown, where: string) => {
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${where}[${i}]`))
      if (node === null || typeof node !== 'object') return
      const o = node as Record<string, unknown>
      if (o.type === 'array' && typeof o.maxItems !== 'number') unbounded.push(where)
      for (const [k, v] of Object.entries(o)) if (!['examples', 'example', 'enum', 'default', 'const'].includes(k)) walk(v, `${where}.${k}`)
    }
    for (const [method, path, op] of ops) {
      for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) walk(media.schema, `${method} ${path} (${type})`)
    }
    t.same(unbounded, [])
  })

  await t.test('security entries agree with what each route does to an anonymous caller', async (t) => {
    const schemes = new Set(Object.keys(doc.components.securitySchemes))
    for (const [method, path, op] of ops) {
      const name = `${method} ${path}`
      t.ok(Array.isArray(op.security), `${name} states its security`)
      const isPublic = op['x-permission'] === undefined
      // Every path parameter is an id here; 1 reaches the route whatever it names.
      const url = path.replace(/\{\w+\}/g, '1')
      const anonymous = await inject(app, { method: method as 'GET', url })
      if (isPublic) {
        t.same(op.security, [], `${name} is public: no security requirement`)
        t.not(anonymous.status, 401, `${name} is public: an anonymous call is not refused as unauthenticated`)
        continue
      }
      t.ok(op.security!.length > 0, `${name} requires credentials`)
      for (const requirement of op.security!) {
        for (const scheme of Object.keys(requirement)) t.ok(schemes.has(scheme), `${name}: scheme ${scheme} is defined`)
      }
      t.ok(op.responses['401'], `${name} documents 401`)
      t.ok(op.responses['403'], `${name} documents 403`)
      t.equal(anonymous.status, 401, `${name} refuses an anonymous call with 401`)
    }
  })
})

t.test('the README lists every error code with its status', async (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  const listed = [...readme.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map(([, code, status]) => [code, Number(status)])
  t.same(listed, Object.entries(ERROR_CATALOGUE).map(([code, { status }]) => [code, status]), 'one row per code, in catalogue order')
})
