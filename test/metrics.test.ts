// GET /metrics over real HTTP: absent without METRICS_TOKEN, refused (401, Vigil's error shape)
// without the token or with a wrong one, and with it a Prometheus text scrape that a real parser
// reads, whose counters move with the traffic sent: requests by route pattern and status,
// ingested records by endpoint and outcome, refusals for load, and the gate's gauges; webhook
// attempts by outcome against real receivers, pending deliveries, and open alert streams.
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { UNMATCHED_ROUTE } from '../plugins/metrics.js'
import { loadConfig } from '../src/config.js'
import { build, eventually, makeUser, onPostgres, type Overrides, type TestUser } from './helper.js'
import { makeIngestKey } from './ingest-helper.js'
import { head, RawClient } from './support/net.js'
import { receiver } from './support/receiver.js'
import { openSse } from './support/sse.js'

interface Sample {
  value?: string
  labels?: Record<string, string>
}
interface Family {
  name: string
  type: string
  metrics: Sample[]
}
const require = createRequire(import.meta.url)
// parse-prometheus-text-format ships no types.
const parsePrometheus = require('parse-prometheus-text-format') as (text: string) => Family[]

const TOKEN = randomBytes(24).toString('hex')
const scraper = { authorization: `Bearer ${TOKEN}` }

/** The app on a real port, with the metrics token and an admin. */
async function serve(t: Parameters<typeof build>[0], overrides: Overrides = {}) {
  const app = await build(t, { METRICS_TOKEN: TOKEN, ...overrides })
  const admin = await makeUser(app, 'admin')
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  return { app, admin, port, base: `http://127.0.0.1:${port}` }
}

async function call(base: string, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const res = await fetch(`${base}${path}`, init)
  const text = await res.text()
  let body: any
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  return { status: res.status, headers: res.headers, text, body }
}

/** One parsed scrape; samples absent from it read as 0, as Prometheus treats a new series. */
class Scrape {
  readonly families: Family[]
  constructor(private readonly text: string) {
    this.families = parsePrometheus(text)
  }

  family(name: string): Family | undefined {
    return this.families.find((f) => f.name === name)
  }

  sample(name: string, labels: Record<string, string>): Sample | undefined {
    return this.family(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
  }

  value(name: string, labels: Record<string, string> = {}): number {
    return Number(this.sample(name, labels)?.value ?? 0)
  }

  /**
   * A histogram's observation count. The parser folds a labelled histogram into one sample (it
   * keeps labels for unlabelled histograms only), so the `_count` lines are parsed on their own,
   * as the samples they are.
   */
  count(name: string, labels: Record<string, string>): number {
    const lines = this.text.split('\n').filter((line) => line.startsWith(`${name}_count{`))
    return new Scrape(lines.join('\n')).value(`${name}_count`, labels)
  }
}

async function scrape(base: string): Promise<Scrape> {
  const res = await call(base, '/metrics', { headers: scraper })
  if (res.status !== 200) throw new Error(`scrape answered ${res.status}: ${res.text}`)
  return new Scrape(res.text)
}

t.test('without METRICS_TOKEN there is no /metrics; a short token is refused at start', async (t) => {
  const app = await build(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const res = await call(base, '/metrics', { headers: scraper })
  t.equal(res.status, 404)
  t.same(res.body, { code: 'not_found', detail: 'Not found.' })
  t.throws(() => loadConfig({ JWT_SECRET: 'x'.repeat(32), METRICS_TOKEN: 'short' }), /METRICS_TOKEN/)
})

t.test('refused without the token and with a wrong one', async (t) => {
  const { admin, base } = await serve(t)
  const cases: [string, Record<string, string>, string][] = [
    ['no credentials', {}, 'not_authenticated'],
    ['a wrong token', { authorization: `Bearer ${TOKEN.slice(0, -1)}x` }, 'invalid_token'],
    ['the token with another scheme', { authorization: `Basic ${TOKEN}` }, 'invalid_token'],
    ["an admin's access token", admin.auth, 'invalid_token']
  ]
  for (const [what, headers, code] of cases) {
    const res = await call(base, '/metrics', { headers })
    t.equal(res.status, 401, `${what}: 401`)
    t.match(res.headers.get('content-type'), /^application\/json/, `${what}: JSON`)
    t.equal(res.body?.code, code, `${what}: ${code}`)
    t.type(res.body?.detail, 'string', `${what}: detail`)
    t.match(res.headers.get('www-authenticate'), /^Bearer/, `${what}: a Bearer challenge`)
    t.notOk(res.text.includes('vigil_'), `${what}: no metrics in the body`)
  }
})

t.test('a scrape with the token', async (t) => {
  const { app, admin, base } = await serve(t, { INGEST_MAX_CONCURRENCY: 3 })

  t.test('is Prometheus text that a parser reads, with every metric family', async (t) => {
    const res = await call(base, '/metrics', { headers: scraper })
    t.equal(res.status, 200)
    t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4; charset=utf-8$/)
    t.equal(res.headers.get('cache-control'), 'no-store')
    const s = new Scrape(res.text)
    const types = Object.fromEntries(s.families.map((f) => [f.name, f.type]))
    t.match(types, {
      vigil_http_requests_total: 'COUNTER',
      vigil_http_request_duration_seconds: 'HISTOGRAM',
      vigil_ingest_events_total: 'COUNTER',
      vigil_ingest_refused_total: 'COUNTER',
      vigil_ingest_gate_slots: 'GAUGE',
      vigil_ingest_gate_in_flight: 'GAUGE',
      vigil_ingest_gate_waiting: 'GAUGE',
      vigil_db_pool_max_connections: 'GAUGE',
      vigil_detections_total: 'COUNTER',
      vigil_alert_streams: 'GAUGE',
      vigil_webhook_attempts_total: 'COUNTER',
      vigil_webhook_deliveries_pending: 'GAUGE'
    })
    // prom-client's default metrics: process, heap and event-loop delay.
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds']) {
      t.ok(s.family(name), `${name} is present`)
    }
    t.ok(s.value('process_resident_memory_bytes') > 0, 'and carries a real value')

    t.equal(s.value('vigil_ingest_gate_slots'), app.ingestGate.max, 'the gate size')
    t.equal(app.ingestGate.max, 3, 'which is INGEST_MAX_CONCURRENCY')
    t.equal(s.value('vigil_ingest_gate_in_flight'), 0)
    t.equal(s.value('vigil_ingest_gate_waiting'), 0)
    const pool = s.family('vigil_db_pool_max_connections')!.metrics
    t.same(pool.map((m) => m.labels), [{ driver: app.database.kind }])
    t.equal(Number(pool[0].value), onPostgres ? app.config.DB_POOL_MAX : 1, onPostgres ? 'DB_POOL_MAX' : 'one embedded session')
    const lists = s.family('vigil_db_list_pool_max_connections')!.metrics
    t.equal(Number(lists[0].value), onPostgres ? app.config.DB_LIST_POOL_MAX : 1, onPostgres ? 'DB_LIST_POOL_MAX' : 'the same embedded session')
  })

  t.test('request counters move with traffic, by route pattern and status', async (t) => {
    const before = await scrape(base)
    const unmatched = ['/nope', '/api/nope/1', `/x-${randomBytes(4).toString('hex')}`]
    for (const path of unmatched) t.equal((await call(base, path)).status, 404)
    const live = 2
    for (let i = 0; i < live; i++) t.equal((await call(base, '/health/live')).status, 200)
    t.equal((await call(base, '/api/alerts/999999', { headers: admin.auth })).status, 404)
    const after = await scrape(base)

    const delta = (labels: Record<string, string>) =>
      after.value('vigil_http_requests_total', labels) - before.value('vigil_http_requests_total', labels)
    t.equal(delta({ route: UNMATCHED_ROUTE, method: 'GET', status_code: '404' }), unmatched.length, 'unmatched URLs share one label')
    t.equal(delta({ route: '/health/live', method: 'GET', status_code: '200' }), live)
    t.equal(delta({ route: '/api/alerts/:id', method: 'GET', status_code: '404' }), 1, 'the route pattern, not the URL')
    const histogram = (s: Scrape) => s.count('vigil_http_request_duration_seconds', { route: '/health/live', method: 'GET' })
    t.equal(histogram(after) - histogram(before), live, 'the latency histogram counts them too')
    const routes = after.family('vigil_http_requests_total')!.metrics.map((m) => m.labels?.route ?? '')
    t.notOk(routes.some((r) => r.includes('999999') || r.includes('nope') || r.startsWith('/x-')), 'no raw URL is a label')
  })

  t.test('ingestion counters move with accepted, duplicate and rejected records, by endpoint', async (t) => {
    const { key } = await makeIngestKey(app, admin, { source: 'metrics-test', event_type: 'anomaly', severity: 'Low' })
    const id = `m-${randomBytes(4).toString('hex')}`
    const before = await scrape(base)
    const bulk = (body: string) => call(base, '/api/events/bulk', { method: 'POST', headers: { authorization: `Bearer ${key}` }, body })
    // One good record and a line that is not JSON, then the good one again.
    const first = await bulk(`${JSON.stringify({ message: 'metrics', external_id: id })}\n{"message": "cut off\n`)
    const again = await bulk(JSON.stringify({ message: 'metrics', external_id: id }))
    t.match(first.body, { accepted: 1, duplicates: 0, rejected: 1 })
    t.match(again.body, { accepted: 0, duplicates: 1, rejected: 0 })
    const hec = await call(base, '/services/collector/event', {
      method: 'POST',
      headers: { authorization: `Splunk ${key}` },
      body: JSON.stringify({ event: { message: 'from hec' } })
    })
    t.equal(hec.status, 200)
    const es = await call(base, '/_bulk', {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/x-ndjson' },
      body: `{"index":{"_id":"${id}-es"}}\n{"message":"from es"}\n{"index":{"_id":"${id}-es"}}\n{"message":"from es"}\n`
    })
    t.equal(es.status, 200)
    const esStatuses = (es.body.items as Record<string, { status: number }>[]).map((item) => Object.values(item)[0].status)
    const after = await scrape(base)

    const delta = (endpoint: string, outcome: string) =>
      after.value('vigil_ingest_events_total', { endpoint, outcome }) - before.value('vigil_ingest_events_total', { endpoint, outcome })
    t.equal(delta('bulk', 'accepted'), first.body.accepted + again.body.accepted)
    t.equal(delta('bulk', 'duplicate'), first.body.duplicates + again.body.duplicates)
    t.equal(delta('bulk', 'rejected'), first.body.rejected + again.body.rejected)
    t.same([delta('hec', 'accepted'), delta('hec', 'duplicate'), delta('hec', 'rejected')], [1, 0, 0], 'HEC: one event, stored')
    t.same(esStatuses, [201, 200], 'Elasticsearch: created, then a noop for the same _id')
    t.same([delta('es', 'accepted'), delta('es', 'duplicate'), delta('es', 'rejected')], [1, 1, 0])
  })
})

/** An ingestion request whose headers (and `sent` bytes of its body) are on the wire: it holds its slot. */
async function holdSlot(port: number, key: string, body: string, sent: number) {
  const client = await RawClient.open(port)
  await client.write(head('POST', '/api/events/bulk', { 'x-api-key': key, 'content-type': 'application/x-ndjson', 'content-length': Buffer.byteLength(body) }))
  await client.write(body.slice(0, sent))
  return {
    finish: async () => {
      await client.write(body.slice(sent))
      const reply = await client.response()
      client.destroy()
      return reply
    }
  }
}

async function ingestKey(app: FastifyInstance, admin: TestUser) {
  return (await makeIngestKey(app, admin, { source: 'metrics-gate', event_type: 'anomaly', severity: 'Low' })).key
}

t.test('the gate gauges follow requests in flight and waiting', async (t) => {
  const { app, admin, port, base } = await serve(t, { INGEST_MAX_CONCURRENCY: 1, INGEST_QUEUE_TIMEOUT_MS: 60_000 })
  const key = await ingestKey(app, admin)
  const gauges = async () => {
    const s = await scrape(base)
    return { inFlight: s.value('vigil_ingest_gate_in_flight'), waiting: s.value('vigil_ingest_gate_waiting') }
  }
  const holder = await holdSlot(port, key, JSON.stringify({ message: 'holder' }), 3)
  t.ok(await eventually(async () => (await gauges()).inFlight === 1, 10_000), 'in flight: the request whose body is still coming')
  const waiter = await holdSlot(port, key, JSON.stringify({ message: 'waiter' }), 0)
  t.ok(await eventually(async () => (await gauges()).waiting === 1, 10_000), 'waiting: the next one')
  t.same(await gauges(), { inFlight: app.ingestGate.inFlight, waiting: app.ingestGate.waiting }, "the gate's own state")
  t.equal((await holder.finish())?.status, 200)
  t.equal((await waiter.finish())?.status, 200)
  t.ok(await eventually(async () => JSON.stringify(await gauges()) === JSON.stringify({ inFlight: 0, waiting: 0 }), 10_000), 'both back to 0')
})

t.test('detections are counted by model', async (t) => {
  const { app, admin, base } = await serve(t)
  const rule = 'title: Mimikatz\nlogsource: {}\nlevel: high\ndetection:\n  keywords: [sekurlsa]\n  condition: keywords\n'
  const created = await fetch(`${base}/api/models/`, {
    method: 'POST',
    headers: { ...admin.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Mimikatz', model_type: 'sigma', definition: rule })
  })
  const model = (await created.json()) as { id: number }
  t.ok(await eventually(async () => app.detector.models.length === 1, 5000))
  const before = await scrape(base)
  for (const description of ['sekurlsa::logonpasswords', 'nothing here', 'SEKURLSA again']) {
    const r = await fetch(`${base}/api/events/`, {
      method: 'POST',
      headers: { ...admin.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ source: 'ws-1', event_type: 'malware', severity: 'Low', description })
    })
    t.equal(r.status, 201)
  }
  const after = await scrape(base)
  const labels = { model_id: String(model.id), model: 'Mimikatz' }
  t.equal(after.value('vigil_detections_total', labels) - before.value('vigil_detections_total', labels), 2, 'two events matched')
})

t.test('a refusal for load is counted, with its 503', async (t) => {
  const { app, admin, port, base } = await serve(t, { INGEST_MAX_CONCURRENCY: 1, INGEST_QUEUE_TIMEOUT_MS: 0 })
  const key = await ingestKey(app, admin)
  const holder = await holdSlot(port, key, JSON.stringify({ message: 'holder' }), 3)
  t.ok(await eventually(async () => app.ingestGate.inFlight === 1, 10_000), 'the only slot is taken')
  const before = await scrape(base)
  const refused = await call(base, '/api/events/bulk', { method: 'POST', headers: { 'x-api-key': key }, body: JSON.stringify({ message: 'refused' }) })
  t.equal(refused.status, 503)
  t.equal(refused.body.code, 'ingest_busy')
  const after = await scrape(base)
  const delta = (name: string, labels: Record<string, string>) => after.value(name, labels) - before.value(name, labels)
  t.equal(delta('vigil_ingest_refused_total', { reason: 'busy' }), 1)
  t.equal(delta('vigil_ingest_refused_total', { reason: 'shutting_down' }), 0)
  t.equal(delta('vigil_http_requests_total', { route: '/api/events/bulk', method: 'POST', status_code: '503' }), 1, 'the 5xx is counted by route')
  t.same(
    [delta('vigil_ingest_events_total', { endpoint: 'bulk', outcome: 'accepted' }), delta('vigil_ingest_events_total', { endpoint: 'bulk', outcome: 'rejected' })],
    [0, 0],
    'a refused request stores nothing and rejects no record'
  )
  t.equal((await holder.finish())?.status, 200)
})

t.test('a refusal for a stalled event loop is counted with its reason', async (t) => {
  const { app, admin, base } = await serve(t, { INGEST_MAX_EVENT_LOOP_DELAY_MS: 100 })
  const key = await ingestKey(app, admin)
  const before = await scrape(base)
  // under-pressure samples the loop's delay on a timer: stall until a sample has seen it.
  let refusals = 0
  for (let i = 0; i < 20 && refusals === 0; i++) {
    const until = Date.now() + 400
    while (Date.now() < until) {
      // Busy on purpose: the event loop must not turn while this runs.
    }
    await new Promise<void>((resolve) => setImmediate(resolve))
    const res = await call(base, '/api/events/bulk', { method: 'POST', headers: { 'x-api-key': key }, body: JSON.stringify({ message: `lag ${i}` }) })
    if (res.status === 503) refusals++
  }
  t.ok(refusals > 0, 'a stalled loop refuses new ingestion')
  const after = await scrape(base)
  const delta = (reason: string) => after.value('vigil_ingest_refused_total', { reason }) - before.value('vigil_ingest_refused_total', { reason })
  t.equal(delta('event_loop'), refusals)
  t.equal(delta('busy'), 0)
})

t.test('webhook attempts by outcome and pending deliveries, with real receivers; open alert streams', async (t) => {
  const { app, admin, base } = await serve(t, { WEBHOOK_ALLOW_PRIVATE: true, WEBHOOK_RETRY_SCHEDULE: '0,0.2', WEBHOOK_TIMEOUT_MS: 2000 })
  const ok = await receiver(t)
  const down = await receiver(t, () => ({ status: 500 }))
  const json = { ...admin.auth, 'content-type': 'application/json' }
  const create = async (name: string, url: string) => (await call(base, '/api/webhooks/', { method: 'POST', headers: json, body: JSON.stringify({ name, url }) })).body.id as number
  const good = await create('good', ok.url)
  const bad = await create('bad', down.url)
  const before = await scrape(base)
  t.equal(before.value('vigil_webhook_deliveries_pending'), 0, 'nothing pending yet')
  t.equal(before.value('vigil_alert_streams'), 0, 'no stream open')
  for (const outcome of ['delivered', 'failed', 'retry']) t.ok(before.sample('vigil_webhook_attempts_total', { outcome }), `${outcome}: a series from the start`)

  const raised = await call(base, '/api/events/', { method: 'POST', headers: json, body: JSON.stringify({ source: 'fw-1', event_type: 'intrusion', severity: 'High' }) })
  t.equal(raised.status, 201)
  const stateOf = async (id: number) => (await call(base, `/api/webhooks/${id}/deliveries/`, { headers: admin.auth })).body.results?.[0]?.state
  t.ok(await eventually(async () => (await stateOf(good)) === 'delivered' && (await stateOf(bad)) === 'failed', 10_000), 'delivered to one; the other failed after two attempts')
  t.equal(down.received.length, 2)
  const after = await scrape(base)
  const delta = (outcome: string) => after.value('vigil_webhook_attempts_total', { outcome }) - before.value('vigil_webhook_attempts_total', { outcome })
  t.same({ delivered: delta('delivered'), retry: delta('retry'), failed: delta('failed') }, { delivered: 1, retry: 1, failed: 1 })

  // A test message to a webhook turned off waits: pending.
  t.equal((await call(base, `/api/webhooks/${good}/`, { method: 'PATCH', headers: json, body: JSON.stringify({ active: false }) })).status, 200)
  t.equal((await call(base, `/api/webhooks/${good}/test/`, { method: 'POST', headers: admin.auth })).status, 202)
  t.equal((await scrape(base)).value('vigil_webhook_deliveries_pending'), 1, 'one pending')

  const stream = await openSse(`${base}/api/alerts/stream`, admin.auth)
  t.teardown(() => stream.close())
  t.equal(stream.status, 200)
  t.ok(await eventually(async () => (await scrape(base)).value('vigil_alert_streams') === 1, 5000), 'one stream open')
  t.equal(app.alertStreams.size, 1)
  stream.close()
  t.ok(await eventually(async () => (await scrape(base)).value('vigil_alert_streams') === 0, 5000), 'closed again')
})
