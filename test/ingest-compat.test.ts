import { gzipSync } from 'node:zlib'
import { eq } from 'drizzle-orm'
import t from 'tap'
import { events } from '../src/db/schema.js'
import { build, inject, makeRoles, makeUser } from './helper.js'
import { countEvents, eventByExternalId, loadCaptures, makeIngestKey, replay } from './ingest-helper.js'

const b64 = (s: string) => Buffer.from(s).toString('base64')

t.test('Splunk HEC', async (t) => {
  const app = await build(t)
  const { admin, analyst } = await makeRoles(app)
  const { key } = await makeIngestKey(app, admin, { event_type: 'intrusion' })
  const splunk = { authorization: `Splunk ${key}` }
  const hec = (payload: string | Buffer, headers: Record<string, string> = splunk, url = '/services/collector/event') =>
    inject(app, { method: 'POST', url, headers, payload })

  await t.test('splunk-logging: concatenated envelopes, form content type', async (t) => {
    const captures = loadCaptures('winston-http-and-splunk-hec').filter((c) => c.url.startsWith('/services/collector'))
    t.equal(captures.length, 2)
    for (const c of captures) {
      const r = await replay(app, c, key)
      t.equal(r.status, 200)
      t.same(r.body, { text: 'Success', code: 0 })
    }
    const [e] = await eventByExternalId(app, 'HEC-3')
    t.match(e, { source: 'host01', severity: 'Medium', eventType: 'intrusion' })
    t.same(JSON.parse(e.description), { event: 'auth_fail', src_ip: '10.0.0.3', id: 'HEC-3' })
    t.equal(e.occurredAt?.toISOString(), '2026-11-23T20:08:27.868Z', 'HEC time is epoch seconds')
    t.match(e.attributes, { host: 'host01', source: 'sshd', sourcetype: '_json', index: 'security', time: '1795464507.868' })
    t.equal((await app.db.select().from(events).where(eq(events.source, 'host01'))).length, 7)

    const again = await replay(app, captures[0], key)
    t.same(again.body, { text: 'Success', code: 0 }, 'a re-sent batch is accepted as duplicates')
    t.equal((await app.db.select().from(events).where(eq(events.source, 'host01'))).length, 7)
  })

  await t.test('every collector URL, text events, fields, gzip', async (t) => {
    const urls = ['/services/collector', '/services/collector/', '/services/collector/event', '/services/collector/event/1.0']
    for (const [i, url] of urls.entries()) {
      const r = await hec(JSON.stringify({ host: 'hec-urls', event: `line ${i}`, fields: { id: `u-${i}`, severity: 'crit' } }), splunk, url)
      t.same([r.status, r.body], [200, { text: 'Success', code: 0 }], url)
    }
    const [u0] = await eventByExternalId(app, 'u-0')
    t.match(u0, { source: 'hec-urls', description: 'line 0', severity: 'Critical' })

    const gz = await hec(gzipSync('{"event":{"message":"zipped","host":"hec-gz","id":"gz-1","level":"info"}}\n{"event":"second","host":"hec-gz","fields":{"id":"gz-2","PRIORITY":"4"}}'), {
      ...splunk,
      'content-encoding': 'gzip'
    })
    t.same(gz.body, { text: 'Success', code: 0 })
    t.match((await eventByExternalId(app, 'gz-1'))[0], { source: 'hec-gz', description: 'zipped', severity: 'Low' })
    t.match((await eventByExternalId(app, 'gz-2'))[0], { source: 'hec-gz', description: 'second', severity: 'Medium' })
  })

  await t.test('refused events: 400 with the first one, the others stored', async (t) => {
    const before = await countEvents(app)
    const r = await hec(
      [
        { host: 'hec-bad', event: 'ok one', fields: { severity: 'low', id: 'b-0' } },
        { host: 'hec-bad', fields: { severity: 'low' } },
        { host: 'hec-bad', event: '', fields: { severity: 'low' } },
        { host: 'hec-bad', event: { severity: 'Extreme' } },
        { host: 'hec-bad', event: 'ok two', fields: { severity: 'low', id: 'b-4' } }
      ]
        .map((x) => JSON.stringify(x))
        .join('')
    )
    t.equal(r.status, 400)
    t.same(r.body, {
      text: 'Event field is required',
      code: 12,
      'invalid-event-number': 1,
      vigil_code: 'validation_failed',
      detail: 'Event field is required.',
      accepted: 2,
      duplicates: 0,
      rejected: 3
    })
    t.equal(await countEvents(app), before + 2)

    const blank = await hec(JSON.stringify({ host: 'hec-bad', event: {} }))
    t.match(blank, { status: 400, body: { text: 'Event field cannot be blank', code: 13, 'invalid-event-number': 0 } })
    const invalid = await hec(JSON.stringify({ host: 'hec-bad', event: 'x', fields: { severity: 'Extreme' } }))
    t.match(invalid, { status: 400, body: { text: 'Invalid data format', code: 6, detail: /^Invalid severity "Extreme"/ } })
    const noSeverity = await hec(JSON.stringify({ host: 'hec-bad', event: 'x' }))
    t.match(noSeverity, { status: 400, body: { code: 6, detail: /^No severity/ } })
  })

  await t.test('whole-request errors in HEC shape', async (t) => {
    const cases: [string, Record<string, string>, number, object][] = [
      ['', splunk, 400, { text: 'No data', code: 5, vigil_code: 'empty_body' }],
      ['not json at all', splunk, 400, { text: 'Invalid data format', code: 6, vigil_code: 'malformed_request' }],
      ['{"event":"x"}', {}, 401, { text: 'Token is required', code: 2, vigil_code: 'not_authenticated' }],
      ['{"event":"x"}', { authorization: 'Splunk 00000000-1111-2222-3333-444444444444' }, 401, { text: 'Invalid token', code: 4, vigil_code: 'invalid_token' }],
      ['{"event":"x"}', analyst.auth, 403, { text: 'Invalid authorization', code: 3, vigil_code: 'permission_denied' }],
      ['{"event":"x"}', { ...splunk, 'content-encoding': 'gzip' }, 400, { text: 'Invalid data format', code: 6, vigil_code: 'malformed_request', detail: /not valid gzip/ }]
    ]
    for (const [payload, headers, status, body] of cases) {
      const r = await hec(payload, headers)
      t.equal(r.status, status, JSON.stringify(body))
      t.match(r.body, body)
      t.type(r.body.detail, 'string')
      if (status === 401) t.equal(r.headers['www-authenticate'], 'Splunk')
    }
  })

  await t.test('health, open without a token', async (t) => {
    for (const url of ['/services/collector/health', '/services/collector/health/1.0']) {
      const r = await inject(app, { method: 'GET', url })
      t.same([r.status, r.body], [200, { text: 'HEC is healthy', code: 17 }])
    }
  })
})

t.test('Elasticsearch _bulk and friends', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const { key } = await makeIngestKey(app, admin, { source: 'es-default', event_type: 'intrusion', severity: 'Low' })
  const basic = { authorization: `Basic ${b64(`elastic:${key}`)}` }
  const bulk = (payload: string | Buffer, headers: Record<string, string> = basic, url = '/_bulk') =>
    inject(app, { method: 'POST', url, headers: { 'content-type': 'application/x-ndjson', ...headers }, payload })
  const pairs = (items: [object, object?][]) => items.map(([a, d]) => JSON.stringify(a) + '\n' + (d ? JSON.stringify(d) + '\n' : '')).join('')

  await t.test('@elastic/elasticsearch 9 bulk helper: gzip, create actions, Basic auth', async (t) => {
    const captures = loadCaptures('elasticsearch-js-bulk-gzip')
    let n = 0
    for (const c of captures) {
      const r = await replay(app, c, key)
      t.equal(r.status, 200)
      t.equal(r.headers['x-elastic-product'], 'Elasticsearch')
      t.equal(r.body.errors, false)
      t.type(r.body.took, 'number')
      for (const item of r.body.items) {
        n++
        t.same(item, { create: { _index: 'security-events', _id: `OK-${n}`, _version: 1, result: 'created', status: 201 } })
      }
    }
    t.equal(n, 30)
    const [e] = await eventByExternalId(app, 'OK-7')
    t.match(e, { source: 'es-default', severity: 'Low', eventType: 'intrusion' })
    t.equal(e.occurredAt?.toISOString(), '2026-11-23T20:07:55.496Z')
    t.match(e.attributes, { src_ip: '10.0.0.7', event: 'auth_fail' })

    const again = await replay(app, captures[2], key)
    t.equal(again.body.errors, true)
    t.same(again.body.items[0], {
      create: {
        _index: 'security-events',
        _id: 'OK-25',
        status: 409,
        error: { type: 'version_conflict_engine_exception', reason: '[OK-25]: version conflict, document already exists' }
      }
    })
    t.equal(await countEvents(app), 30, 'a re-sent create stores nothing')
  })

  await t.test('pino-elasticsearch: ApiKey, index actions, then _refresh', async (t) => {
    const [first, second, refresh] = loadCaptures('pino-elasticsearch')
    const r1 = await replay(app, first, key)
    t.equal(r1.body.items.length, 11)
    t.same(r1.body.items[0], { index: { _index: 'security-events', _id: 'PES-1', _version: 1, result: 'created', status: 201 } })
    t.equal((await replay(app, second, key)).body.items.length, 9)
    const again = await replay(app, first, key)
    t.equal(again.body.errors, false, 'an index of a stored document is not an error')
    t.same(again.body.items[0], { index: { _index: 'security-events', _id: 'PES-1', _version: 1, result: 'noop', status: 200 } })
    const r3 = await replay(app, refresh, key)
    t.equal(refresh.method, 'GET')
    t.same([r3.status, r3.body, r3.headers['x-elastic-product']], [200, { _shards: { total: 1, successful: 1, failed: 0 } }, 'Elasticsearch'])
    const post = await inject(app, { method: 'POST', url: '/_refresh', headers: basic })
    t.equal(post.status, 200)
    const [e] = await eventByExternalId(app, 'PES-20')
    t.match(e, { source: 'vm', severity: 'Low', description: 'failed login' })
  })

  await t.test('rsyslog omelasticsearch: JSON content type, blank lines between pairs', async (t) => {
    const [c] = loadCaptures('rsyslog-omelasticsearch-es8')
    const r = await replay(app, c, key)
    t.equal(r.status, 200)
    t.equal(r.body.errors, false)
    t.equal(r.body.items.length, 2)
    const id = r.body.items[1].index._id
    t.match(r.body.items[1], { index: { _index: 'security-events', status: 201, result: 'created' } })
    const [e] = await app.db.select().from(events).where(eq(events.id, Number(id)))
    t.match(e, { source: 'vm', externalId: null, description: /DROP IN=eth0 SRC=10.1.1.2/ })
    t.equal(e.occurredAt?.toISOString(), '2026-11-23T20:09:32.919Z')
  })

  await t.test('item errors in request order; the rest stored', async (t) => {
    const r = await bulk(
      pairs([
        [{ index: { _id: 'it-0' } }, { message: 'first', severity: 'high' }],
        [{ update: { _id: 'it-0' } }, { doc: { message: 'x' } }],
        [{ delete: { _index: 'other', _id: 'it-0' } }],
        [{ create: { _index: 'other', _id: 'it-3' } }, { severity: 'Extreme' }],
        [{ create: {} }, { message: 'no id' }],
        [{ index: { _id: 'it-5' } }]
      ]) +
        '{"broken json\n' +
        pairs([[{ index: { _id: 'it-6' } }, { message: 'last' }]]),
      basic,
      '/logs-web/_bulk'
    )
    t.equal(r.status, 200)
    t.equal(r.body.errors, true)
    t.same(
      r.body.items.map((i: object) => Object.keys(i)[0]),
      ['index', 'update', 'delete', 'create', 'create', 'index', 'index']
    )
    t.match(r.body.items, [
      { index: { _index: 'logs-web', _id: 'it-0', status: 201 } },
      { update: { _index: 'logs-web', status: 400, error: { type: 'illegal_argument_exception' } } },
      { delete: { _index: 'other', _id: 'it-0', status: 400, error: { type: 'illegal_argument_exception' } } },
      { create: { _index: 'other', _id: 'it-3', status: 400, error: { type: 'document_parsing_exception', reason: /^Invalid severity "Extreme"/ } } },
      { create: { _index: 'logs-web', _id: /^\d+$/, status: 201 } },
      { index: { _id: 'it-5', status: 400, error: { type: 'document_parsing_exception', reason: /^Not valid JSON/ } } },
      { index: { _id: 'it-6', status: 201 } }
    ])
    const [noId] = await app.db.select().from(events).where(eq(events.id, Number(r.body.items[4].create._id)))
    t.match(noId, { description: 'no id', externalId: null }, 'without _id the reply names the event id')
    t.equal((await eventByExternalId(app, 'it-3')).length, 0)
  })

  await t.test('a malformed action line fails the whole request; nothing is stored', async (t) => {
    const before = await countEvents(app)
    const r = await bulk(pairs([[{ index: { _id: 'ma-1' } }, { message: 'would be fine' }]]) + '{"index": {"_id": "ma-2"}\n{"message": "x"}\n')
    t.equal(r.status, 400)
    t.equal(r.headers['x-elastic-product'], 'Elasticsearch')
    t.match(r.body, { error: { type: 'illegal_argument_exception', reason: /^Malformed action\/metadata line \[3\]/, root_cause: [{ type: 'illegal_argument_exception' }] }, status: 400 })
    const unknown = await bulk('{"upsert": {}}\n{}\n')
    t.match(unknown, { status: 400, body: { error: { reason: /line \[1\]/ } } })
    t.equal(await countEvents(app), before)
  })

  await t.test('errors carry X-Elastic-Product and the Elasticsearch error shape', async (t) => {
    const none = await bulk('{"index":{}}\n{}\n', {})
    t.equal(none.status, 401)
    t.equal(none.headers['x-elastic-product'], 'Elasticsearch')
    t.match(none.headers['www-authenticate'], /Basic/)
    t.match(none.body, { error: { type: 'security_exception', root_cause: [{ type: 'security_exception', reason: String }] }, status: 401, code: 'not_authenticated' })
    const wrong = await bulk('{"index":{}}\n{}\n', { authorization: `ApiKey ${b64('id:wrong')}` })
    t.match(wrong, { status: 401, body: { error: { type: 'security_exception' } } })
    const empty = await bulk('')
    t.match(empty, { status: 400, body: { error: { type: 'parse_exception', reason: 'The request body is empty.' }, status: 400, code: 'empty_body' } })
    t.equal(empty.headers['x-elastic-product'], 'Elasticsearch')
    const gz = await bulk('not gzip', { ...basic, 'content-encoding': 'gzip' })
    t.match(gz, { status: 400, body: { error: { reason: /not valid gzip/ } } })
    const put = await inject(app, { method: 'PUT', url: '/_bulk', headers: basic, payload: '{"index":{"_id":"put-1"}}\n{"message":"m"}\n' })
    t.match(put, { status: 200, body: { errors: false } })
  })

  await t.test('GET / like an Elasticsearch 8 node, _cat/health, HEAD /', async (t) => {
    const root = await inject(app, { method: 'GET', url: '/' })
    t.equal(root.status, 200)
    t.equal(root.headers['x-elastic-product'], 'Elasticsearch')
    t.match(root.body, { cluster_name: String, version: { number: /^8\.\d+\.\d+$/, build_flavor: 'default' }, tagline: 'You Know, for Search' })
    const head = await inject(app, { method: 'HEAD', url: '/', headers: basic })
    t.equal(head.status, 200)
    t.equal(head.headers['x-elastic-product'], 'Elasticsearch')
    const text = await inject(app, { method: 'GET', url: '/_cat/health' })
    t.equal(text.status, 200)
    t.match(text.headers['content-type'], /^text\/plain/)
    t.match(text.raw.body, /^\d+ \d\d:\d\d:\d\d vigil green 1 1 /)
    t.equal(text.headers['x-elastic-product'], 'Elasticsearch')
    const json = await inject(app, { method: 'GET', url: '/_cat/health?format=json' })
    t.match(json.body, [{ cluster: 'vigil', status: 'green' }])
  })
})

t.test('413 in the compatibility shapes', async (t) => {
  const app = await build(t, { INGEST_MAX_BODY_BYTES: 1024 })
  const admin = await makeUser(app, 'admin')
  const { key } = await makeIngestKey(app, admin, { event_type: 'intrusion', severity: 'Low' })
  const big = JSON.stringify({ event: 'x'.repeat(2000) })
  const h = await inject(app, { method: 'POST', url: '/services/collector/event', headers: { authorization: `Splunk ${key}` }, payload: big })
  t.match(h, { status: 413, body: { code: 6, detail: 'The request body is larger than 1024 bytes.' } })
  const e = await inject(app, { method: 'POST', url: '/_bulk', headers: { 'x-api-key': key }, payload: `{"index":{}}\n${big}\n` })
  t.match(e, { status: 413, body: { error: { type: 'content_too_long_exception', reason: 'The request body is larger than 1024 bytes.' }, status: 413 } })
  t.equal(e.headers['x-elastic-product'], 'Elasticsearch')
})

t.test('health probes report a database that does not answer', async (t) => {
  // The event-loop check is off: on a loaded machine its lag answer would stand in for the database's.
  const app = await build(t, { INGEST_MAX_EVENT_LOOP_DELAY_MS: 0 })
  await app.database.close()
  const hec = await inject(app, { method: 'GET', url: '/services/collector/health' })
  t.same([hec.status, hec.body], [503, { text: 'HEC is unhealthy, queues are full', code: 18 }])
  const cat = await inject(app, { method: 'GET', url: '/_cat/health' })
  t.equal(cat.status, 503)
  t.equal(cat.headers['x-elastic-product'], 'Elasticsearch')
  t.ok(cat.headers['retry-after'])
  t.match(cat.body, { error: { reason: 'The database is unavailable; retry later.' }, status: 503 })
})
