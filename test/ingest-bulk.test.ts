import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib'
import { eq, inArray } from 'drizzle-orm'
import t from 'tap'
import { alerts, events } from '../src/db/schema.js'
import { ingestRecords } from '../src/ingest/index.js'
import { build, inject, makeRoles, makeUser } from './helper.js'
import { countAlerts, countEvents, eventByExternalId, loadCaptures, makeIngestKey, replay } from './ingest-helper.js'

const ndjson = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n'

t.test('native bulk endpoint', async (t) => {
  const app = await build(t)
  const { admin, analyst } = await makeRoles(app)
  const { key } = await makeIngestKey(app, admin, { source: 'shipper-test', event_type: 'intrusion', severity: 'Low' })
  const bearer = { authorization: `Bearer ${key}` }
  const post = (payload: string | Buffer, headers: Record<string, string> = {}, url = '/api/events/bulk') =>
    inject(app, { method: 'POST', url, headers: { ...bearer, ...headers }, payload })

  await t.test('syslog-ng NDJSON, one line per request, Bearer key', async (t) => {
    for (const c of loadCaptures('syslog-ng-ndjson')) {
      const r = await replay(app, c, key)
      t.equal(r.status, 200)
      t.same(r.body, { accepted: 1, duplicates: 0, rejected: 0, errors: [] })
    }
    const rows = await app.db.select().from(events).where(eq(events.source, 'vm'))
    t.equal(rows.length, 3)
    const first = rows.find((e) => e.description.includes('id=NL-1'))!
    t.match(first, { eventType: 'intrusion', severity: 'Low', externalId: null })
    t.equal(first.occurredAt?.toISOString(), '2026-11-23T20:09:24.000Z')
    t.match(first.attributes, { ts: '2026-11-23T20:09:24+00:00', host: 'vm', msg: /Failed password/ })
  })

  await t.test('syslog-ng batches of 500 lines: the truncated last line is rejected alone', async (t) => {
    const before = await countEvents(app)
    for (const c of loadCaptures('syslog-ng-batch')) {
      const r = await replay(app, c, key)
      t.equal(r.status, 200)
      t.equal(r.body.accepted, 139)
      t.equal(r.body.rejected, 1)
      t.same(r.body.errors, [{ index: 139, detail: 'Not valid JSON: the value is not terminated.' }])
    }
    t.equal(await countEvents(app), before + 278)
  })

  await t.test('syslog-ng JSON arrays with X-API-Key (and Basic) headers', async (t) => {
    const counts = []
    for (const c of loadCaptures('syslog-ng-default-and-array')) {
      const r = await replay(app, c, key)
      t.equal(r.status, 200)
      t.equal(r.body.rejected, 0)
      counts.push(r.body.accepted)
    }
    t.same(counts, [16, 50, 50, 4, 1, 2, 3, 4, 5, 6, 6, 1])
    const [e] = await app.db.select().from(events).where(eq(events.description, '2026-11-23T20:01:15.105Z host01 sshd[123]: Failed password for invalid user admin from 10.0.0.1 port 22 ssh2 id=B-1'))
    t.match(e, { source: 'vm', severity: 'Low', eventType: 'intrusion' })
    t.match(e.attributes, { FILE_NAME: '/var/log/secure.log', HOST_FROM: 'vm' })
  })

  await t.test('pino-http-send: {"logs": [...]} and NDJSON without a content type, Basic key', async (t) => {
    const counts = []
    for (const c of loadCaptures('pino-http-send')) {
      const r = await replay(app, c, key)
      t.equal(r.status, 200)
      counts.push(r.body.accepted)
    }
    t.same(counts, [5, 5, 2, 5, 5, 2])
    const [e] = await eventByExternalId(app, 'PHS-json-3')
    t.match(e, { source: 'vm', severity: 'Low', description: 'failed login' })
    t.equal(e.occurredAt?.toISOString(), new Date(1795464443636).toISOString())
    t.match(e.attributes, { src_ip: '10.0.0.3', pid: 11706, level: 30 })
    t.equal((await eventByExternalId(app, 'PHS-ndjson-12')).length, 1)
  })

  await t.test('winston: array batches, then single objects that are duplicates', async (t) => {
    const replies = []
    for (const c of loadCaptures('winston-http-and-splunk-hec').filter((c) => c.url.startsWith('/winston/'))) {
      replies.push((await replay(app, c, key)).body)
    }
    t.same(replies.slice(0, 2), [
      { accepted: 5, duplicates: 0, rejected: 0, errors: [] },
      { accepted: 2, duplicates: 0, rejected: 0, errors: [] }
    ])
    t.same(new Set(replies.slice(2).map((r) => JSON.stringify(r))), new Set([JSON.stringify({ accepted: 0, duplicates: 1, rejected: 0, errors: [] })]))
    const [w1] = await eventByExternalId(app, 'W-1')
    t.match(w1, { source: 'shipper-test', severity: 'Medium', description: 'failed login' })
  })

  await t.test('every auth form; admins may ingest; other users and strangers may not', async (t) => {
    const b64 = (s: string) => Buffer.from(s).toString('base64')
    const forms: Record<string, string>[] = [
      { authorization: `Bearer ${key}` },
      { authorization: `Splunk ${key}` },
      { authorization: `ApiKey ${b64(`some-id:${key}`)}` },
      { authorization: `ApiKey ${key}` },
      { authorization: `ApiKey ${b64(key)}` },
      { authorization: `Basic ${b64(`anyone:${key}`)}` },
      { authorization: `Basic ${b64(`${key}:`)}` },
      { 'x-api-key': key },
      admin.auth
    ]
    for (const [i, headers] of forms.entries()) {
      const r = await inject(app, { method: 'POST', url: '/api/events/bulk', headers, payload: JSON.stringify({ host: 'auth-test', message: 'm', id: `auth-${i}` }) })
      t.equal(r.status, 200, JSON.stringify(Object.keys(headers)))
      t.equal(r.body.accepted, admin.auth === headers ? 0 : 1)
      if (admin.auth === headers) t.match(r.body.errors, [{ detail: /^No severity/ }], 'an admin token has no key defaults')
    }
    const refused: [Record<string, string>, number][] = [
      [analyst.auth, 403],
      [{}, 401],
      [{ authorization: 'Bearer vgl_not-a-key' }, 401],
      [{ 'x-api-key': 'nope' }, 401],
      [{ authorization: `Basic ${b64(`user:wrong`)}` }, 401]
    ]
    for (const [headers, status] of refused) {
      const r = await inject(app, { method: 'POST', url: '/api/events/bulk', headers, payload: '{"host":"x"}' })
      t.equal(r.status, status)
      t.type(r.body.detail, 'string')
    }
  })

  await t.test('body formats, whatever the content type', async (t) => {
    const rec = (id: string) => ({ host: 'formats', message: `m ${id}`, id })
    const cases: [string, string | Buffer, Record<string, string>, number][] = [
      ['json array', JSON.stringify([rec('f1'), rec('f2')]), { 'content-type': 'application/json' }, 2],
      ['ndjson, trailing newline, blank lines, CRLF', `\n${JSON.stringify(rec('f3'))}\r\n\r\n${JSON.stringify(rec('f4'))}\r\n\n`, { 'content-type': 'application/x-ndjson' }, 2],
      ['ndjson without trailing newline', `${JSON.stringify(rec('f5'))}\n${JSON.stringify(rec('f6'))}`, { 'content-type': 'application/x-ndjson' }, 2],
      ['ndjson labelled application/json (rsyslog, syslog-ng)', ndjson([rec('f7'), rec('f8')]), { 'content-type': 'application/json; charset=utf-8' }, 2],
      ['ndjson as text/plain', ndjson([rec('f9')]), { 'content-type': 'text/plain' }, 1],
      ['ndjson as a form', ndjson([rec('f10')]), { 'content-type': 'application/x-www-form-urlencoded' }, 1],
      ['ndjson with no content type', ndjson([rec('f11')]), {}, 1],
      ['ndjson with an exotic content type', ndjson([rec('f12')]), { 'content-type': 'application/vnd.whatever+json' }, 1],
      ['{"events": [...]}', JSON.stringify({ events: [rec('f13'), rec('f14')] }), { 'content-type': 'application/json' }, 2],
      ['{"logs": [...]}', JSON.stringify({ logs: [rec('f15')] }), {}, 1],
      ['pretty-printed object', JSON.stringify(rec('f16'), null, 2), { 'content-type': 'application/json' }, 1],
      ['pretty-printed array', JSON.stringify([rec('f17'), rec('f18')], null, 2), { 'content-type': 'application/json' }, 2],
      ['objects concatenated', JSON.stringify(rec('f19')) + JSON.stringify(rec('f20')), {}, 2],
      ['a single object', JSON.stringify(rec('f21')), { 'content-type': 'application/json' }, 1],
      ['byte order mark', '\ufeff' + ndjson([rec('f22')]), {}, 1],
      ['empty array', '[]', { 'content-type': 'application/json' }, 0]
    ]
    for (const [name, payload, headers, accepted] of cases) {
      const r = await post(payload, headers)
      t.equal(r.status, 200, name)
      t.same(r.body, { accepted, duplicates: 0, rejected: 0, errors: [] }, name)
    }
    t.equal((await app.db.select().from(events).where(eq(events.source, 'formats'))).length, 22)
  })

  await t.test('gzip and deflate bodies', async (t) => {
    const body = ndjson([1, 2, 3].map((i) => ({ host: 'enc', message: 'm', id: `enc-${i}` })))
    const other = (p: string) => body.replaceAll('enc-', p)
    const cases: [string, Buffer, string][] = [
      ['gzip', gzipSync(other('gz-')), 'gzip'],
      ['x-gzip', gzipSync(other('xgz-')), 'x-gzip'],
      ['deflate (zlib)', deflateSync(other('zl-')), 'deflate'],
      ['deflate (raw)', deflateRawSync(other('raw-')), 'deflate'],
      ['gzip, identity', gzipSync(other('gzi-')), 'gzip, identity'],
      ['identity', Buffer.from(other('id-')), 'identity']
    ]
    for (const [name, payload, encoding] of cases) {
      const r = await post(payload, { 'content-encoding': encoding, 'content-type': 'application/x-ndjson' })
      t.equal(r.status, 200, name)
      t.equal(r.body.accepted, 3, name)
    }
    const [e] = await eventByExternalId(app, 'gz-2')
    t.match(e, { source: 'enc', attributes: { id: 'gz-2' } })
  })

  await t.test('field mapping: severities, names, numbers, ECS, case', async (t) => {
    const cases: [Record<string, unknown>, string][] = [
      [{ severity: 'HIGH' }, 'High'],
      [{ severity: 'critical' }, 'Critical'],
      [{ level: 'warning' }, 'Medium'],
      [{ level: 'Warn' }, 'Medium'],
      [{ 'log.level': 'error' }, 'High'],
      [{ log: { level: 'debug' } }, 'Low'],
      [{ PRIORITY: '2' }, 'Critical'],
      [{ syslog: { severity: 3 } }, 'High'],
      [{ 'syslog.severity': 'emerg' }, 'Critical'],
      [{ severity: 4 }, 'Medium'],
      [{ severity: 'notice' }, 'Low'],
      [{ severity: 'alert' }, 'Critical'],
      [{ level: 50 }, 'High'],
      [{ level: 30 }, 'Low'],
      [{ level: 60 }, 'Critical'],
      [{ event: { severity: 80 } }, 'Critical'],
      [{ 'event.severity': 47 }, 'Medium'],
      [{ event: { severity: 21 } }, 'Low'],
      [{ log: { syslog: { severity: { code: 1 } } } }, 'Critical'],
      [{ severity: 'info', level: 'error' }, 'Low'],
      [{}, 'Low']
    ]
    const body = ndjson(cases.map(([fields], i) => ({ host: 'map-sev', id: `sev-${i}`, ...fields })))
    const r = await post(body)
    t.same(r.body, { accepted: cases.length, duplicates: 0, rejected: 0, errors: [] })
    const rows = await app.db.select().from(events).where(eq(events.source, 'map-sev'))
    const byId = new Map(rows.map((e) => [e.externalId, e.severity]))
    cases.forEach(([fields, severity], i) => t.equal(byId.get(`sev-${i}`), severity, JSON.stringify(fields)))

    const named = await post(
      ndjson([
        { 'host.name': 'map-src-1', msg: 'from msg', _id: 'n-1', event_type: 'Malware' },
        { host: { name: 'map-src-2', ip: '10.0.0.1' }, MESSAGE: 'from MESSAGE', id: 42, event: { category: ['network', 'malware'] } },
        { HOST: 'map-src-3', description: 'from description', message: 'not this', external_id: 'n-3' },
        { hostname: 'map-src-4', message: { structured: true }, id: 'n-4' },
        { source: { ip: '10.9.9.9' }, hostname: 'map-src-5', id: 'n-5', event: { category: 'intrusion_detection' }, event_type: 'anomaly' },
        { source: 'map-src-6', host: 'not this', id: 'n-6', '@timestamp': '2026-11-23T20:09:32.919233+00:00' }
      ])
    )
    t.same(r.status, 200)
    t.equal(named.body.accepted, 6)
    const mapped = await app.db.select().from(events).where(inArray(events.externalId, ['n-1', '42', 'n-3', 'n-4', 'n-5', 'n-6']))
    const get = (id: string) => mapped.find((e) => e.externalId === id)!
    t.match(get('n-1'), { source: 'map-src-1', description: 'from msg', eventType: 'malware' })
    t.match(get('42'), { source: 'map-src-2', description: 'from MESSAGE', eventType: 'malware' })
    t.match(get('n-3'), { source: 'map-src-3', description: 'from description', eventType: 'intrusion' })
    t.match(get('n-4'), { source: 'map-src-4', description: '{"structured":true}' })
    t.match(get('n-5'), { source: 'map-src-5', eventType: 'anomaly' }, 'event_type wins over event.category')
    t.match(get('n-6'), { source: 'map-src-6' })
    t.equal(get('n-6').occurredAt?.toISOString(), '2026-11-23T20:09:32.919Z')
  })

  await t.test('key defaults fill what is missing; invalid values are rejected, not defaulted', async (t) => {
    const { key: highKey } = await makeIngestKey(app, admin, { source: 'dflt-src', event_type: 'anomaly', severity: 'High' })
    const send = (records: unknown[]) =>
      inject(app, { method: 'POST', url: '/api/events/bulk', headers: { 'x-api-key': highKey }, payload: ndjson(records) })
    const r = await send([
      { message: 'nothing but a message', id: 'd-0' },
      { severity: 'Extreme', id: 'd-1' },
      { event_type: 'phishing', id: 'd-2' },
      { host: 42, id: 'd-3' },
      { host: '   ', id: 'd-4' },
      { occurred_at: 'yesterday', id: 'd-5' },
      { attributes: 'flat', id: 'd-6' },
      { id: { nested: 1 } },
      { id: 'x'.repeat(256) },
      { level: 8, id: 'd-9' },
      { severity: 2.5, id: 'd-10' },
      { host: 'h'.repeat(256), id: 'd-11' },
      { event: { severity: 101 }, id: 'd-12' },
      { occurred_at: 1795464443, id: 'd-13' }
    ])
    t.equal(r.status, 200)
    t.equal(r.body.accepted, 2)
    t.equal(r.body.rejected, 12)
    t.same(
      r.body.errors.map((e: { index: number }) => e.index),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    )
    t.match(r.body.errors, [
      { detail: 'Invalid severity "Extreme": not a known severity.' },
      { detail: /^Invalid event_type "phishing": use one of intrusion, malware, anomaly/ },
      { detail: /^Invalid host 42/ },
      { detail: /^Invalid host " {3}"/ },
      { detail: /^Invalid occurred_at "yesterday"/ },
      { detail: 'Invalid attributes: must be a JSON object.' },
      { detail: /^Invalid id \{"nested":1\}/ },
      { detail: /^Invalid id "xxx/ },
      { detail: /^Invalid level 8/ },
      { detail: /^Invalid severity 2.5/ },
      { detail: /^Invalid host "hhh/ },
      { detail: /^Invalid event.severity 101/ }
    ])
    const [d0] = await eventByExternalId(app, 'd-0')
    t.match(d0, { source: 'dflt-src', eventType: 'anomaly', severity: 'High', description: 'nothing but a message', occurredAt: null })
    const [d13] = await eventByExternalId(app, 'd-13')
    t.equal(d13.occurredAt?.toISOString(), '2026-11-23T20:07:23.000Z', 'epoch seconds')
    t.equal((await eventByExternalId(app, 'd-1')).length, 0)

    const { key: bareKey } = await makeIngestKey(app, admin)
    const bare = await inject(app, {
      method: 'POST',
      url: '/api/events/bulk',
      headers: { 'x-api-key': bareKey },
      payload: ndjson([{ message: 'm' }, { host: 'h', message: 'm' }, { host: 'h', severity: 'low' }, { host: 'h', severity: 'low', event_type: 'anomaly', id: 'bare-ok' }])
    })
    t.same(bare.body.errors, [
      { index: 0, detail: 'No severity: the record has none and the ingest key has no default.' },
      { index: 1, detail: 'No severity: the record has none and the ingest key has no default.' },
      { index: 2, detail: 'No event_type: the record has none and the ingest key has no default.' }
    ])
    t.equal(bare.body.accepted, 1)
  })

  await t.test('per-record errors never drop the rest', async (t) => {
    const before = await countEvents(app)
    const r = await post(
      [
        JSON.stringify({ host: 'mix', id: 'mix-0' }),
        '{"host": "mix", "id": "mix-1", broken}',
        '42',
        'plain text line',
        '["an array line: its elements are records", {"host": "mix", "id": "mix-4"}]',
        JSON.stringify({ host: 'mix', id: 'mix-6', severity: 'nope' }),
        '{"host": "mix", "id": "mix-7", "text": "unterminated',
        JSON.stringify({ host: 'mix', id: 'mix-8' })
      ].join('\n')
    )
    t.equal(r.status, 200)
    t.equal(r.body.accepted, 3)
    t.equal(r.body.rejected, 6)
    t.match(r.body.errors, [
      { index: 1, detail: /^Not valid JSON \(/ },
      { index: 2, detail: 'Not a JSON object.' },
      { index: 3, detail: 'Not a JSON object.' },
      { index: 4, detail: 'A record must be a JSON object.' },
      { index: 6, detail: /^Invalid severity "nope"/ },
      { index: 7, detail: 'Not valid JSON: a string is not terminated.' }
    ])
    t.equal(await countEvents(app), before + 3)
    t.equal((await eventByExternalId(app, 'mix-4')).length, 1)
    t.equal((await eventByExternalId(app, 'mix-8')).length, 1)
  })

  await t.test('a record the database itself refuses is found and rejected alone', async (t) => {
    // JSON allows a number jsonb cannot hold: the chunk fails, is split, and only that record is lost.
    const records = Array.from({ length: 9 }, (_, i) => `{"host":"db-refused","id":"dbr-${i}"${i === 6 ? ',"n":1e1000000' : ''}}`)
    const r = await post(records.join('\n'))
    t.equal(r.status, 200)
    t.equal(r.body.accepted, 8)
    t.match(r.body.errors, [{ index: 6, detail: /^The database refused this record: value overflows numeric format/ }])
    t.equal((await app.db.select().from(events).where(eq(events.source, 'db-refused'))).length, 8)
  })

  await t.test('idempotent re-send: duplicates counted, nothing stored twice, no second alert', async (t) => {
    const records = [
      { host: 'idem', id: 'i-1', severity: 'Critical' },
      { host: 'idem', id: 'i-2', severity: 'High' },
      { host: 'idem', id: 'i-3', severity: 'Low' },
      { host: 'idem', id: 'i-1', severity: 'Critical' },
      { host: 'other-host', id: 'i-1', severity: 'Critical' }
    ]
    const first = await post(gzipSync(ndjson(records)), { 'content-encoding': 'gzip' })
    t.same(first.body, { accepted: 4, duplicates: 1, rejected: 0, errors: [] }, 'a repeat within the request is a duplicate')
    const events1 = await countEvents(app)
    const alerts1 = await countAlerts(app)
    const again = await post(gzipSync(ndjson(records)), { 'content-encoding': 'gzip' })
    t.same(again.body, { accepted: 0, duplicates: 5, rejected: 0, errors: [] })
    t.equal(await countEvents(app), events1)
    t.equal(await countAlerts(app), alerts1)
    t.equal((await eventByExternalId(app, 'i-1')).length, 2, 'same id from two sources: two events')
  })

  await t.test('alerts for High and Critical records only, with their events', async (t) => {
    const before = await countAlerts(app)
    const r = await post(ndjson(['Low', 'Medium', 'High', 'Critical'].map((severity) => ({ host: 'alerting', severity, id: `al-${severity}` }))))
    t.equal(r.body.accepted, 4)
    t.equal(await countAlerts(app), before + 2)
    const rows = await app.db.select({ event: events, alert: alerts }).from(alerts).innerJoin(events, eq(alerts.eventId, events.id)).where(eq(events.source, 'alerting'))
    t.same(rows.map((r) => r.event.severity).sort(), ['Critical', 'High'])
    for (const { event, alert } of rows) {
      t.match(alert, { status: 'Open', severity: event.severity, eventType: event.eventType, source: 'alerting' })
    }
    const list = await inject(app, { method: 'GET', url: '/api/alerts/?source=alerting', headers: admin.auth })
    t.equal(list.body.count, 2)
  })

  await t.test('/api/events/bulk/ with a slash; /api/events/:id still answers', async (t) => {
    const r = await post('{"host":"slash","id":"slash-1"}', {}, '/api/events/bulk/')
    t.equal(r.status, 200)
    t.equal(r.body.accepted, 1)
    const [e] = await eventByExternalId(app, 'slash-1')
    const one = await inject(app, { method: 'GET', url: `/api/events/${e.id}`, headers: admin.auth })
    t.equal(one.status, 200)
    t.equal(one.body.external_id, 'slash-1')
    const created = await inject(app, {
      method: 'POST',
      url: '/api/events/',
      headers: admin.auth,
      payload: { source: 's', event_type: 'malware', severity: 'Low' }
    })
    t.equal(created.status, 201, 'the JSON API keeps its own body parser')
  })

  await t.test('ingestRecords: the insert path without HTTP', async (t) => {
    const result = await ingestRecords(
      app.database,
      [{ host: 'direct', id: 'dr-1', severity: 'Critical' }, { host: 'direct', id: 'dr-1' }, 'nope', { host: 'direct', level: 'bogus' }],
      { defaults: { event_type: 'malware', severity: 'Low' }, maxAttributesBytes: 4096, batchSize: 1 }
    )
    t.same(result, {
      accepted: 1,
      duplicates: 1,
      rejected: 2,
      errors: [
        { index: 2, detail: 'A record must be a JSON object.' },
        { index: 3, detail: 'Invalid level "bogus": not a known severity.' }
      ]
    })
    const [e] = await eventByExternalId(app, 'dr-1')
    t.match(e, { source: 'direct', eventType: 'malware', severity: 'Critical' })
    t.equal((await app.db.select().from(alerts).where(eq(alerts.eventId, e.id))).length, 1)
  })
})

t.test('attributes: the original document, bounded', async (t) => {
  const app = await build(t, { INGEST_MAX_ATTRIBUTES_BYTES: 256 })
  const admin = await makeUser(app, 'admin')
  const { key } = await makeIngestKey(app, admin, { event_type: 'anomaly', severity: 'Low' })
  const r = await inject(app, {
    method: 'POST',
    url: '/api/events/bulk',
    headers: { 'x-api-key': key },
    payload: ndjson([
      { host: 'attr', id: 'a-1', src_ip: '10.0.0.1', nested: { k: [1, 2] } },
      { host: 'attr', id: 'a-2', attributes: { chosen: true } },
      { host: 'attr', id: 'a-3', message: 'x'.repeat(1000) },
      { host: 'attr', id: 'a-4', attributes: { big: 'y'.repeat(1000) } },
      { host: 'attr', id: 'a-5', text: 'nul\u0000byte', ['k\u0000ey']: 1 }
    ])
  })
  t.equal(r.status, 200)
  t.equal(r.body.accepted, 4)
  t.same(r.body.errors, [{ index: 3, detail: 'Invalid attributes: at most 256 bytes of JSON.' }])
  t.same((await eventByExternalId(app, 'a-1'))[0].attributes, { host: 'attr', id: 'a-1', src_ip: '10.0.0.1', nested: { k: [1, 2] } })
  t.same((await eventByExternalId(app, 'a-2'))[0].attributes, { chosen: true }, 'native attributes are kept as given')
  const [big] = await eventByExternalId(app, 'a-3')
  t.match(big.attributes, { _truncated: true, _original_bytes: Number, _preview: /^\{"host":"attr","id":"a-3","message":"xxx/ })
  t.ok(Buffer.byteLength(JSON.stringify(big.attributes)) <= 256)
  t.equal(big.description, 'x'.repeat(1000), 'the description keeps the message')
  const [nul] = await eventByExternalId(app, 'a-5')
  t.same(nul.attributes, { host: 'attr', id: 'a-5', text: 'nul\uFFFDbyte', 'k\uFFFDey': 1 }, 'NUL cannot be stored in jsonb')
})

t.test('whole-body problems: 400, 413, 415, and nothing stored', async (t) => {
  const app = await build(t, { INGEST_MAX_BODY_BYTES: 4096, INGEST_MAX_DECOMPRESSED_BYTES: 65536, INGEST_MAX_RECORDS: 5 })
  const admin = await makeUser(app, 'admin')
  const { key } = await makeIngestKey(app, admin, { event_type: 'anomaly', severity: 'Low' })
  const post = (payload: string | Buffer, headers: Record<string, string> = {}) =>
    inject(app, { method: 'POST', url: '/api/events/bulk', headers: { 'x-api-key': key, ...headers }, payload })
  const line = (i: number) => JSON.stringify({ host: 'whole', message: 'm', id: `w-${i}` }) + '\n'
  const lines = (n: number, from = 0) => Array.from({ length: n }, (_, i) => line(from + i)).join('')

  // A valid record, so that only the decompression limit stands between it and the database.
  const huge = JSON.stringify({ host: 'whole', message: 'a'.repeat(4_000_000), id: 'bomb' })
  const bomb = gzipSync(huge, { level: 9 })
  t.ok(bomb.length < 4096, `the bomb is small on the wire (${bomb.length} bytes)`)
  const lying = Buffer.from(bomb)
  lying.writeUInt32LE(100, lying.length - 4)
  const deflateBomb = deflateSync(huge, { level: 9 })

  const cases: [string, string | Buffer, Record<string, string>, number, RegExp][] = [
    ['too large on the wire', lines(100), {}, 413, /^The request body is larger than 4096 bytes\.$/],
    ['gzip bomb', bomb, { 'content-encoding': 'gzip' }, 413, /^The request body decompresses to more than 65536 bytes\.$/],
    ['gzip bomb with a lying size trailer', lying, { 'content-encoding': 'gzip' }, 413, /decompresses to more than 65536 bytes/],
    ['deflate bomb', deflateBomb, { 'content-encoding': 'deflate' }, 413, /decompresses to more than 65536 bytes/],
    ['too many records', lines(6), {}, 413, /^The request holds more than 5 records; send at most 5 per request\.$/],
    ['bad gzip', lines(2), { 'content-encoding': 'gzip' }, 400, /^The request body is not valid gzip data/],
    ['truncated gzip', gzipSync(lines(3)).subarray(0, 40), { 'content-encoding': 'gzip' }, 400, /^The request body is not valid gzip data/],
    ['bad deflate', 'not deflate at all', { 'content-encoding': 'deflate' }, 400, /^The request body is not valid deflate data/],
    ['unknown encoding', lines(1), { 'content-encoding': 'br' }, 415, /^Unsupported Content-Encoding "br"/],
    ['not JSON at all', 'hello world\nthis is not json\n', {}, 400, /^The request body is not JSON, NDJSON or a JSON array of records\./],
    ['a broken array', '[{"host": broken', { 'content-type': 'application/json' }, 400, /not JSON/],
    ['empty', '', {}, 400, /^The request body is empty\.$/],
    ['only whitespace', ' \n\n \r\n', {}, 400, /^The request body is empty\.$/],
    ['empty gzip', gzipSync(''), { 'content-encoding': 'gzip' }, 400, /^The request body is empty\.$/]
  ]
  for (const [name, payload, headers, status, detail] of cases) {
    const r = await post(payload, headers)
    t.equal(r.status, status, name)
    t.match(r.body, { detail }, name)
  }
  t.equal(await countEvents(app), 0, 'nothing from refused bodies was stored')
  t.same((await post(lines(5))).body, { accepted: 5, duplicates: 0, rejected: 0, errors: [] }, 'exactly the limit is fine')
  t.same((await post(gzipSync(lines(5, 10)), { 'content-encoding': 'gzip' })).body.accepted, 5)
})
