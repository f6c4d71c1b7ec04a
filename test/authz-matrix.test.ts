// The complete authorization matrix: every route the app serves x every kind of caller -> the
// exact status. The route list comes from the app's own OpenAPI document and its router (for
// routes kept out of the document, like GET /metrics), so a route added without a row here fails
// this test. The app runs with every optional route enabled (METRICS_TOKEN). Each probe uses an
// unknown id and an empty body, so a caller who gets past authorization meets a deterministic
// 200/400/404 instead of changing data.
import { createHmac, randomBytes } from 'node:crypto'
import t from 'tap'
import { eq } from 'drizzle-orm'
import { generateIngestKey } from '../src/auth/ingest-keys.js'
import { ingestKeys, users } from '../src/db/schema.js'
import { statusOf, type ErrorCode } from '../src/errors.js'
import { build, inject, makeUser, TEST_JWT_SECRET } from './helper.js'
import { registeredRoutes, stripSlash, toOpenApiPath } from './support/routes.js'

type Caller =
  | 'anonymous'
  | 'viewer'
  | 'analyst'
  | 'responder'
  | 'admin'
  | 'ingestKey'
  | 'deactivated'
  | 'expired'
  | 'tampered'
  | 'refreshAsAccess'
  | 'metricsToken'
const CALLERS: Caller[] = ['anonymous', 'viewer', 'analyst', 'responder', 'admin', 'ingestKey', 'deactivated', 'expired', 'tampered', 'refreshAsAccess', 'metricsToken']
/**
 * Callers whose credentials are missing or invalid: always 401 on a protected route. The metrics
 * token is a credential for GET /metrics only.
 */
const UNAUTHENTICATED: Caller[] = ['anonymous', 'deactivated', 'expired', 'tampered', 'refreshAsAccess', 'metricsToken']

interface Row {
  /** Status of the probe for a caller the route admits. */
  ok: number
  /** Who the route admits: 'public' for everyone, otherwise the authenticated callers. */
  admits: 'public' | Caller[]
  /** Body sent with the probe (default `{}` for POST/PUT/PATCH). */
  body?: unknown
  /** The content type of a successful answer, when it is not JSON. */
  type?: RegExp
  /** The route takes a credential of its own: every other caller is unauthenticated there (401). */
  ownCredential?: boolean
  /** A query string for the probe (e.g. a stream that ends by itself). */
  query?: string
}

const ALL_USERS: Caller[] = ['viewer', 'analyst', 'responder', 'admin']
/** Detection models are written by analysts and admins. */
const WRITERS: Caller[] = ['analyst', 'admin']
/** Incidents are worked by analysts, responders and admins. */
const CASEWORKERS: Caller[] = ['analyst', 'responder', 'admin']
const INGESTERS: Caller[] = ['ingestKey', 'admin']
/** Alerts are triaged by responders and admins. */
const TRIAGERS: Caller[] = ['responder', 'admin']

// METHOD path (as in the OpenAPI document) -> expectation.
const MATRIX: Record<string, Row> = {
  'POST /api/token': { ok: 400, admits: 'public' },
  'POST /api/token/refresh': { ok: 400, admits: 'public' },
  'POST /api/auth/register': { ok: 403, admits: 'public' }, // registration is off by default
  'POST /api/auth/token': { ok: 400, admits: 'public' },
  'GET /api/auth/me': { ok: 200, admits: ALL_USERS },
  'POST /api/auth/logout': { ok: 400, admits: ALL_USERS },
  'GET /api/users': { ok: 200, admits: ['admin'] },
  'POST /api/users': { ok: 400, admits: ['admin'] },
  'GET /api/users/{id}': { ok: 404, admits: ['admin'] },
  'PATCH /api/users/{id}': { ok: 404, admits: ['admin'] },
  'DELETE /api/users/{id}': { ok: 404, admits: ['admin'] },
  'GET /api/events': { ok: 200, admits: ['admin'] },
  'POST /api/events': { ok: 400, admits: ['admin'] },
  'GET /api/events/{id}': { ok: 404, admits: ['admin'] },
  'PUT /api/events/{id}': { ok: 400, admits: ['admin'] },
  'PATCH /api/events/{id}': { ok: 404, admits: ['admin'] },
  'DELETE /api/events/{id}': { ok: 404, admits: ['admin'] },
  'GET /api/alerts': { ok: 200, admits: ALL_USERS },
  'POST /api/alerts': { ok: 400, admits: ['admin'] },
  'GET /api/alerts/stats': { ok: 200, admits: ALL_USERS },
  // The stream answers 200 and stays open; the probe's ends after a second.
  'GET /api/alerts/stream': { ok: 200, admits: ALL_USERS, query: '?timeout=1', type: /^text\/event-stream/ },
  'POST /api/alerts/stream/ticket': { ok: 201, admits: ALL_USERS },
  'GET /api/alerts/{id}': { ok: 404, admits: ALL_USERS },
  'PATCH /api/alerts/{id}': { ok: 400, admits: TRIAGERS },
  'POST /api/alerts/bulk': { ok: 400, admits: TRIAGERS },
  'GET /api/alerts/bulk': { ok: 200, admits: ALL_USERS },
  'GET /api/alerts/bulk/{id}': { ok: 404, admits: ALL_USERS },
  'GET /api/alerts/{id}/history': { ok: 404, admits: ALL_USERS },
  'GET /api/alerts/{id}/events': { ok: 404, admits: ALL_USERS },
  'GET /api/alerts/{id}/comments': { ok: 404, admits: ALL_USERS },
  'POST /api/alerts/{id}/comments': { ok: 400, admits: TRIAGERS },
  'DELETE /api/alerts/{id}/comments/{comment_id}': { ok: 404, admits: TRIAGERS },
  'GET /api/incidents': { ok: 200, admits: ALL_USERS },
  'POST /api/incidents': { ok: 400, admits: CASEWORKERS },
  'GET /api/incidents/{id}': { ok: 404, admits: ALL_USERS },
  'PATCH /api/incidents/{id}': { ok: 404, admits: CASEWORKERS },
  'DELETE /api/incidents/{id}': { ok: 404, admits: ['admin'] },
  'POST /api/incidents/{id}/alerts': { ok: 400, admits: CASEWORKERS },
  'DELETE /api/incidents/{id}/alerts/{alert_id}': { ok: 404, admits: CASEWORKERS },
  'POST /api/incidents/{id}/entities': { ok: 400, admits: CASEWORKERS },
  'DELETE /api/incidents/{id}/entities/{entity_id}': { ok: 404, admits: CASEWORKERS },
  'GET /api/models': { ok: 200, admits: ALL_USERS },
  'POST /api/models': { ok: 400, admits: WRITERS },
  'GET /api/models/{id}': { ok: 404, admits: ALL_USERS },
  'PUT /api/models/{id}': { ok: 400, admits: WRITERS },
  'PATCH /api/models/{id}': { ok: 404, admits: WRITERS },
  'DELETE /api/models/{id}': { ok: 404, admits: WRITERS },
  'POST /api/models/{id}/retrain': { ok: 404, admits: WRITERS },
  'POST /api/models/{id}/test': { ok: 400, admits: WRITERS },
  'POST /api/models/import': { ok: 400, admits: WRITERS },
  // Saved views: every user has their own; an ingest key has none.
  'GET /api/views': { ok: 200, admits: ALL_USERS },
  'POST /api/views': { ok: 400, admits: ALL_USERS },
  'GET /api/views/{id}': { ok: 404, admits: ALL_USERS },
  'DELETE /api/views/{id}': { ok: 404, admits: ALL_USERS },
  // Suppressions: admins only, reading them too.
  'GET /api/suppressions': { ok: 200, admits: ['admin'] },
  'POST /api/suppressions': { ok: 400, admits: ['admin'] },
  'GET /api/suppressions/{id}': { ok: 404, admits: ['admin'] },
  'PATCH /api/suppressions/{id}': { ok: 404, admits: ['admin'] },
  'DELETE /api/suppressions/{id}': { ok: 404, admits: ['admin'] },
  'GET /api/audit': { ok: 200, admits: ['admin'] },
  // Webhooks: admins only (webhooks:manage).
  'GET /api/webhooks': { ok: 200, admits: ['admin'] },
  'POST /api/webhooks': { ok: 400, admits: ['admin'] },
  'GET /api/webhooks/{id}': { ok: 404, admits: ['admin'] },
  'PATCH /api/webhooks/{id}': { ok: 404, admits: ['admin'] },
  'DELETE /api/webhooks/{id}': { ok: 404, admits: ['admin'] },
  'POST /api/webhooks/{id}/rotate': { ok: 404, admits: ['admin'] },
  'GET /api/webhooks/{id}/deliveries': { ok: 404, admits: ['admin'] },
  'POST /api/webhooks/{id}/deliveries/{delivery_id}/redeliver': { ok: 404, admits: ['admin'] },
  'POST /api/webhooks/{id}/test': { ok: 404, admits: ['admin'] },
  'GET /api/ingest-keys': { ok: 200, admits: ['admin'] },
  'POST /api/ingest-keys': { ok: 400, admits: ['admin'] },
  'GET /api/ingest-keys/{id}': { ok: 404, admits: ['admin'] },
  'DELETE /api/ingest-keys/{id}': { ok: 404, admits: ['admin'] },
  // Ingestion: an ingest key or an admin. `{}` is one record with no usable fields: rejected on
  // its own inside a 200 (bulk, Elasticsearch) or a HEC 400, never the whole request.
  'POST /api/events/bulk': { ok: 200, admits: INGESTERS },
  'POST /services/collector': { ok: 400, admits: INGESTERS },
  'POST /services/collector/event': { ok: 400, admits: INGESTERS },
  'POST /services/collector/event/1.0': { ok: 400, admits: INGESTERS },
  'GET /services/collector/health': { ok: 200, admits: 'public' },
  'GET /services/collector/health/1.0': { ok: 200, admits: 'public' },
  'GET /': { ok: 200, admits: 'public' },
  'GET /_cat/health': { ok: 200, admits: 'public', type: /^text\/plain/ }, // as Elasticsearch answers it
  'POST /_bulk': { ok: 400, admits: INGESTERS },
  'PUT /_bulk': { ok: 400, admits: INGESTERS },
  'POST /{index}/_bulk': { ok: 400, admits: INGESTERS },
  'PUT /{index}/_bulk': { ok: 400, admits: INGESTERS },
  'GET /_refresh': { ok: 200, admits: INGESTERS },
  'POST /_refresh': { ok: 200, admits: INGESTERS },
  'GET /{index}/_refresh': { ok: 200, admits: INGESTERS },
  'POST /{index}/_refresh': { ok: 200, admits: INGESTERS },
  'GET /health': { ok: 200, admits: 'public' },
  'GET /health/live': { ok: 200, admits: 'public' },
  // Prometheus text, for the metrics token alone (README, Metrics).
  'GET /metrics': { ok: 200, admits: ['metricsToken'], ownCredential: true, type: /^text\/plain; version=0\.0\.4/ }
}

/** The error code of a refusal: none sent means not_authenticated; bad ones, invalid_token. */
function expectedCode(status: number, caller: Caller): ErrorCode | undefined {
  if (status === 401) return caller === 'anonymous' ? 'not_authenticated' : 'invalid_token'
  if (status === 403) return 'permission_denied'
  return undefined
}

/** Vigil's code in any error body: `code`, or `vigil_code` where Splunk's numeric `code` sits. */
const codeOf = (body: any): unknown => (typeof body?.code === 'string' ? body.code : body?.vigil_code)

function expected(row: Row, caller: Caller): number {
  if (row.admits === 'public' || row.admits.includes(caller)) return row.ok
  return UNAUTHENTICATED.includes(caller) || row.ownCredential ? 401 : 403
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')

const METRICS_TOKEN = randomBytes(24).toString('hex')

t.test('every route x every caller', async (t) => {
  const app = await build(t, { METRICS_TOKEN })
  const [viewer, analyst, responder, admin, gone] = await Promise.all([
    makeUser(app, 'viewer'),
    makeUser(app, 'analyst'),
    makeUser(app, 'responder'),
    makeUser(app, 'admin'),
    makeUser(app, 'analyst')
  ])
  await app.db.update(users).set({ isActive: false }).where(eq(users.id, gone.user.id))
  const key = generateIngestKey()
  await app.db.insert(ingestKeys).values({ name: 'matrix', keyHash: key.hash, prefix: key.prefix })

  const now = Math.floor(Date.now() / 1000)
  const sign = (payload: object) => {
    const head = b64({ alg: 'HS256', typ: 'JWT' })
    const body = b64(payload)
    return `${head}.${body}.${createHmac('sha256', TEST_JWT_SECRET).update(`${head}.${body}`).digest('base64url')}`
  }
  const expiredToken = sign({ sub: String(admin.user.id), typ: 'access', tv: 0, iss: 'vigil', aud: 'vigil-api', iat: now - 7200, exp: now - 3600 })
  const [h, , s] = viewer.token.split('.')
  const tampered = `${h}.${b64({ ...JSON.parse(Buffer.from(viewer.token.split('.')[1], 'base64url').toString()), sub: String(admin.user.id) })}.${s}`

  const headers: Record<Caller, Record<string, string>> = {
    anonymous: {},
    viewer: viewer.auth,
    analyst: analyst.auth,
    responder: responder.auth,
    admin: admin.auth,
    ingestKey: { authorization: `Bearer ${key.key}` },
    deactivated: gone.auth,
    expired: { authorization: `Bearer ${expiredToken}` },
    tampered: { authorization: `Bearer ${tampered}` },
    refreshAsAccess: { authorization: `Bearer ${admin.refresh}` },
    metricsToken: { authorization: `Bearer ${METRICS_TOKEN}` }
  }

  const doc = (await inject(app, { method: 'GET', url: '/docs/json' })).body
  const served: string[] = []
  for (const [path, ops] of Object.entries<Record<string, unknown>>(doc.paths)) {
    for (const method of Object.keys(ops)) served.push(`${method.toUpperCase()} ${path}`)
  }
  // Routes the document leaves out (HEAD answers as its GET; the docs UI is public documentation).
  for (const r of registeredRoutes(app)) {
    const route = `${r.method} ${stripSlash(toOpenApiPath(r.url))}`
    if (r.method !== 'HEAD' && !/^\/docs(\/|\*|$)/.test(r.url) && !served.includes(route)) served.push(route)
  }
  t.same([...served].sort(), Object.keys(MATRIX).sort(), 'the matrix has exactly one row per route the app serves')

  for (const route of served) {
    const row = MATRIX[route]
    if (!row) continue
    const [method, path] = route.split(' ')
    const url = path.replace('{index}', 'logs').replace(/\{[^}]+\}/g, '999999') + (row.query ?? '')
    const payload = ['POST', 'PUT', 'PATCH'].includes(method) ? (row.body ?? {}) : undefined
    for (const caller of CALLERS) {
      const res = await inject(app, { method: method as any, url, headers: headers[caller], payload: payload as any })
      t.equal(res.status, expected(row, caller), `${route} as ${caller}`)
      const type = res.status < 400 && row.type ? row.type : /^application\/json/
      t.match(res.headers['content-type'], type, `${route} as ${caller}: content type`)
      if (res.status >= 400) {
        t.type(res.body.detail, 'string', `${route} as ${caller}: error shape`)
        const code = codeOf(res.body)
        const want = expectedCode(res.status, caller)
        if (want) t.equal(code, want, `${route} as ${caller}: code ${want}`)
        else t.equal(statusOf(code as ErrorCode), res.status, `${route} as ${caller}: code ${String(code)} goes with ${res.status}`)
      }
      // Refusals in DRF's words, which clients of the original compare.
      if (res.status === 403 && row.admits !== 'public') t.equal(res.body.detail, 'You do not have permission to perform this action.', `${route} as ${caller}: 403 detail`)
      if (res.status === 401 && caller === 'anonymous') t.equal(res.body.detail, 'Authentication credentials were not provided.', `${route} as ${caller}: 401 detail`)
    }
  }
})
