// Graceful shutdown of the real server process: on SIGTERM or SIGINT it stops accepting, finishes
// the requests in flight, closes the database and exits 0. Requests that reach a closing server
// get a refusal their clients retry.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import postgres from 'postgres'
import t from 'tap'
import { rowsOf } from '../src/db/queries.js'
import { build, eventually, freshDatabaseUrl, makeUser, onPostgres } from './helper.js'
import { holdInserts } from './support/hold.js'
import { seedPgliteDataDir } from './support/pglite-image.js'
import { freePort, head, RawClient } from './support/net.js'

const root = new URL('..', import.meta.url).pathname


async function startServer(t: any) {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-shutdown-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const url = await freshDatabaseUrl(t)
  if (!url) await seedPgliteDataDir(dataDir)
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      DATABASE_URL: url ?? '',
      JWT_SECRET: 'shutdown-test-secret-shutdown-test-secret',
      ADMIN_USERNAME: 'root',
      ADMIN_PASSWORD: 'root-password-long-enough',
      LOG_LEVEL: 'info'
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  let seen: (() => void) | undefined
  const onData = (d: Buffer) => {
    output += d.toString()
    seen?.()
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  let gone = false
  void exited.then(() => {
    gone = true
    seen?.()
  })
  /** Resolves once the output satisfies `check` (false if the process exits first). */
  const outputShows = async (check: (output: string) => boolean) => {
    while (!check(output)) {
      if (gone) return false
      await new Promise<void>((resolve) => (seen = resolve))
    }
    return true
  }
  t.ok(await outputShows((o) => o.includes('Server listening')), 'the server started')
  return { child, exited, base: `http://127.0.0.1:${port}`, output: () => output, outputShows }
}

const login = (base: string) =>
  fetch(`${base}/api/token/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'root', password: 'root-password-long-enough' })
  })

// Both signals go through the same handler: SIGINT is run on PostgreSQL only.
for (const signal of onPostgres ? (['SIGTERM', 'SIGINT'] as const) : (['SIGTERM'] as const)) {
  t.test(`${signal}: in-flight requests finish, then exit 0`, async (t) => {
    const server = await startServer(t)
    t.equal((await login(server.base)).status, 200)
    // Logins cost real argon2 work, so these are still running when the signal arrives.
    // Signal only once the server has received all four, so they are truly in flight.
    const received = (output: string) => output.split('incoming request').length - 1
    const before = received(server.output())
    const inFlight = Array.from({ length: 4 }, () => login(server.base).then((r) => r.status))
    t.ok(await server.outputShows((o) => received(o) >= before + 4), 'the four logins arrived')
    server.child.kill(signal)
    t.same(await Promise.all(inFlight), [200, 200, 200, 200], 'requests in flight were answered')
    const code = await server.exited
    t.equal(code, 0, 'exit code 0')
    t.match(server.output(), /shutting down/)
    await t.rejects(fetch(`${server.base}/health/live`), 'no longer accepting connections')
  })
}

t.test('while closing: waiting ingestion is refused at once as its shippers retry, and a request arriving on a busy connection starts no work', async (t) => {
  // One slot and a long queue: the second and third ingestion requests wait, as they would
  // behind a slow insert in production.
  const log: any[] = []
  const app = await build(
    t,
    { LOG_LEVEL: 'info', INGEST_MAX_CONCURRENCY: 1, INGEST_QUEUE_TIMEOUT_MS: 60_000, AUTH_CACHE_TTL_MS: 60_000 },
    { write: (line: string) => void log.push(JSON.parse(line)) }
  )
  const admin = await makeUser(app, 'admin')
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  // An admin token, cached once used: on PGlite the hold keeps every other query waiting.
  const auth = admin.auth.authorization
  const native = (body: string) => head('POST', '/api/events/bulk', { authorization: auth, 'content-length': Buffer.byteLength(body) }) + body
  const record = (message: string) => JSON.stringify({ host: 'closing', message, event_type: 'anomaly', severity: 'Low' })
  const warm = await RawClient.open(port)
  await warm.write(native(record('warm-up')))
  t.equal((await warm.response())?.status, 200, 'warm-up')
  warm.destroy()

  const hold = await holdInserts(app)
  const working = await RawClient.open(port)
  await working.write(native(record('in flight')))
  t.ok(await eventually(hold.waiting, 5000), 'the first request holds the slot, its insert held')
  const bulkBody = '{"index":{}}\n' + record('waits 1') + '\n{"index":{}}\n' + record('waits 2') + '\n'
  const esWaiting = await RawClient.open(port)
  await esWaiting.write(head('POST', '/_bulk', { authorization: auth, 'content-type': 'application/x-ndjson', 'content-length': Buffer.byteLength(bulkBody) }) + bulkBody)
  const nativeWaiting = await RawClient.open(port)
  await nativeWaiting.write(native(record('waits 3')))
  t.ok(await eventually(async () => app.ingestGate.waiting === 2, 5000), 'two requests wait for the slot')

  const closed = app.close()
  const [es, nat] = await Promise.all([esWaiting.response(), nativeWaiting.response()])
  t.equal(app.ingestGate.inFlight, 1, 'answered while the first insert is still held, not after the queue timeout')
  t.equal(es?.status, 200, '_bulk answers as Elasticsearch does when it cannot take the work')
  t.same(
    es?.body.items.map((i: any) => [i.index.status, i.index.error.type]),
    [[429, 'es_rejected_execution_exception'], [429, 'es_rejected_execution_exception']],
    'every item is a 429, which rsyslog, Logstash, Beats, Fluent Bit and Vector retry'
  )
  t.equal(nat?.status, 503)
  t.same(nat?.body, { detail: 'Vigil is shutting down; retry later.', code: 'ingest_busy' })
  t.equal(nat?.headers['retry-after'], '2')

  // The working connection is busy, so it stays open while the server drains; a request sent on
  // it now reaches a closing server.
  t.ok(await eventually(async () => !app.server.listening, 5000), 'the server stopped accepting')
  const late = JSON.stringify({ source: 'closing', event_type: 'anomaly', severity: 'Low', description: 'late' })
  await working.write(head('POST', '/api/events/', { authorization: auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(late) }) + late)
  t.ok(await eventually(async () => log.some((l) => l.code === 'shutting_down'), 5000), 'the late request is refused')
  await hold.release()
  const first = await working.response()
  t.equal(first?.status, 200, 'the request in flight finishes')
  t.equal(first?.body.accepted, 1)
  t.equal(first?.headers.connection, 'close', 'and its client is asked to hang up')
  await closed
  const refused = log.find((l) => l.code === 'shutting_down')
  const arrived = log.find((l) => l.reqId === refused.reqId && l.msg === 'incoming request')
  t.same([arrived?.req.method, arrived?.req.url, refused.statusCode], ['POST', '/api/events/', 503], 'the late request was refused before any work')
  t.notOk(log.some((l) => l.reqId === refused.reqId && l.res?.statusCode === 201), 'and created nothing')
  for (const c of [working, esWaiting, nativeWaiting]) c.destroy()
})

// Closing waits for background work within a bound, not for the database: a statement stuck
// behind a lock would otherwise hold the close until the statement timeout, past Fastify's limit
// on a close hook and the server's shutdown grace.
if (onPostgres) t.test('closing while background work is stuck on the database ends within seconds, without an error', async (t) => {
  const app = await build(t)
  const holder = postgres(app.config.DATABASE_URL!, { max: 1, onnotice: () => {} })
  t.teardown(() => holder.end())
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  const locked = holder.begin(async (tx) => {
    await tx`lock table models in access exclusive mode`
    await released
  })
  const held = async () => {
    const rows = await rowsOf<{ n: number }>(app.db, sql`select count(*)::int as n from pg_locks where relation = 'models'::regclass and mode = 'AccessExclusiveLock' and granted`)
    return rows[0].n === 1
  }
  t.ok(await eventually(held, 10_000), 'another session holds the models table')
  // A match counted, so closing writes the counters: that write waits for the lock.
  app.detector.count(1, 1)
  const started = Date.now()
  await t.resolves(app.close(), 'the close resolves')
  const took = Date.now() - started
  t.ok(took < 8000, `within seconds (${took} ms), not the statement timeout (${app.config.DB_TIMEOUT_MS * 6} ms)`)
  release()
  await locked
})
