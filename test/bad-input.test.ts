// Immunity to bad input: a generated corpus of malformed requests across every route (wrong
// types, huge strings, unicode edge cases, NUL bytes, objects where strings belong, SQL and JSON
// injection strings, bad ids and page numbers, duplicate keys, bad encodings and content types).
// Every one must get a 4xx in the JSON error shape with the error code the case expects (and the
// status that code always comes with), none a 5xx, and the database must be exactly as it was
// (row counts and a content checksum of every table).
import { deflateSync, gzipSync } from 'node:zlib'
import t from 'tap'
import { sql } from 'drizzle-orm'
import type { FastifyInstance, InjectOptions } from 'fastify'
import * as schema from '../src/db/schema.js'
import { statusOf, type ErrorCode } from '../src/errors.js'
import { MAX_FIELD_ERRORS } from '../plugins/errors.js'
import { build, inject, makeUser } from './helper.js'

const SQLI = ["' OR '1'='1", "1; DROP TABLE events; --", "'); DELETE FROM users; --", '" OR ""="', "1' UNION SELECT password_hash FROM users --"]
const JSONI = ['{"$gt": ""}', '{"__proto__": {"admin": true}}', '","role":"admin']
const UNICODE = ['\u0000', 'High\u0000', 'Hi\u200bgh', '\ud800', '\u202eHgih', 'ＨＩＧＨ', '🔥'.repeat(300), 'é'.repeat(70_000)]
const BAD_IDS = ['abc', '-1', '0', '1.5', '1e3', '99999999999999999999', "1' OR '1'='1", '1;DROP TABLE events', '%00', '0x10', 'NaN', '%F0%9F%94%A5']
const BAD_PAGES = ['page=-1', 'page=0', 'page=abc', 'page=99999999999999', 'page_size=0', 'page_size=1000', 'page_size=-5', 'page_size=1e9', 'page=1%00']

/** The code a case expects, or `like`: whatever the same request with this URL answers. */
type Expect = ErrorCode | { like: string }
type Case = { name: string; code: Expect } & InjectOptions

/** Vigil's code in any error body: `code`, or `vigil_code` where Splunk's numeric `code` sits. */
const codeOf = (body: any): unknown => (typeof body?.code === 'string' ? body.code : body?.vigil_code)

async function snapshot(app: FastifyInstance) {
  const tables = {
    users: schema.users,
    events: schema.events,
    alerts: schema.alerts,
    incidents: schema.incidents,
    incident_alerts: schema.incidentAlerts,
    incident_entities: schema.incidentEntities,
    ingest_keys: schema.ingestKeys,
    refresh_tokens: schema.refreshTokens,
    models: schema.models,
    alert_comments: schema.alertComments,
    alert_history: schema.alertHistory,
    bulk_jobs: schema.bulkJobs,
    saved_views: schema.savedViews,
    suppressions: schema.suppressions,
    webhooks: schema.webhooks,
    webhook_deliveries: schema.webhookDeliveries,
    webhook_attempts: schema.webhookAttempts
  }
  const out: Record<string, unknown> = {}
  for (const [name, table] of Object.entries(tables)) {
    const res: any = await app.db.execute(
      sql`select count(*)::int as n, md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as h from ${table} x`
    )
    const row = (res.rows ?? res)[0]
    out[name] = `${row.n}:${row.h}`
  }
  // Failed logins are audited by design; anything else written to the audit trail is a change.
  const audit: any = await app.db.execute(
    sql`select count(*)::int as n, md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as h from ${schema.auditLog} x where action <> 'auth.login_failed'`
  )
  out.audit_log = `${(audit.rows ?? audit)[0].n}:${(audit.rows ?? audit)[0].h}`
  return out
}

t.test('malformed requests: all 4xx, none 5xx, database unchanged', async (t) => {
  const app = await build(t, {
    BODY_LIMIT: 256 * 1024,
    INGEST_MAX_BODY_BYTES: 64 * 1024,
    INGEST_MAX_DECOMPRESSED_BYTES: 256 * 1024,
    INGEST_MAX_RECORDS: 100,
    // A webhook to aim at, on a local address; nothing is delivered while the corpus runs.
    WEBHOOK_ALLOW_PRIVATE: true,
    WEBHOOKS_ENABLED: false
  })
  const admin = await makeUser(app, 'admin')
  const analyst = await makeUser(app, 'analyst')
  const auth = admin.auth
  // Something to aim at: an event with its alert, an incident, a user.
  const ev = await inject(app, { method: 'POST', url: '/api/events/', headers: auth, payload: { source: 'fw', event_type: 'intrusion', severity: 'High' } })
  const alert = (await inject(app, { method: 'GET', url: '/api/alerts/', headers: auth })).body.results[0]
  const inc = await inject(app, { method: 'POST', url: '/api/incidents/', headers: auth, payload: { title: 'case', severity: 'High', alert_ids: [alert.id] } })
  t.equal(inc.status, 201)
  const keyRes = await inject(app, { method: 'POST', url: '/api/ingest-keys/', headers: auth, payload: { name: 'fuzz' } })
  const ingestAuth = { authorization: `Bearer ${keyRes.body.key}` }
  const RULE = 'title: t\nlogsource: {product: linux}\ndetection:\n  sel:\n    a: b\n  condition: sel\n'
  const model = await inject(app, { method: 'POST', url: '/api/models/', headers: auth, payload: { name: 'target', model_type: 'sigma', definition: RULE } })
  t.equal(model.status, 201)
  const expiresAt = new Date(Date.now() + 30 * 86_400_000).toISOString()
  const suppression = await inject(app, { method: 'POST', url: '/api/suppressions/', headers: auth, payload: { source: 'fuzz-target', reason: 'r', expires_at: expiresAt } })
  t.equal(suppression.status, 201)
  const webhook = await inject(app, { method: 'POST', url: '/api/webhooks/', headers: auth, payload: { name: 'fuzz', url: 'http://127.0.0.1:9/hook' } })
  t.equal(webhook.status, 201)
  // Use the key once, so its last-used time is already set when the snapshot is taken.
  const warm = await inject(app, { method: 'POST', url: '/api/events/bulk', headers: ingestAuth, payload: '{"source":"warm","event_type":"anomaly","severity":"Low","external_id":"w"}' })
  t.equal(warm.status, 200)
  const before = await snapshot(app)

  const cases: Case[] = []
  const add = (name: string, code: Expect, opts: InjectOptions) =>
    cases.push({ name, code, headers: auth, ...opts, ...(opts.headers ? { headers: { ...auth, ...opts.headers } } : {}) } as Case)

  // 1. Bad ids in every path that takes one.
  const doc = (await inject(app, { method: 'GET', url: '/docs/json' })).body
  for (const [path, ops] of Object.entries<Record<string, unknown>>(doc.paths)) {
    // Numeric ids only: an Elasticsearch {index} is a free-form name.
    if (!/\{(\w*_)?id\}/.test(path)) continue
    for (const method of Object.keys(ops)) {
      for (const bad of BAD_IDS) {
        const url = path.replace(/\{(\w*_)?id\}/g, bad)
        // Hex and exponent ids are read as the numbers they spell (query/path coercion): they
        // answer as an absent id would.
        const code: Expect = ['0x10', '1e3'].includes(bad) ? { like: path.replace(/\{(\w*_)?id\}/g, '999999') } : 'validation_failed'
        add(`${method.toUpperCase()} ${path} id=${bad}`, code, { method: method.toUpperCase() as any, url, payload: ['post', 'put', 'patch'].includes(method) ? { status: 'Resolved' } : undefined })
      }
    }
  }

  // 2. Bad page numbers and filters on every list.
  const lists: Record<string, string[]> = {
    '/api/events/': ['severity', 'event_type', 'timestamp_after', 'timestamp_before'],
    '/api/alerts/': ['severity', 'status', 'event_type', 'created_after', 'created_before', 'verdict', 'assignee', 'unassigned', 'tag'],
    '/api/incidents/': ['severity', 'status', 'assignee'],
    '/api/users/': ['role', 'is_active'],
    '/api/audit/': ['actor_id', 'created_after', 'created_before'],
    '/api/models/': ['status', 'model_type', 'is_active'],
    [`/api/alerts/${alert.id}/history/`]: [],
    [`/api/alerts/${alert.id}/comments/`]: [],
    [`/api/alerts/${alert.id}/events/`]: [],
    '/api/views/': ['list', 'shared', 'mine'],
    '/api/suppressions/': ['active', 'owner'],
    '/api/webhooks/': ['active'],
    [`/api/webhooks/${webhook.body.id}/deliveries/`]: ['state']
  }
  for (const [url, filters] of Object.entries(lists)) {
    for (const q of BAD_PAGES) add(`GET ${url}?${q}`, 'validation_failed', { method: 'GET', url: `${url}?${q}` })
    for (const f of filters) {
      for (const v of [...SQLI, ...JSONI, '\u0000', 'Hi\u200bgh', '🔥', '[object Object]']) {
        add(`GET ${url}?${f}=${JSON.stringify(v)}`, 'validation_failed', { method: 'GET', url: `${url}?${f}=${encodeURIComponent(v)}` })
      }
      add(`GET ${url}?${f}[]=x`, 'validation_failed', { method: 'GET', url: `${url}?${f}[$gt]=x&${f}=a&${f}=b` })
    }
    add(`GET ${url} huge query`, 'uri_too_long', { method: 'GET', url: `${url}?search=${'x'.repeat(9000)}` })
  }

  // 3. Bodies: each field of each writing route given wrong types, injections and edge cases.
  const bodies: [string, string, Record<string, unknown>, string[]][] = [
    ['POST', '/api/events/', { source: 'fw', event_type: 'intrusion', severity: 'Low' }, ['event_type', 'severity']],
    ['PUT', `/api/events/${ev.body.id}/`, { source: 'fw', event_type: 'intrusion', severity: 'Low' }, ['event_type', 'severity']],
    ['PATCH', `/api/events/${ev.body.id}/`, { severity: 'Low' }, ['severity']],
    ['POST', '/api/alerts/', { event: ev.body.id }, ['event', 'status']],
    ['PATCH', `/api/alerts/${alert.id}/`, { status: 'Resolved' }, ['status', 'verdict', 'reason', 'assignee', 'add_tags', 'remove_tags']],
    ['POST', '/api/alerts/bulk/', { ids: [alert.id], set: { status: 'Resolved' } }, ['ids', 'set', 'filter']],
    ['POST', `/api/alerts/${alert.id}/comments/`, { body: 'note' }, ['body']],
    ['POST', '/api/incidents/', { title: 't', severity: 'Low' }, ['severity', 'status', 'assignee']],
    ['PATCH', `/api/incidents/${inc.body.id}/`, { title: 't' }, ['severity', 'status', 'assignee']],
    ['POST', `/api/incidents/${inc.body.id}/entities/`, { type: 'ip', value: '10.0.0.1' }, ['type', 'value']],
    ['POST', `/api/incidents/${inc.body.id}/alerts/`, { alert_ids: [alert.id] }, ['alert_ids']],
    ['POST', '/api/users/', { username: 'newbie', password: 'long-enough-password', role: 'viewer' }, ['username', 'role', 'email']],
    ['PATCH', `/api/users/${analyst.user.id}/`, { role: 'viewer' }, ['role', 'is_active', 'email']],
    ['POST', '/api/token/', { username: 'x', password: 'y' }, ['username', 'password']],
    ['POST', '/api/token/refresh/', { refresh: 'x' }, ['refresh']],
    ['POST', '/api/auth/logout', { refresh: 'x' }, ['refresh']],
    ['POST', '/api/views/', { name: 'v', list: 'alerts', filters: { severity: 'High' } }, ['name', 'list', 'filters', 'shared']],
    ['POST', '/api/suppressions/', { source: 'scanner', reason: 'r', expires_at: expiresAt }, ['source', 'event_type', 'severity', 'rule_id', 'fields', 'reason', 'owner', 'expires_at', 'resolve_matching']],
    ['PATCH', `/api/suppressions/${suppression.body.id}/`, { reason: 'r' }, ['reason', 'owner', 'expires_at']],
    ['POST', '/api/webhooks/', { name: 'h', url: 'http://127.0.0.1:9/hook' }, ['name', 'url', 'event_types', 'filter', 'active']],
    ['PATCH', `/api/webhooks/${webhook.body.id}/`, { name: 'h' }, ['name', 'url', 'event_types', 'filter', 'active']],
    ['POST', `/api/webhooks/${webhook.body.id}/rotate/`, { overlap_seconds: 60 }, ['overlap_seconds']]
  ]
  for (const [method, url, base, fields] of bodies) {
    for (const field of fields) {
      const values: unknown[] = [12345, -1, 1.5, true, { nested: 'object' }, ['array'], null, 'x'.repeat(300_000)]
      // Invalid strings go where the value must be an enum, a number or an id; free-text fields
      // take any string by design and are covered by the injection test below.
      const freeText = ['value', 'name', 'reason', 'body', 'source', 'rule_id']
      if (!['username', 'password', 'refresh', ...freeText].includes(field)) values.push(...SQLI, ...JSONI, ...UNICODE)
      if (freeText.includes(field)) values.push('\u0000', 'a\u0000b', '\ud800', '\u202eexe.txt')
      for (const v of values) {
        const payload = { ...base, [field]: v }
        // Values the field legitimately takes are not malformed: null unassigns or clears.
        if (v === null && ['assignee', 'email', 'reason'].includes(field)) continue
        if (typeof v === 'boolean' && ['is_active', 'shared', 'active'].includes(field)) continue
        // 12345 seconds is an overlap a rotation takes.
        if (v === 12345 && field === 'overlap_seconds') continue
        // A list of one tag is a valid list of tags.
        if (Array.isArray(v) && ['add_tags', 'remove_tags'].includes(field)) continue
        // An object of one field path and its value is a valid match of fields.
        if (field === 'fields' && typeof v === 'object' && v !== null && !Array.isArray(v)) continue
        // A 300 KB string is over BODY_LIMIT before it is a bad value; a valid event id that
        // does not exist is not found.
        const code: ErrorCode =
          typeof v === 'string' && v.length === 300_000 ? 'payload_too_large' : field === 'event' && v === 12345 ? 'not_found' : 'validation_failed'
        add(`${method} ${url} ${field}=${JSON.stringify(v)?.slice(0, 40)}`, code, { method: method as any, url, payload: payload as any })
      }
    }
    // Raw bodies: malformed, empty, duplicate keys, wrong content types, encodings, depth, poison.
    const raw = (name: string, code: ErrorCode, payload: string | Buffer, headers: Record<string, string>) =>
      add(`${method} ${url} ${name}`, code, { method: method as any, url, payload, headers })
    const json = { 'content-type': 'application/json' }
    raw('malformed JSON', 'malformed_request', '{"severity": "Low",', json)
    raw('empty JSON body', 'empty_body', '', json)
    raw('JSON null', 'validation_failed', 'null', json)
    raw('JSON array', 'validation_failed', '[]', json)
    raw('JSON string', 'validation_failed', '"High"', json)
    raw('duplicate keys', 'validation_failed', `{${Object.entries(base).map(([k, v]) => `"${k}":${JSON.stringify(v)}`).join(',')},"${fields[0]}":{"$ne":null}}`, json)
    raw('xml', 'unsupported_media_type', '<event severity="High"/>', { 'content-type': 'application/xml' })
    raw('multipart', 'unsupported_media_type', '--b\r\n\r\nx\r\n--b--', { 'content-type': 'multipart/form-data; boundary=b' })
    raw('gzip body without support', 'malformed_request', gzipSync(JSON.stringify(base)), { ...json, 'content-encoding': 'gzip' })
    raw('invalid gzip', 'malformed_request', Buffer.from('not gzip at all'), { ...json, 'content-encoding': 'gzip' })
    raw('deep nesting', 'malformed_request', `${'['.repeat(5000)}${']'.repeat(5000)}`, json)
    raw('prototype poisoning', 'malformed_request', JSON.stringify(base).replace(/^\{/, '{"__proto__":{"role":"admin"},'), json)
    raw('body over the limit', 'payload_too_large', JSON.stringify({ ...base, pad: 'x'.repeat(300 * 1024) }), json)
  }
  // 4. Whole-body problems on every ingestion endpoint (per-record problems are answered 200 with
  // per-record errors by design, so that one bad record never blocks a shipper's queue).
  const bomb = gzipSync(Buffer.alloc(2 * 1024 * 1024, 'a'))
  const record = '{"source":"s","event_type":"anomaly","severity":"Low","message":"m"}\n'
  const ingestBodies: [string, ErrorCode, string | Buffer, Record<string, string>][] = [
    ['empty body', 'empty_body', '', {}],
    ['not JSON at all', 'malformed_request', 'just some words', { 'content-type': 'text/plain' }],
    ['truncated JSON', 'malformed_request', '{"source": "s", "severity":', { 'content-type': 'application/json' }],
    ['invalid gzip', 'malformed_request', Buffer.from('\x1f\x8bnot really gzip'), { 'content-encoding': 'gzip' }],
    ['invalid deflate', 'malformed_request', Buffer.from('not deflate'), { 'content-encoding': 'deflate' }],
    ['unknown encoding', 'unsupported_encoding', deflateSync(record), { 'content-encoding': 'br' }],
    ['gzip bomb', 'payload_too_large', bomb, { 'content-encoding': 'gzip' }],
    ['over the wire limit', 'payload_too_large', record.repeat(2000), { 'content-type': 'application/x-ndjson' }],
    ['too many records', 'payload_too_large', record.repeat(101), { 'content-type': 'application/x-ndjson' }],
    ['NUL bytes only', 'malformed_request', Buffer.alloc(64), {}]
  ]
  for (const url of ['/api/events/bulk', '/services/collector/event', '/_bulk', '/events/_bulk']) {
    for (const [name, expect, payload, headers] of ingestBodies) {
      // In Elasticsearch's format 101 bare records are not action/document pairs: malformed first.
      const code = name === 'too many records' && url.endsWith('_bulk') ? 'malformed_request' : expect
      cases.push({ name: `POST ${url} ${name}`, code, method: 'POST', url, payload, headers: { ...ingestAuth, ...headers } })
    }
  }
  cases.push({ name: 'POST /_bulk malformed action', code: 'malformed_request', method: 'POST', url: '/_bulk', payload: '{"index":\n{"message":"x"}\n', headers: ingestAuth })
  cases.push({ name: 'POST /_bulk unknown action', code: 'malformed_request', method: 'POST', url: '/_bulk', payload: '{"explode":{}}\n{"message":"x"}\n', headers: ingestAuth })

  // 5. Detection models: bad types, definitions Vigil cannot run, dry runs and imports of the wrong shape.
  const modelBase = { name: 'm', model_type: 'sigma', definition: RULE }
  const modelCases: [string, Expect, InjectOptions][] = [
    ['unknown model_type', 'validation_failed', { method: 'POST', url: '/api/models/', payload: { ...modelBase, model_type: 'neural_network' } }],
    ['definition a number', 'validation_failed', { method: 'POST', url: '/api/models/', payload: { ...modelBase, definition: 12345 } }],
    ['definition not YAML', 'invalid_definition', { method: 'POST', url: '/api/models/', payload: { ...modelBase, definition: 'title: [' } }],
    ['definition an injection', 'invalid_definition', { method: 'POST', url: '/api/models/', payload: { ...modelBase, definition: SQLI[1] } }],
    ['definition a regex RE2 refuses', 'invalid_definition', { method: 'POST', url: '/api/models/', payload: { ...modelBase, definition: RULE.replace('a: b', "a|re: '(a+)+\\1'") } }],
    ['definition with NUL', 'validation_failed', { method: 'POST', url: '/api/models/', payload: { ...modelBase, definition: RULE + '\u0000' } }],
    ['name with NUL', 'validation_failed', { method: 'POST', url: '/api/models/', payload: { ...modelBase, name: 'a\u0000b' } }],
    ['metadata_json not JSON', 'validation_failed', { method: 'POST', url: '/api/models/', payload: { ...modelBase, metadata_json: '{nope' } }],
    ['anomaly settings unknown', 'invalid_definition', { method: 'POST', url: '/api/models/', payload: { ...modelBase, model_type: 'anomaly_detection', definition: 'bucket: forever' } }],
    ['PATCH definition not a rule', 'invalid_definition', { method: 'PATCH', url: `/api/models/${model.body.id}/`, payload: { definition: '- a\n- b\n' } }],
    ['test records not a list', 'validation_failed', { method: 'POST', url: `/api/models/${model.body.id}/test/`, payload: { records: 'x' } }],
    ['test too many records', 'validation_failed', { method: 'POST', url: `/api/models/${model.body.id}/test/`, payload: { records: Array.from({ length: 1001 }, () => ({})) } }],
    ['test records of strings', 'validation_failed', { method: 'POST', url: `/api/models/${model.body.id}/test/`, payload: { records: ['a'] } }],
    ['import as JSON', 'validation_failed', { method: 'POST', url: '/api/models/import', payload: { definition: RULE } }],
    ['import as XML', 'unsupported_media_type', { method: 'POST', url: '/api/models/import', payload: '<rule/>', headers: { 'content-type': 'application/xml' } }],
    ['alerts by a model that is no id', 'validation_failed', { method: 'GET', url: "/api/alerts/?model=1'%20OR%201=1" }],
    ['alerts by a rule id too long', 'validation_failed', { method: 'GET', url: `/api/alerts/?rule_id=${'r'.repeat(300)}` }]
  ]
  for (const [name, code, opts] of modelCases) add(`models: ${name}`, code, opts)

  // The alert stream: its filters, cursors and tickets are refused before any stream opens.
  const streamCases: [string, Expect, InjectOptions][] = [
    ...['severity', 'status', 'event_type', 'verdict', 'assignee', 'unassigned', 'tag', 'model', 'created_after'].flatMap((f): [string, Expect, InjectOptions][] =>
      [...SQLI, '\u0000', '🔥'].map((v) => [`${f}=${JSON.stringify(v)}`, 'validation_failed', { method: 'GET', url: `/api/alerts/stream?${f}=${encodeURIComponent(v)}` }])
    ),
    ...['12', 'x.1', '1.-1', '1.99999999999999999999', SQLI[0], '1.2.3'].map((v): [string, Expect, InjectOptions] => [`after=${v}`, 'validation_failed', { method: 'GET', url: `/api/alerts/stream?after=${encodeURIComponent(v)}` }]),
    ...['x', '1', '1.2.3', SQLI[1]].map((v): [string, Expect, InjectOptions] => [`Last-Event-ID ${v}`, 'validation_failed', { method: 'GET', url: '/api/alerts/stream', headers: { 'last-event-id': v } }]),
    ['timeout 0', 'validation_failed', { method: 'GET', url: '/api/alerts/stream?timeout=0' }],
    ['timeout a day and more', 'validation_failed', { method: 'GET', url: '/api/alerts/stream?timeout=86401' }],
    ['ticket too long', 'validation_failed', { method: 'GET', url: `/api/alerts/stream?ticket=${'t'.repeat(200)}` }]
  ]
  for (const [name, code, opts] of streamCases) add(`stream: ${name}`, code, opts)

  // 6. URLs Fastify refuses before routing, and routes that do not exist.
  add('GET a URL that does not percent-decode', 'malformed_request', { method: 'GET', url: '/api/events/%zz/' })
  add('GET a path parameter over its length limit', 'uri_too_long', { method: 'GET', url: `/api/events/${'1'.repeat(300)}/` })
  add('GET an unknown route', 'not_found', { method: 'GET', url: '/api/nothing-here/' })
  add('DELETE a collection', 'not_found', { method: 'DELETE', url: '/api/events/' })

  // The analyst probing admin routes with bad input still meets authorization first.
  for (const url of ['/api/events/', '/api/users/']) {
    cases.push({ name: `analyst POST ${url} junk`, code: 'permission_denied', method: 'POST', url, headers: analyst.auth, payload: { junk: SQLI[0] } })
  }

  t.ok(cases.length >= 200, `the corpus has ${cases.length} requests`)
  const fiveHundreds: string[] = []
  const notJson: string[] = []
  const wrongCode: string[] = []
  const seen = new Set<unknown>()
  for (const c of cases) {
    const { name, code, ...opts } = c
    const res = await inject(app, opts)
    if (res.status >= 500) fiveHundreds.push(`${name} -> ${res.status}`)
    const ok = res.status >= 400 && res.status < 500 && /^application\/json/.test(String(res.headers['content-type'])) && typeof res.body?.detail === 'string'
    if (!ok && res.status < 500) notJson.push(`${name} -> ${res.status} ${String(res.raw.body).slice(0, 80)}`)
    const want = typeof code === 'string' ? code : codeOf((await inject(app, { ...opts, url: code.like })).body)
    const got = codeOf(res.body)
    seen.add(got)
    if (got !== want || statusOf(got as ErrorCode) !== res.status) wrongCode.push(`${name} -> ${res.status} ${String(got)}, expected ${String(want)}`)
  }
  t.same(fiveHundreds, [], 'no request got a 5xx')
  t.same(notJson, [], 'every request got a 4xx with a JSON {detail}')
  t.same(wrongCode, [], 'every request got the error code it expects, with its status')
  // Guards against a corpus whose expectations collapsed into one code.
  t.ok(seen.size >= 9, `the corpus meets ${seen.size} different codes`)
  t.same(await snapshot(app), before, 'the database is unchanged (row counts and checksums)')
})

t.test('injection strings in free-text fields and filters are inert data', async (t) => {
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  for (const s of SQLI) {
    const created = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: s, event_type: 'anomaly', severity: 'Low', description: s } })
    t.equal(created.status, 201)
    t.equal(created.body.source, s, 'stored verbatim')
  }
  const all = await inject(app, { method: 'GET', url: '/api/events/', headers: admin.auth })
  t.equal(all.body.count, SQLI.length, 'nothing was dropped or deleted')
  const one = await inject(app, { method: 'GET', url: `/api/events/?source=${encodeURIComponent(SQLI[0])}`, headers: admin.auth })
  t.equal(one.body.count, 1, "a filter value matches itself, not everything (' OR '1'='1)")
  const none = await inject(app, { method: 'GET', url: `/api/users/?search=${encodeURIComponent("%' OR 1=1 --")}`, headers: admin.auth })
  t.equal(none.body.count, 0, 'LIKE wildcards and quotes in search match literally')
  const users = await inject(app, { method: 'GET', url: '/api/users/?search=%25', headers: admin.auth })
  t.equal(users.body.count, 0, "'%' alone is not a wildcard")
})

t.test('a body with thousands of bad values answers fast with a bounded error list', async (t) => {
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  const post = (payload: unknown) =>
    inject(app, { method: 'POST', url: '/api/incidents/', headers: { ...admin.auth, 'content-type': 'application/json' }, payload: JSON.stringify(payload) })

  // 200,000 wrong ids (800 KB) in an array bounded at 500: reported by its length alone. Before
  // the bound, Ajv (allErrors) collected 200,000 errors and the reply was 9 MB.
  const hostile = { title: 't', severity: 'Low', alert_ids: Array(200_000).fill('x') }
  const huge = await post(hostile)
  t.equal(huge.status, 400)
  t.equal(huge.body.code, 'validation_failed')
  t.same(huge.body.errors, { alert_ids: ['Must NOT have more than 500 items.'] }, 'one error for the over-long array')
  t.ok(huge.raw.body.length < 1000, `a short reply (${huge.raw.body.length} bytes)`)
  // Fast: compared with a body of the same size holding one bad value (the JSON parse and the
  // request cost the same), in the same run, best of three each, so machine load cancels out.
  // Unbounded, the ratio was over 100.
  const baseline = { title: 't', severity: 'Low', description: 'x'.repeat(JSON.stringify(hostile).length) }
  const best = async (payload: unknown) => {
    let min = Infinity
    for (let i = 0; i < 3; i++) {
      const started = process.hrtime.bigint()
      t.equal((await post(payload)).status, 400)
      min = Math.min(min, Number(process.hrtime.bigint() - started) / 1e6)
    }
    return min
  }
  const [hostileMs, baselineMs] = [await best(hostile), await best(baseline)]
  t.ok(hostileMs < baselineMs * 10, `${hostileMs.toFixed(0)} ms, against ${baselineMs.toFixed(0)} ms for one bad value of the same size`)

  // Within the bound, every bad item is its own field, and the reply stops at MAX_FIELD_ERRORS.
  const many = await post({ title: 't', severity: 'Low', alert_ids: Array.from({ length: 500 }, (_, i) => `x${i}`) })
  t.equal(many.status, 400)
  t.equal(many.body.code, 'validation_failed')
  const fields = Object.keys(many.body.errors)
  t.equal(fields.length, MAX_FIELD_ERRORS + 1, `${MAX_FIELD_ERRORS} fields and a note`)
  t.same(fields.slice(0, 3), ['alert_ids.0', 'alert_ids.1', 'alert_ids.2'])
  t.match(many.body.errors.non_field_errors, [/More fields are invalid/])

  // An ordinary body still gets a message for each field it got wrong (allErrors).
  const few = await post({ title: '', severity: 'Extreme', alert_ids: [1, 'two'] })
  t.equal(few.status, 400)
  t.same(Object.keys(few.body.errors).sort(), ['alert_ids.1', 'severity', 'title'])

  // A refused value is quoted back short, however long it was.
  const long = await post({ title: 't', severity: 'x'.repeat(200_000) })
  t.equal(long.status, 400)
  t.ok(long.raw.body.length < 1000, `the 200 KB value is not echoed (${long.raw.body.length} bytes)`)
  t.match(long.body.errors.severity, [/^"x{39}… is not a valid choice/])
})
