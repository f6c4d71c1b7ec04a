// Clients that leave: at every stage of an ingestion request, a real socket closed mid-request
// gives its slot back, and the next request is served at once. Work that had begun runs to its
// end: its rows stay committed and are duplicates when the shipper re-sends them.
//
// Every stage runs on both databases. The issue's report itself (a hundred thousand records sent
// and abandoned, then a cut-off load generator) runs on PostgreSQL, where it was found: on PGlite
// it repeats the stages above at length, the gate being the same code.
import { gzipSync } from 'node:zlib'
import { count, eq, sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { events } from '../src/db/schema.js'
import { build, eventually, makeUser, onPostgres, type Overrides } from './helper.js'
import { makeIngestKey } from './ingest-helper.js'
import { holdInserts } from './support/hold.js'
import { head, RawClient, type RawResponse } from './support/net.js'

type Auth = Record<string, string>

interface Endpoint {
  path: string
  /** How a shipper of this kind sends an ingest key. */
  keyAuth(key: string): Auth
  /** A body of one record per id, from `source`. */
  body(source: string, ids: string[]): string
  /** Whether the reply says every record is stored (new or duplicate). */
  stored(reply: RawResponse): boolean
}

// Spelled out in every record: the admin token used below has no ingest-key defaults.
const FIELDS = { event_type: 'anomaly', severity: 'Low' }

const ENDPOINTS: Record<'bulk' | 'hec' | 'es', Endpoint> = {
  bulk: {
    path: '/api/events/bulk',
    keyAuth: (key) => ({ 'x-api-key': key }),
    body: (source, ids) => ids.map((id) => JSON.stringify({ host: source, message: `m ${id}`, id, ...FIELDS })).join('\n'),
    stored: (r) => r.status === 200 && r.body.rejected === 0
  },
  hec: {
    path: '/services/collector/event',
    keyAuth: (key) => ({ authorization: `Splunk ${key}` }),
    body: (source, ids) => ids.map((id) => JSON.stringify({ host: source, event: { message: `m ${id}`, id, ...FIELDS } })).join(''),
    stored: (r) => r.status === 200 && r.body.code === 0
  },
  es: {
    path: '/_bulk',
    keyAuth: (key) => ({ authorization: `ApiKey ${Buffer.from(`id:${key}`).toString('base64')}` }),
    body: (source, ids) => ids.map((id) => `{"index":{"_id":"${id}"}}\n${JSON.stringify({ host: source, message: `m ${id}`, ...FIELDS })}\n`).join(''),
    stored: (r) => r.status === 200 && r.body.errors === false
  }
}

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`)

/** Resolves with `p`, or with 'still waiting' after `ms`: a bound on a wait, never a pause. */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'still waiting'> {
  let timer: NodeJS.Timeout
  return Promise.race([p, new Promise<'still waiting'>((resolve) => (timer = setTimeout(() => resolve('still waiting'), ms)))]).finally(() =>
    clearTimeout(timer)
  )
}

/** What the app needs to be driven over real sockets. */
async function setup(t: Test, overrides: Overrides) {
  const app = await build(t, { INGEST_MAX_EVENT_LOOP_DELAY_MS: 0, ...overrides })
  const admin = await makeUser(app, 'admin')
  const { key } = await makeIngestKey(app, admin, { event_type: 'anomaly', severity: 'Low' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  return { app, admin, key, port }
}

/** Opens a connection and sends the request line, headers and `body` (all of it unless told). */
async function start(port: number, ep: Endpoint, auth: Auth, body: Buffer, opts: { send?: number; gzip?: boolean } = {}) {
  const client = await RawClient.open(port)
  const headers: Auth = { ...auth, 'content-type': 'application/x-ndjson', 'content-length': String(body.length) }
  if (opts.gzip) headers['content-encoding'] = 'gzip'
  await client.write(head('POST', ep.path, headers))
  await client.write(body.subarray(0, opts.send ?? body.length))
  return client
}

async function stored(app: FastifyInstance, source: string): Promise<number> {
  const [{ n }] = await app.db.select({ n: count() }).from(events).where(eq(events.source, source))
  return n
}

/** The gate is empty, and a normal request on a new connection is served at once. */
async function gateFreeAndServing(t: Test, app: FastifyInstance, port: number, ep: Endpoint, auth: Auth, source: string) {
  const gate = app.ingestGate
  t.ok(await eventually(async () => gate.inFlight === 0 && gate.waiting === 0, 15_000), 'the slot went back and nobody waits')
  t.same({ working: gate.working, abandoned: gate.abandoned }, { working: 0, abandoned: 0 })
  const client = await start(port, ep, { ...auth, connection: 'close' }, Buffer.from(ep.body(source, ids(`${source}-after`, 1))))
  // The queue waits 60 s: a slot still taken would show here as a request left waiting.
  const reply = await within(client.response(), 10_000)
  t.ok(reply !== 'still waiting' && ep.stored(reply!), `a normal request is served at once (${reply === 'still waiting' ? reply : reply?.status})`)
  client.destroy()
}

t.test('a client that leaves at any stage gives its slot back', async (t) => {
  // One slot, and a queue long enough that only a departure can end a wait. Admin tokens are
  // cached (AUTH_CACHE_TTL_MS), so a request whose inserts are held still gets authenticated.
  const { app, admin, key, port } = await setup(t, {
    INGEST_MAX_CONCURRENCY: 1,
    INGEST_QUEUE_TIMEOUT_MS: 60_000,
    INGEST_BATCH_SIZE: 500,
    AUTH_CACHE_TTL_MS: 60_000
  })
  const gate = app.ingestGate
  const bulk = ENDPOINTS.bulk
  const keyAuth = bulk.keyAuth(key)

  t.test('while waiting for a slot', async (t) => {
    const holderBody = Buffer.from(bulk.body('wait', ids('wait-holder', 1)))
    const holder = await start(port, bulk, keyAuth, holderBody, { send: 5 })
    t.ok(await eventually(async () => gate.inFlight === 1, 10_000), 'a request whose body is still coming holds the slot')
    const waiter = await start(port, bulk, keyAuth, Buffer.from(bulk.body('wait', ids('wait-waiter', 1))))
    t.ok(await eventually(async () => gate.waiting === 1, 10_000), 'the next request waits for it')
    waiter.destroy()
    t.ok(await eventually(async () => gate.waiting === 0, 10_000), 'the waiter left the queue when its client left, not when its wait ran out')
    t.equal(gate.inFlight, 1, 'the holder keeps its slot')
    await holder.write(holderBody.subarray(5))
    const reply = await holder.response()
    t.same([reply?.status, reply?.body.accepted], [200, 1], 'the holder is answered')
    holder.destroy()
    await gateFreeAndServing(t, app, port, bulk, keyAuth, 'wait')
    t.equal(await stored(app, 'wait'), 2, 'the holder and the normal request are stored, the departed waiter is not')
  })

  for (const [name, ep] of Object.entries(ENDPOINTS)) {
    t.test(`while the body streams (${name})`, async (t) => {
      const source = `streams-${name}`
      const body = Buffer.from(ep.body(source, ids(source, 100)))
      const client = await start(port, ep, ep.keyAuth(key), body, { send: Math.floor(body.length / 2) })
      t.ok(await eventually(async () => gate.inFlight === 1, 10_000), 'the request holds the slot while its body arrives')
      client.destroy()
      await gateFreeAndServing(t, app, port, ep, ep.keyAuth(key), source)
      t.equal(await stored(app, source), 1, 'nothing of the half-sent body was stored')
    })
  }

  t.test('while it is decoded', async (t) => {
    // 10,000 records: a few MB to gunzip, split and parse before the first insert, then 20 inserts.
    const source = 'decoded'
    const all = ids(source, 10_000)
    const pad = 'x'.repeat(200)
    const text = all.map((id) => JSON.stringify({ host: source, message: `m ${id}`, id, pad })).join('\n')
    const body = gzipSync(text)
    const client = await start(port, bulk, keyAuth, body, { gzip: true })
    t.ok(await eventually(async () => gate.working === 1, 10_000), 'the body arrived and is being ingested')
    client.destroy()
    t.equal(client.received, 0, 'the client left before any answer')
    await gateFreeAndServing(t, app, port, bulk, keyAuth, source)
    const committed = (await stored(app, source)) - 1
    // The shipper re-sends what it got no answer for: whatever was committed is a duplicate.
    const again = await start(port, bulk, keyAuth, body, { gzip: true })
    const reply = await again.response()
    again.destroy()
    t.same(reply?.body, { accepted: 10_000 - committed, duplicates: committed, rejected: 0, errors: [] }, 'the re-send completes it')
    t.equal(await stored(app, source), 10_001, 'every record stored once')
  })

  for (const [name, ep] of Object.entries(ENDPOINTS)) {
    t.test(`during the insert (${name})`, async (t) => {
      const source = `insert-${name}`
      const body = Buffer.from(ep.body(source, ids(source, 50)))
      // A warm-up request puts the admin in the principal cache: the held request needs no database to get in.
      const warm = await start(port, ep, { ...admin.auth, connection: 'close' }, Buffer.from(ep.body(source, ids(`${source}-warm`, 1))))
      t.ok(ep.stored((await warm.response())!), 'warm-up stored')
      const hold = await holdInserts(app)
      const client = await start(port, ep, admin.auth, body)
      t.ok(await eventually(hold.waiting, 10_000), 'the insert waits for the database')
      client.destroy()
      t.ok(await eventually(async () => gate.abandoned === 1, 10_000), 'the server saw the client leave while it inserts')
      t.equal(gate.inFlight, 1, 'the slot stays taken while the insert runs')
      await hold.release()
      await gateFreeAndServing(t, app, port, ep, ep.keyAuth(key), source)
      t.equal(await stored(app, source), 52, 'the rows of the abandoned request were committed')
      if (name !== 'hec') {
        // HEC events carry no id of their own here, so only the other two can tell a re-send.
        const again = await start(port, ep, ep.keyAuth(key), body)
        const reply = await again.response()
        again.destroy()
        t.ok(ep.stored(reply!), 'the re-send is answered')
        if (name === 'bulk') t.same([reply?.body.accepted, reply?.body.duplicates], [0, 50], 'and its records are duplicates')
        else t.ok(reply?.body.items.every((item: any) => item.index.result === 'noop'), 'and its documents are duplicates (noop)')
        t.equal(await stored(app, source), 52, 'nothing stored twice')
      }
    })
  }

  t.test('on a body that cannot be decoded', async (t) => {
    const client = await start(port, bulk, keyAuth, Buffer.from('this is not gzip'), { gzip: true })
    const reply = await client.response()
    client.destroy()
    t.equal(reply?.status, 400)
    await gateFreeAndServing(t, app, port, bulk, keyAuth, 'bad-gzip')
  })

  t.test('on a body over the size limit', async (t) => {
    const client = await RawClient.open(port)
    await client.write(head('POST', bulk.path, { ...keyAuth, 'content-length': app.config.INGEST_MAX_BODY_BYTES + 1 }))
    const reply = await client.response()
    client.destroy()
    t.equal(reply?.status, 413)
    await gateFreeAndServing(t, app, port, bulk, keyAuth, 'too-large')
  })

  t.test('on a database error', async (t) => {
    await app.db.execute(sql`create function vigil_test_fail() returns trigger language plpgsql as $$
      begin raise exception 'injected failure' using errcode = '53400'; end $$`)
    await app.db.execute(sql`create trigger vigil_test_fail before insert on events for each row execute function vigil_test_fail()`)
    const client = await start(port, bulk, keyAuth, Buffer.from(bulk.body('db-error', ids('db-error', 3))))
    const reply = await client.response()
    client.destroy()
    t.equal(reply?.status, 503, 'the failed insert is answered 503')
    await app.db.execute(sql`drop trigger vigil_test_fail on events`)
    await app.db.execute(sql`drop function vigil_test_fail()`)
    await gateFreeAndServing(t, app, port, bulk, keyAuth, 'db-error')
  })
})

if (onPostgres) t.test('shippers that give up after 150 ms, ten times, and a load generator cut off mid-run', async (t) => {
  // The issue's report, with the default concurrency and queue.
  const { app, key, port } = await setup(t, {})
  const gate = app.ingestGate
  const bulk = ENDPOINTS.bulk
  const keyAuth = bulk.keyAuth(key)
  const bodies = Array.from({ length: 10 }, (_, round) => gzipSync(bulk.body('gave-up', ids(`gave-up-${round}`, 10_000))))
  for (const body of bodies) {
    const client = await start(port, bulk, keyAuth, body, { gzip: true })
    // curl --max-time 0.15: the client's own deadline, not a wait for the server.
    await new Promise((resolve) => setTimeout(resolve, 150))
    client.destroy()
  }
  // wrk or autocannon at the end of a run: every connection dropped at once, mid-request.
  const small = Buffer.from(bulk.body('cut-off', ids('cut-off', 100)))
  const burst = await Promise.all(Array.from({ length: 32 }, (_, i) => start(port, bulk, keyAuth, small, { send: i % 2 ? small.length : 10 })))
  for (const client of burst) client.destroy()

  t.ok(await eventually(async () => gate.inFlight === 0 && gate.waiting === 0, 120_000), 'every slot went back')
  t.equal(gate.abandoned, 0)
  for (const [name, ep] of Object.entries(ENDPOINTS)) {
    const client = await start(port, ep, { ...ep.keyAuth(key), connection: 'close' }, Buffer.from(ep.body('after', ids(`after-${name}`, 1))))
    const reply = await within(client.response(), 10_000)
    t.ok(reply !== 'still waiting' && ep.stored(reply!), `${name} is served at once`)
    client.destroy()
  }
})
