// Back-pressure, for real: the only ingest slot is held by a request whose body has not arrived
// yet, so the next ingest request finds Vigil saturated.
import { Readable } from 'node:stream'
import t from 'tap'
import { build, eventually, inject, makeUser } from './helper.js'
import { makeIngestKey } from './ingest-helper.js'

/** A request body that arrives only when told to; `reading` resolves once the server starts reading it. */
function heldBody() {
  let started!: () => void
  const reading = new Promise<void>((resolve) => (started = resolve))
  // Nothing is pushed until the server reads: its first read is the signal that the request got
  // past the onRequest hooks (authentication and the ingest slot).
  const stream = new Readable({ read: () => started() })
  return {
    stream,
    reading,
    send(body: string) {
      stream.push(body)
      stream.push(null)
    }
  }
}

const BODY = '{"host":"held","message":"m","id":"held-1"}\n'

t.test('saturated ingestion answers 503 with Retry-After', async (t) => {
  // The event-loop check is off here: this test is about the slot gate, and on a loaded machine
  // (PGlite runs in-process) a lag spike would refuse the held request before it takes the slot.
  const app = await build(t, { INGEST_MAX_CONCURRENCY: 1, INGEST_QUEUE_TIMEOUT_MS: 0, INGEST_MAX_EVENT_LOOP_DELAY_MS: 0 })
  const admin = await makeUser(app, 'admin')
  const { key } = await makeIngestKey(app, admin, { event_type: 'anomaly', severity: 'Low' })
  const auth = { 'x-api-key': key }

  const held = heldBody()
  const first = inject(app, {
    method: 'POST',
    url: '/api/events/bulk',
    headers: { ...auth, 'content-type': 'application/x-ndjson', 'content-length': String(Buffer.byteLength(BODY)) },
    payload: held.stream
  })
  const early = await Promise.race([held.reading.then(() => undefined), first])
  t.equal(early, undefined, 'the held request took the slot and is waiting for its body')

  const bulk = await inject(app, { method: 'POST', url: '/api/events/bulk', headers: auth, payload: BODY })
  t.equal(bulk.status, 503)
  t.equal(bulk.headers['retry-after'], '2')
  t.match(bulk.body, { detail: /busy/ })

  const hec = await inject(app, { method: 'POST', url: '/services/collector/event', headers: { authorization: `Splunk ${key}` }, payload: '{"event":"x"}' })
  t.equal(hec.status, 503)
  t.equal(hec.headers['retry-after'], '2')
  t.match(hec.body, { text: 'Server is busy', code: 9 })

  const es = await inject(app, { method: 'POST', url: '/_bulk', headers: auth, payload: '{"index":{}}\n{"message":"x"}\n{"create":{"_id":"c-1"}}\n{"message":"y"}\n' })
  t.equal(es.status, 200, 'as Elasticsearch with a full write queue: the items say so, and shippers retry them')
  t.equal(es.headers['x-elastic-product'], 'Elasticsearch')
  t.match(es.body, {
    errors: true,
    items: [
      { index: { _index: 'events', _id: null, status: 429, error: { type: 'es_rejected_execution_exception', reason: /busy/ } } },
      { create: { _index: 'events', _id: 'c-1', status: 429, error: { type: 'es_rejected_execution_exception', reason: /busy/ } } }
    ]
  })
  t.equal(es.body.items.length, 2)
  const badEs = await inject(app, { method: 'POST', url: '/_bulk', headers: auth, payload: '{"explode":{}}\n{"message":"x"}\n' })
  t.equal(badEs.status, 400, 'a malformed body is still refused as a whole while busy: retrying it cannot help')

  const health = await inject(app, { method: 'GET', url: '/services/collector/health' })
  t.same([health.status, health.body], [503, { text: 'HEC is unhealthy, queues are full', code: 18 }])

  const api = await inject(app, { method: 'GET', url: '/api/events/', headers: admin.auth })
  t.equal(api.status, 200, 'the rest of the API is not held back')
  t.equal(api.body.count, 0, 'nothing refused was stored')

  held.send(BODY)
  const done = await first
  t.equal(done.status, 200)
  t.same(done.body, { accepted: 1, duplicates: 0, rejected: 0, errors: [] })

  const next = await inject(app, { method: 'POST', url: '/api/events/bulk', headers: auth, payload: BODY })
  t.same([next.status, next.body.duplicates], [200, 1], 'the slot is free again once the request is answered')
  const refused = await inject(app, { method: 'POST', url: '/api/events/bulk', headers: auth, payload: '' })
  t.equal(refused.status, 400)
  const after = await inject(app, { method: 'POST', url: '/api/events/bulk', headers: auth, payload: BODY })
  t.equal(after.status, 200, 'a refused body gives its slot back too')
  t.same((await inject(app, { method: 'GET', url: '/services/collector/health' })).status, 200)
})

t.test('with a queue, a request waits for the slot instead', async (t) => {
  const app = await build(t, { INGEST_MAX_CONCURRENCY: 1, INGEST_QUEUE_TIMEOUT_MS: 60_000, INGEST_MAX_EVENT_LOOP_DELAY_MS: 0 })
  const admin = await makeUser(app, 'admin')
  const { key } = await makeIngestKey(app, admin, { event_type: 'anomaly', severity: 'Low' })
  const held = heldBody()
  const first = inject(app, {
    method: 'POST',
    url: '/api/events/bulk',
    headers: { 'x-api-key': key, 'content-length': String(Buffer.byteLength(BODY)) },
    payload: held.stream
  })
  await held.reading
  const second = inject(app, { method: 'POST', url: '/api/events/bulk', headers: { 'x-api-key': key }, payload: '{"host":"held","id":"held-2"}' })
  held.send(BODY)
  const [a, b] = await Promise.all([first, second])
  t.same([a.status, a.body.accepted], [200, 1])
  t.same([b.status, b.body.accepted], [200, 1])
})

t.test('a stalled event loop refuses new ingestion until it recovers', async (t) => {
  const app = await build(t, { INGEST_MAX_EVENT_LOOP_DELAY_MS: 100 })
  const admin = await makeUser(app, 'admin')
  const { key } = await makeIngestKey(app, admin, { event_type: 'anomaly', severity: 'Low' })
  const bulk = (id: string) => inject(app, { method: 'POST', url: '/api/events/bulk', headers: { 'x-api-key': key }, payload: `{"host":"lag","message":"m","id":"${id}"}\n` })
  const es = () => inject(app, { method: 'POST', url: '/_bulk', headers: { 'x-api-key': key }, payload: '{"create":{"_id":"lag-es"}}\n{"message":"y"}\n' })
  const stall = (ms: number) => {
    const until = Date.now() + ms
    while (Date.now() < until) {
      // Busy on purpose: the event loop must not turn while this runs.
    }
  }
  // A machine busy with other work can lag the loop past the bound on its own: wait until it is responsive.
  let tries = 0
  t.ok(await eventually(async () => (await bulk(`before-${++tries}`)).status === 200, 60_000), 'served while the loop is responsive')

  // under-pressure samples the loop's delay on a timer: stall until a sample has seen it.
  let refused: Awaited<ReturnType<typeof bulk>> | undefined
  for (let i = 0; i < 20 && !refused; i++) {
    stall(400)
    await new Promise<void>((resolve) => setImmediate(resolve))
    const res = await bulk(`during-${i}`)
    if (res.status === 503) refused = res
    else t.equal(res.status, 200, 'a request the guard let through is stored')
  }
  t.ok(refused, 'a stalled loop refuses new ingestion')
  t.match(refused?.body, { code: 'ingest_busy', detail: /event loop/ })
  t.equal(refused?.headers['retry-after'], '2')
  let items: Awaited<ReturnType<typeof es>> | undefined
  for (let i = 0; i < 20 && !items; i++) {
    stall(400)
    await new Promise<void>((resolve) => setImmediate(resolve))
    const res = await es()
    t.equal(res.status, 200, '_bulk answers 200 either way, as Elasticsearch does')
    if (res.body.errors) items = res
  }
  t.match(items?.body.items, [{ create: { status: 429, error: { type: 'es_rejected_execution_exception' } } }], '_bulk says so in its items, which shippers retry')

  const recovered = await eventually(async () => (await bulk('after')).status === 200, 10_000)
  t.ok(recovered, 'once the loop is responsive again, ingestion is served')
})
