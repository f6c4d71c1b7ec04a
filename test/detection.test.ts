// Detection on every ingested event, through the real app and database: Sigma rules on REST,
// native bulk, Splunk HEC and Elasticsearch _bulk; severity, type and detections on the event and
// its alert; alert filters by model and rule; correlations that fire once per group and window
// (also with two instances ingesting at once, and across a restart); a learned baseline trained
// by retrain and firing on a burst; dry runs, import, and definitions refused with the reason.
import { eq, sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { events, models } from '../src/db/schema.js'
import { build, eventually, inject, makeRoles, onPostgres, partitionDays, type TestUser } from './helper.js'
import { makeIngestKey } from './ingest-helper.js'

const ndjson = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n'

const WHOAMI = `
title: Whoami execution
id: 11111111-1111-4111-8111-111111111111
level: high
tags: [attack.discovery, attack.t1033]
logsource: {category: process_creation}
detection:
  selection:
    Image|endswith: '\\whoami.exe'
  condition: selection
`

const SSH_FAILED = `
title: SSH login failure
name: ssh_failed
level: low
logsource: {product: linux, service: sshd}
detection:
  keywords: ['Failed password']
  condition: keywords
`

const BRUTE_FORCE = `${SSH_FAILED}
---
title: SSH brute force
id: 22222222-2222-4222-8222-222222222222
level: high
tags: [attack.credential_access, attack.t1110]
correlation:
  type: event_count
  rules: [ssh_failed]
  group-by: [source.ip]
  timespan: 10m
  condition: {gte: 5}
`

async function createModel(app: FastifyInstance, who: TestUser, payload: Record<string, unknown>) {
  const r = await inject(app, { method: 'POST', url: '/api/models/', headers: who.auth, payload: { version: '1.0.0', ...payload } })
  if (r.status !== 201) throw new Error(`model not created: ${r.status} ${JSON.stringify(r.body)}`)
  // The app compiles the models again when the database announces the change.
  await eventually(async () => app.detector.models.some((m) => m.ref.id === r.body.id), 5000)
  return r.body as { id: number; name: string; version: string }
}

const sshLine = (ip: string, user: string, i: number) => ({
  ts: new Date().toISOString(),
  msg: `${new Date().toISOString()} bastion-01 sshd[${1000 + i}]: Failed password for ${user} from ${ip} port ${40000 + i} ssh2`,
  host: 'bastion-01'
})

async function alertsOfModel(app: FastifyInstance, who: TestUser, modelId: number) {
  const r = await inject(app, { method: 'GET', url: `/api/alerts/?model=${modelId}&page_size=100`, headers: who.auth })
  return r.body.results as { id: number; event: number; severity: string; detections: { rule_id: string; count?: number; event_ids?: number[] }[] }[]
}

t.test('a Sigma rule on REST events: severity, type, detections on the event and its alert, alert filters', async (t) => {
  const app = await build(t)
  const { admin, analyst, viewer } = await makeRoles(app)
  const model = await createModel(app, analyst, { name: 'Whoami', model_type: 'sigma', definition: WHOAMI })

  const hit = await inject(app, {
    method: 'POST',
    url: '/api/events/',
    headers: admin.auth,
    payload: {
      source: 'ws-17',
      event_type: 'intrusion',
      severity: 'Low',
      description: 'process created',
      attributes: { logsource: { category: 'process_creation', product: 'windows' }, Image: 'C:\\Windows\\System32\\whoami.exe', User: 'CORP\\bob' }
    }
  })
  t.equal(hit.status, 201)
  t.equal(hit.body.severity, 'High', 'Low raised to the rule level high')
  t.same(hit.body.detections, [{ model_id: model.id, model_name: 'Whoami', version: '1.0.0', rule_id: '11111111-1111-4111-8111-111111111111', title: 'Whoami execution', level: 'high' }])

  const miss = await inject(app, {
    method: 'POST',
    url: '/api/events/',
    headers: admin.auth,
    payload: { source: 'ws-17', event_type: 'intrusion', severity: 'Low', attributes: { logsource: { category: 'process_creation' }, Image: 'C:\\Windows\\notepad.exe' } }
  })
  t.equal(miss.body.severity, 'Low')
  t.equal(miss.body.detections, null)

  const other = await inject(app, {
    method: 'POST',
    url: '/api/events/',
    headers: admin.auth,
    payload: { source: 'ws-17', event_type: 'intrusion', severity: 'Low', attributes: { logsource: { category: 'network_connection' }, Image: 'C:\\Windows\\System32\\whoami.exe' } }
  })
  t.equal(other.body.severity, 'Low', 'a record of another logsource is not evaluated by the rule')

  const listed = await alertsOfModel(app, viewer, model.id)
  t.equal(listed.length, 1, 'the alert is found by model')
  t.equal(listed[0].event, hit.body.id)
  t.equal(listed[0].severity, 'High')
  t.same(listed[0].detections, hit.body.detections, 'the alert carries the detections')
  const byRule = await inject(app, { method: 'GET', url: '/api/alerts/?rule_id=11111111-1111-4111-8111-111111111111', headers: viewer.auth })
  t.equal(byRule.body.results.length, 1, 'and by rule id')
  const none = await inject(app, { method: 'GET', url: '/api/alerts/?rule_id=no-such-rule', headers: viewer.auth })
  t.equal(none.body.results.length, 0)

  await app.detector.flush()
  const [row] = await app.db.select().from(models).where(eq(models.id, model.id))
  t.equal(row.matches, 1, 'the model counts its match')
  t.ok(row.lastMatchedAt, 'and when it last matched')

  // Deactivated, the model no longer runs.
  const off = await inject(app, { method: 'PATCH', url: `/api/models/${model.id}`, headers: analyst.auth, payload: { is_active: false } })
  t.equal(off.status, 200)
  await eventually(async () => app.detector.models.length === 0, 5000)
  const after = await inject(app, {
    method: 'POST',
    url: '/api/events/',
    headers: admin.auth,
    payload: { source: 'ws-17', event_type: 'intrusion', severity: 'Low', attributes: { logsource: { category: 'process_creation' }, Image: 'C:\\Windows\\System32\\whoami.exe' } }
  })
  t.equal(after.body.severity, 'Low', 'an inactive model does not run')
})

t.test('bulk, HEC and _bulk: the ingest key logsource, the event type from tags, a correlation that fires once per window', async (t) => {
  const app = await build(t)
  const { admin, analyst } = await makeRoles(app)
  const model = await createModel(app, analyst, { name: 'SSH brute force', model_type: 'sigma', definition: BRUTE_FORCE })
  const { key } = await makeIngestKey(app, admin, { source: 'bastion-01', severity: 'Low', event_type: 'intrusion', logsource: { product: 'linux', service: 'sshd' } })
  const bearer = { authorization: `Bearer ${key}` }

  // Four failures from one address, one from another: nothing fires yet.
  const first = Array.from({ length: 4 }, (_, i) => sshLine('203.0.113.9', 'root', i))
  let r = await inject(app, { method: 'POST', url: '/api/events/bulk', headers: { ...bearer, 'content-type': 'application/x-ndjson' }, payload: ndjson([...first, sshLine('198.51.100.7', 'root', 9)]) })
  t.same(r.body, { accepted: 5, duplicates: 0, rejected: 0, errors: [] })
  t.equal((await alertsOfModel(app, analyst, model.id)).length, 0)

  // The fifth, through Splunk HEC: the correlation fires.
  r = await inject(app, { method: 'POST', url: '/services/collector/event', headers: { authorization: `Splunk ${key}` }, payload: JSON.stringify({ event: sshLine('203.0.113.9', 'admin', 5) }) })
  t.equal(r.status, 200)
  await eventually(async () => (await alertsOfModel(app, analyst, model.id)).length === 1, 5000)
  let fired = await alertsOfModel(app, analyst, model.id)
  t.equal(fired.length, 1, 'one alert for the group')
  const d = fired[0].detections[0]
  t.match(d, { model_id: model.id, rule_id: '22222222-2222-4222-8222-222222222222', title: 'SSH brute force', level: 'high', count: 5, group: { 'source.ip': '203.0.113.9' } })
  const ids = await app.db.select({ id: events.id }).from(events).where(sql`${events.description} like '%Failed password%from 203.0.113.9 %'`)
  t.same([...d.event_ids!].sort(), ids.map((e) => e.id).sort(), 'the alert lists the events that made it fire')
  const [firing] = await app.db.select().from(events).where(eq(events.id, fired[0].event))
  t.equal(firing.eventType, 'intrusion', 'the type comes from the ATT&CK tags')
  t.equal(firing.severity, 'High')

  // More failures within the window, through Elasticsearch _bulk: no second alert.
  const es = Array.from({ length: 6 }, (_, i) => [{ create: { _index: 'auth' } }, sshLine('203.0.113.9', 'root', 10 + i)]).flat()
  r = await inject(app, { method: 'POST', url: '/_bulk', headers: { ...bearer, 'content-type': 'application/x-ndjson' }, payload: ndjson(es) })
  t.equal(r.status, 200)
  t.equal(r.body.errors, false)
  await app.detector.flush()
  fired = await alertsOfModel(app, analyst, model.id)
  t.equal(fired.length, 1, 'a correlation fires once per group per window, not once per event past its threshold')

  // The base rule (generate: false) feeds the correlation only: its matches are not alerts or detections.
  const [plain] = await app.db.select().from(events).where(sql`${events.description} like '%198.51.100.7%'`)
  t.equal(plain.detections, null)
  t.equal(plain.severity, 'Low')
  t.equal(plain.eventType, 'intrusion', "the key's default type")
})

// Several instances share one PostgreSQL (PGlite belongs to one process).
if (onPostgres) t.test('the correlation state is shared by two instances ingesting at once', async (t) => {
  const first = await build(t)
  const url = first.config.DATABASE_URL!
  const second = await build(t, { DATABASE_URL: url })
  const { admin, analyst } = await makeRoles(first)
  const model = await createModel(first, analyst, { name: 'SSH brute force', model_type: 'sigma', definition: BRUTE_FORCE })
  // Both instances must run the model before the race (the second learns of it by notification).
  t.ok(await eventually(async () => second.detector.models.length === 1 && first.detector.models.length === 1, 30_000), 'both instances compiled the model')
  const { key } = await makeIngestKey(first, admin, { source: 'bastion-01', event_type: 'intrusion', severity: 'Low', logsource: { product: 'linux', service: 'sshd' } })
  const post = (app: FastifyInstance, i: number) =>
    inject(app, { method: 'POST', url: '/api/events/bulk', headers: { authorization: `Bearer ${key}` }, payload: ndjson([sshLine('192.0.2.44', 'root', i)]) })
  // Twelve failures, alternating between the instances and racing: one firing.
  await Promise.all(Array.from({ length: 12 }, (_, i) => post(i % 2 ? second : first, i)))
  await eventually(async () => (await alertsOfModel(first, analyst, model.id)).length > 0, 5000)
  const fired = await alertsOfModel(first, analyst, model.id)
  t.equal(fired.length, 1, 'exactly one alert')
  t.equal(fired[0].detections[0].count, 5, 'at the fifth failure, counted across instances')
})

if (onPostgres) t.test('a restart in the middle of a window keeps the window', async (t) => {
  const before = await build(t)
  const url = before.config.DATABASE_URL!
  const { admin, analyst } = await makeRoles(before)
  const model = await createModel(before, analyst, { name: 'SSH brute force', model_type: 'sigma', definition: BRUTE_FORCE })
  const { key } = await makeIngestKey(before, admin, { source: 'bastion-01', event_type: 'intrusion', severity: 'Low', logsource: { product: 'linux', service: 'sshd' } })
  const post = (app: FastifyInstance, lines: unknown[]) =>
    inject(app, { method: 'POST', url: '/api/events/bulk', headers: { authorization: `Bearer ${key}` }, payload: ndjson(lines) })
  await post(before, [0, 1, 2].map((i) => sshLine('192.0.2.77', 'root', i)))
  await before.close()

  const after = await build(t, { DATABASE_URL: url })
  t.equal(after.detector.models.length, 1, 'the models are compiled at start')
  await post(after, [3, 4].map((i) => sshLine('192.0.2.77', 'root', i)))
  await eventually(async () => (await alertsOfModel(after, analyst, model.id)).length > 0, 5000)
  const fired = await alertsOfModel(after, analyst, model.id)
  t.equal(fired.length, 1)
  t.equal(fired[0].detections[0].count, 5, 'the three failures before the restart count')
})

t.test('a learned baseline: retrain in the background, then one alert for a burst', async (t) => {
  const app = await build(t)
  const { analyst } = await makeRoles(app)
  // A day of history: web-01 sends two to four events in each of the 24 whole hours before this
  // one (training reads whole buckets, so history placed from "now" would straddle them).
  const now = Date.now()
  const hour = 3600_000
  const thisHour = Math.floor(now / hour) * hour
  await partitionDays(app, new Date(now - 26 * hour), new Date(now))
  const history: string[] = []
  for (let h = 1; h <= 24; h++) for (let i = 0; i < 2 + (h % 3); i++) history.push(new Date(thisHour - h * hour + (i + 1) * 60_000).toISOString())
  await app.db.execute(sql`
    INSERT INTO events (id, source, event_type, severity, description, "timestamp", updated_at)
    SELECT nextval('events_id_seq'), 'web-01', 'intrusion', 'Low', 'GET /', t, t FROM unnest(${sql.param(history)}::text[]::timestamptz[]) AS t`)

  const created = await inject(app, {
    method: 'POST',
    url: '/api/models/',
    headers: analyst.auth,
    payload: { name: 'Event rate per source', model_type: 'anomaly_detection', definition: 'group_by: source\nbucket: 1h\nhistory: 1d\nthreshold: 3\nmin_count: 10\nlevel: high\n' }
  })
  t.equal(created.status, 201)
  t.equal(created.body.status, 'training', 'a new baseline starts training')
  const id = created.body.id
  await app.trainModels()
  await eventually(async () => (await inject(app, { method: 'GET', url: `/api/models/${id}`, headers: analyst.auth })).body.status === 'ready', 5000)
  const [trained] = await app.db.select().from(models).where(eq(models.id, id))
  t.equal(trained.status, 'ready')
  t.ok(trained.trainedAt)
  const baseline = trained.baseline as { groups: Record<string, { mean: number; stddev: number }>; buckets: number }
  t.equal(baseline.buckets, 24)
  // The 24 hours before the hour the training ran in (an hour may have begun since the seeding).
  const to = Math.floor(trained.trainedAt!.getTime() / hour) * hour
  const inWindow = history.filter((ts) => Date.parse(ts) >= to - 24 * hour && Date.parse(ts) < to).length
  t.equal(Math.round(baseline.groups['web-01'].mean * 24), inWindow, 'the mean of the history per bucket')
  await eventually(async () => app.detector.models.some((m) => m.ref.id === id && m.baseline !== null), 5000)

  // A burst of 30 events in this hour: one alert for web-01, whatever follows in the same bucket.
  const { admin } = await makeRoles(app)
  for (let i = 0; i < 30; i++) {
    await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 'web-01', event_type: 'intrusion', severity: 'Low' } })
  }
  const fired = await alertsOfModel(app, analyst, id)
  t.equal(fired.length, 1, 'one alert for the group and bucket')
  const d = fired[0].detections[0] as unknown as { score: number; observed: number; baseline: { mean: number; stddev: number }; group: Record<string, string> }
  t.match(d, { group: { source: 'web-01' }, baseline: { mean: Number }, observed: Number })
  t.ok(d.observed >= 10, 'observed at least the minimum count')
  t.ok(d.score > 3, 'scored past the threshold')
  const [event] = await app.db.select().from(events).where(eq(events.id, fired[0].event))
  t.equal(event.eventType, 'anomaly')

  // Quiet sources do not alert.
  for (let i = 0; i < 3; i++) {
    await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 'web-02', event_type: 'intrusion', severity: 'Low' } })
  }
  t.equal((await alertsOfModel(app, analyst, id)).length, 1)

  // Retrain: 202, training, then ready again.
  const retrain = await inject(app, { method: 'POST', url: `/api/models/${id}/retrain`, headers: analyst.auth })
  t.equal(retrain.status, 202)
  t.same(retrain.body, { message: retrain.body.message, model_id: id, status: 'training' })
  await eventually(async () => (await inject(app, { method: 'GET', url: `/api/models/${id}`, headers: analyst.auth })).body.status === 'ready', 15000)
  t.pass('trained again')
})

t.test('a training interrupted by a stop resumes when its lease expires', async (t) => {
  const app = await build(t)
  // A trainer that died mid-way (a stop, a crash): its lease is still held, then expires.
  const [row] = await app.db
    .insert(models)
    .values({ name: 'rate', modelType: 'anomaly_detection', status: 'training', definition: '{}', trainingLeaseUntil: new Date(Date.now() + 3600_000) })
    .returning()
  await app.trainModels()
  t.equal((await app.db.select().from(models).where(eq(models.id, row.id)))[0].status, 'training', 'a held lease is left alone')
  await app.db.update(models).set({ trainingLeaseUntil: new Date(Date.now() - 1000) }).where(eq(models.id, row.id))
  await app.trainModels()
  const [trained] = await app.db.select().from(models).where(eq(models.id, row.id))
  t.equal(trained.status, 'ready', 'an expired lease is taken over')
  t.ok(trained.baseline, 'with its baseline')
})

t.test('dry run, import, and definitions refused with the reason', async (t) => {
  const app = await build(t)
  const { analyst, viewer } = await makeRoles(app)
  const model = await createModel(app, analyst, { name: 'Whoami', model_type: 'sigma', definition: WHOAMI })
  const eventsBefore = (await app.db.select({ id: events.id }).from(events)).length

  const dry = await inject(app, {
    method: 'POST',
    url: `/api/models/${model.id}/test`,
    headers: analyst.auth,
    payload: { records: [{ logsource: { category: 'process_creation' }, Image: 'C:\\Windows\\System32\\WHOAMI.EXE' }, { Image: 'notepad.exe' }] }
  })
  t.equal(dry.status, 200)
  t.equal(dry.body.results.length, 2)
  t.match(dry.body.results[0], { index: 0, matched: true, detections: [{ rule_id: '11111111-1111-4111-8111-111111111111', level: 'high' }] })
  t.same(dry.body.results[1], { index: 1, matched: false, detections: [] })
  t.equal((await app.db.select({ id: events.id }).from(events)).length, eventsBefore, 'a dry run stores nothing')
  t.equal((await inject(app, { method: 'POST', url: `/api/models/${model.id}/test`, headers: viewer.auth, payload: { records: [] } })).status, 403)

  const yaml = `${WHOAMI.replace('Whoami execution', 'Whoami again').replace('11111111-1111-4111-8111-111111111111', '33333333-3333-4333-8333-333333333333')}
---
${BRUTE_FORCE}
---
title: Broken
logsource: {product: linux}
detection:
  sel:
    a|nosuchmodifier: x
  condition: sel
`
  const imported = await inject(app, { method: 'POST', url: '/api/models/import', headers: { ...analyst.auth, 'content-type': 'application/yaml' }, payload: yaml })
  t.equal(imported.status, 200)
  t.same(imported.body.created.map((m: { name: string }) => m.name).sort(), ['SSH brute force', 'Whoami again'], 'one model per rule; a correlation keeps its rules')
  t.equal(imported.body.errors.length, 1)
  t.match(imported.body.errors[0], { index: 3, title: 'Broken', detail: /unknown modifier 'nosuchmodifier'/ })

  for (const [definition, reason] of [
    ['title: x\nlogsource: {product: linux}\ndetection:\n  sel:\n    a|re: "(a)\\\\1"\n  condition: sel\n', /detection\.sel\.a\|re: .*linear time/],
    ['title: x\nlogsource: {product: linux}\ndetection:\n  sel:\n    a: 1\n  condition: sel and\n', /detection\.condition: .*unexpected end/],
    ['title: [x\n', /not valid YAML/],
    ['title: x\nlogsource: {product: linux}\ndetection:\n  sel:\n    a: 1\n  condition: sel | count() > 5\n', /aggregations/]
  ] as const) {
    const r = await inject(app, { method: 'POST', url: '/api/models/', headers: analyst.auth, payload: { name: `bad ${String(reason)}`, model_type: 'sigma', definition } })
    t.equal(r.status, 400, `refused: ${String(reason)}`)
    t.equal(r.body.code, 'invalid_definition')
    t.match(r.body.detail, reason)
  }
  const count = (await app.db.select({ id: models.id }).from(models)).length
  t.equal(count, 3, 'nothing refused was stored')
  const other = await inject(app, { method: 'POST', url: '/api/models/', headers: analyst.auth, payload: { name: 'nn', model_type: 'neural_network', definition: 'x' } })
  t.equal(other.status, 400)
  t.match(JSON.stringify(other.body), /sigma.*anomaly_detection/)
})

t.test('alert filters by detection are checked', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const bad = await inject(app, { method: 'GET', url: '/api/alerts/?model=abc', headers: admin.auth })
  t.equal(bad.status, 400, 'a model id is a number')
  t.equal(bad.body.code, 'validation_failed')
  const long = await inject(app, { method: 'GET', url: `/api/alerts/?rule_id=${'x'.repeat(300)}`, headers: admin.auth })
  t.equal(long.status, 400, 'a rule id is bounded')
})
