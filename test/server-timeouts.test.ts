// Server timeouts against real slow sockets: a client that trickles its body or its headers
// gets 408 within the bound and frees its ingestion slot; an idle keep-alive connection holds
// no slot and is closed after HTTP_KEEP_ALIVE_TIMEOUT_MS; a connection silent both ways is
// closed after HTTP_CONNECTION_TIMEOUT_MS.
import t from 'tap'
import { connectionsCheckingInterval } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { build, eventually, makeUser } from './helper.js'
import { makeIngestKey } from './ingest-helper.js'
import { holdInserts } from './support/hold.js'
import { head, RawClient } from './support/net.js'

const REQUEST_MS = 1500
const HEADERS_MS = 1000
const KEEP_ALIVE_MS = 1000
/** Node keeps an idle connection this much longer than it advertises, so a client that honours the advertised bound never races the close. */
const NODE_KEEP_ALIVE_BUFFER_MS = 1000
const CONNECTION_MS = 3000
/** What a loaded test machine may add to a bound (timers, the event loop, the checking interval). */
const SLACK_MS = 1500

const BODY = JSON.stringify({ host: 'timeouts', message: 'm' })
// The admin token has no ingest-key defaults.
const ADMIN_BODY = JSON.stringify({ host: 'timeouts', message: 'm', event_type: 'anomaly', severity: 'Low' })

t.test('server timeouts', async (t) => {
  // One slot and no queue: a request finds the slot taken or free, and says which at once.
  const app = await build(t, {
    HTTP_REQUEST_TIMEOUT_MS: REQUEST_MS,
    HTTP_HEADERS_TIMEOUT_MS: HEADERS_MS,
    HTTP_KEEP_ALIVE_TIMEOUT_MS: KEEP_ALIVE_MS,
    HTTP_CONNECTION_TIMEOUT_MS: CONNECTION_MS,
    INGEST_MAX_CONCURRENCY: 1,
    INGEST_QUEUE_TIMEOUT_MS: 0,
    INGEST_MAX_EVENT_LOOP_DELAY_MS: 0,
    AUTH_CACHE_TTL_MS: 60_000
  })
  const admin = await makeUser(app, 'admin')
  const { key } = await makeIngestKey(app, admin, { event_type: 'anomaly', severity: 'Low' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  const gate = app.ingestGate
  const ingestHead = (extra: Record<string, string | number> = {}) =>
    head('POST', '/api/events/bulk', { 'x-api-key': key, 'content-length': Buffer.byteLength(BODY), ...extra })

  /** A whole ingestion request on a new connection: 200 when the slot was free, 503 when not. */
  async function ingestNow() {
    const client = await RawClient.open(port)
    await client.write(ingestHead({ connection: 'close' }) + BODY)
    const reply = await client.response()
    client.destroy()
    return reply?.status
  }

  /** Writes `data` a byte every 100 ms until the server closes the connection. */
  async function trickle(client: RawClient, data: string) {
    let stop = false
    void client.closed.then(() => (stop = true))
    for (const byte of data) {
      if (stop) return
      await client.write(byte).catch(() => {})
      await Promise.race([client.closed, new Promise((resolve) => setTimeout(resolve, 100))])
    }
  }

  t.test('a client that trickles its body gets 408 within the bound and frees its slot', async (t) => {
    const client = await RawClient.open(port)
    const started = Date.now()
    await client.write(ingestHead())
    t.ok(await eventually(async () => gate.inFlight === 1, 5000), 'the trickling request holds the slot')
    t.equal(await ingestNow(), 503, 'meanwhile Vigil is busy')
    void trickle(client, BODY.repeat(100))
    const reply = await client.response()
    const elapsed = Date.now() - started
    await client.closed
    t.equal(reply?.status, 408)
    t.same(reply?.body, { detail: 'The request was not received in time.', code: 'request_timeout' })
    t.equal(reply?.headers['content-type'], 'application/json; charset=utf-8')
    t.ok(elapsed >= REQUEST_MS - 100 && elapsed < REQUEST_MS + SLACK_MS, `answered after ${elapsed} ms, bound ${REQUEST_MS} ms`)
    t.ok(await eventually(async () => gate.inFlight === 0, 5000), 'the slot is free')
    t.equal(await ingestNow(), 200, 'the next request is served')
  })

  t.test('a client that trickles its headers gets 408 within the headers bound', async (t) => {
    const client = await RawClient.open(port)
    const started = Date.now()
    void trickle(client, ingestHead({ 'x-padding': 'p'.repeat(200) }))
    const reply = await client.response()
    const elapsed = Date.now() - started
    t.equal(reply?.status, 408)
    t.ok(elapsed >= HEADERS_MS - 100 && elapsed < HEADERS_MS + SLACK_MS, `answered after ${elapsed} ms, bound ${HEADERS_MS} ms`)
    t.equal(gate.inFlight, 0, 'it never got a slot')
  })

  t.test('an idle keep-alive connection holds no slot and is closed after the keep-alive bound', async (t) => {
    const client = await RawClient.open(port)
    await client.write(ingestHead() + BODY)
    const reply = await client.response()
    const answered = Date.now()
    t.same([reply?.status, reply?.body.accepted], [200, 1])
    t.equal(reply?.headers.connection, 'keep-alive', 'the connection stays open')
    t.equal(reply?.headers['keep-alive'], `timeout=${KEEP_ALIVE_MS / 1000}`, 'and the client is told for how long')
    t.equal(await ingestNow(), 200, 'while it idles, the slot is free for another connection')
    t.equal(gate.inFlight, 0)
    await client.closed
    const idle = Date.now() - answered
    const bound = KEEP_ALIVE_MS + NODE_KEEP_ALIVE_BUFFER_MS
    t.ok(idle >= bound - 100 && idle < bound + SLACK_MS, `closed after ${idle} ms idle, bound ${bound} ms (before the connection bound, ${CONNECTION_MS} ms)`)
  })

  t.test('a connection silent both ways is closed after the connection bound, and its slot goes back', async (t) => {
    // The request is complete (so the request bound no longer applies) and its insert is held,
    // so neither side sends anything. An admin token, cached once used: on PGlite the hold
    // keeps the ingest key from being read.
    const adminHead = head('POST', '/api/events/bulk', { ...admin.auth, 'content-length': Buffer.byteLength(ADMIN_BODY) })
    const warm = await RawClient.open(port)
    await warm.write(adminHead + ADMIN_BODY)
    t.equal((await warm.response())?.status, 200, 'warm-up')
    warm.destroy()
    const hold = await holdInserts(app)
    const client = await RawClient.open(port)
    const started = Date.now()
    await client.write(adminHead + ADMIN_BODY)
    t.ok(await eventually(hold.waiting, 5000), 'the insert waits for the database')
    await client.closed
    const silent = Date.now() - started
    t.equal(client.received, 0, 'no answer came')
    t.ok(silent >= CONNECTION_MS - 100 && silent < CONNECTION_MS + SLACK_MS, `closed after ${silent} ms of silence, bound ${CONNECTION_MS} ms`)
    t.equal(gate.inFlight, 1, 'the insert still runs and keeps its slot')
    await hold.release()
    t.ok(await eventually(async () => gate.inFlight === 0, 5000), 'the slot went back when the insert ended')
    t.equal(await ingestNow(), 200)
  })
  t.test('HTTP that Node refuses before Fastify sees it gets the JSON error shape with a code', async (t) => {
    const big = await RawClient.open(port)
    await big.write(head('GET', '/health/live', { 'x-filler': 'x'.repeat(20_000), connection: 'close' }))
    const tooLarge = await big.response()
    t.equal(tooLarge?.status, 431)
    t.same(tooLarge?.body, { detail: 'The request headers are too large.', code: 'headers_too_large' })
    const bad = await RawClient.open(port)
    await bad.write('NOT HTTP AT ALL\r\n\r\n')
    const malformed = await bad.response()
    t.equal(malformed?.status, 400)
    t.same(malformed?.body, { detail: 'The request is not valid HTTP.', code: 'malformed_request' })
    await Promise.all([big.closed, bad.closed])
    t.equal(await ingestNow(), 200, 'and the server serves on')
  })
})

t.test('the bounds are checked often enough to hold, and must agree', async (t) => {
  const config = (env: Record<string, string>) => loadConfig({ NODE_ENV: 'test', JWT_SECRET: 'x'.repeat(32), DATA_DIR: 'memory://', ...env })
  t.equal(connectionsCheckingInterval(config({})), 1000, 'defaults (10 s headers bound): every second')
  t.equal(connectionsCheckingInterval(config({ HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_REQUEST_TIMEOUT_MS: '1500' })), 100)
  t.equal(connectionsCheckingInterval(config({ HTTP_HEADERS_TIMEOUT_MS: '0', HTTP_REQUEST_TIMEOUT_MS: '0' })), 30_000, 'no bounds: Node’s default')
  t.throws(() => config({ HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '10000' }), /HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS/)
  t.throws(() => config({ HTTP_KEEP_ALIVE_TIMEOUT_MS: '0' }), /HTTP_KEEP_ALIVE_TIMEOUT_MS/)
})
