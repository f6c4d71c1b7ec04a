// /health and /health/live: public, 200 with a real database round trip, 503 within 2 seconds
// when the database is gone (closed under the app) or stops answering (a hung connection).
import { connect, createServer, type Server, type Socket } from 'node:net'
import t from 'tap'
import { VERSION } from '../src/version.js'
import { build, freshDatabaseUrl, inject } from './helper.js'

/** The bound the issue sets for reporting a dead database. */
const BOUND_MS = 2000

async function timed(fn: () => Promise<{ status: number; body: any }>) {
  const started = performance.now()
  const res = await fn()
  return { ...res, elapsed: performance.now() - started }
}

t.test('GET /health answers 200 after a database round trip, without credentials', async (t) => {
  const app = await build(t)
  const r = await inject(app, { method: 'GET', url: '/health' })
  t.equal(r.status, 200)
  t.same(r.body, { status: 'ok', database: 'ok', version: VERSION })
  t.equal(r.headers['cache-control'], 'no-store')
  t.equal((await inject(app, { method: 'GET', url: '/health/' })).status, 200, 'trailing slash works too')
  // A bad token is irrelevant on a public route.
  const withJunk = await inject(app, { method: 'GET', url: '/health', headers: { authorization: 'Bearer junk' } })
  t.equal(withJunk.status, 200)
})

t.test('GET /health/live answers 200 without credentials', async (t) => {
  const app = await build(t)
  const r = await inject(app, { method: 'GET', url: '/health/live' })
  t.equal(r.status, 200)
  t.same(r.body, { status: 'ok' })
})

t.test('both probes are in the OpenAPI document as public, with every status', async (t) => {
  const app = await build(t)
  const doc = (await inject(app, { method: 'GET', url: '/docs/json' })).body
  const ready = doc.paths['/health/']?.get ?? doc.paths['/health']?.get
  const live = doc.paths['/health/live']?.get
  t.ok(ready, '/health documented')
  t.ok(live, '/health/live documented')
  t.same(Object.keys(ready.responses).sort(), ['200', '503'])
  t.same(ready.security, [])
  t.same(live.security, [])
  t.same(ready.tags, ['health'])
})

t.test('GET /health answers 503 within 2 s once the database is closed; liveness stays 200', async (t) => {
  const app = await build(t)
  t.equal((await inject(app, { method: 'GET', url: '/health' })).status, 200)
  await app.database.close()
  const r = await timed(() => inject(app, { method: 'GET', url: '/health' }))
  t.equal(r.status, 503)
  t.same(r.body, { status: 'error', database: 'unreachable', code: 'database_unavailable' })
  t.ok(r.elapsed < BOUND_MS, `answered in ${Math.round(r.elapsed)} ms`)
  const live = await inject(app, { method: 'GET', url: '/health/live' })
  t.equal(live.status, 200)
  t.same(live.body, { status: 'ok' })
})

/**
 * A TCP relay to PostgreSQL that can freeze: connections stay open but nothing passes, which is
 * what a hung server or a silently dropped network looks like to the pool.
 */
async function freezableRelay(target: { hostname: string; port: number }) {
  let frozen = false
  const held: (() => void)[] = []
  const sockets = new Set<Socket>()
  const relay = (from: Socket, to: Socket) =>
    from.on('data', (chunk) => {
      if (frozen) held.push(() => to.write(chunk))
      else to.write(chunk)
    })
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.hostname)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => {
        client.destroy()
        upstream.destroy()
        sockets.delete(s)
      })
    }
    relay(client, upstream)
    relay(upstream, client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    port,
    freeze: () => {
      frozen = true
    },
    thaw: () => {
      frozen = false
      for (const send of held.splice(0)) send()
    },
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

if (process.env.TEST_DATABASE_URL) {
  t.test('GET /health answers 503 within 2 s when PostgreSQL stops answering, and 200 once it answers again', async (t) => {
    const url = new URL((await freshDatabaseUrl(t))!)
    const relay = await freezableRelay({ hostname: url.hostname, port: Number(url.port || 5432) })
    t.teardown(relay.close)
    url.hostname = '127.0.0.1'
    url.port = String(relay.port)
    const app = await build(t, { DATABASE_URL: url.toString() })

    t.equal((await inject(app, { method: 'GET', url: '/health' })).status, 200, 'healthy through the relay')
    relay.freeze()
    const r = await timed(() => inject(app, { method: 'GET', url: '/health' }))
    t.equal(r.status, 503)
    t.same(r.body, { status: 'error', database: 'unreachable', code: 'database_unavailable' })
    t.ok(r.elapsed < BOUND_MS, `answered in ${Math.round(r.elapsed)} ms`)
    t.equal((await inject(app, { method: 'GET', url: '/health/live' })).status, 200, 'liveness needs no database')

    relay.thaw()
    const back = await inject(app, { method: 'GET', url: '/health' })
    t.equal(back.status, 200, 'recovers without a restart')
    t.same(back.body, { status: 'ok', database: 'ok', version: VERSION })
  })
}
