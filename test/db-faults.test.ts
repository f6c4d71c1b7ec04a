// Database faults, against a private PostgreSQL cluster this test starts and stops itself:
// requests answer 503 quickly while the database is down, Vigil recovers without a restart, and
// nothing acknowledged with a 2xx is lost or stored twice across a restart.
import t from 'tap'
import { eq, inArray, sql } from 'drizzle-orm'
import postgres from 'postgres'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { userChanges } from '../src/db/channels.js'
import { defineChannel, NotificationHub } from '../src/db/notify.js'
import { alerts, events, users } from '../src/db/schema.js'
import { rowsOf } from '../src/db/queries.js'
import { eventually, inject, makeUser, TEST_JWT_SECRET } from './helper.js'
import { memoryLog, record, watchListener, type ListenCall } from './support/notifications.js'
import { startPrivateCluster, type PrivateCluster } from './support/pg-cluster.js'

async function setup(t: any, overrides: Record<string, unknown> = {}, url = (c: PrivateCluster) => c.url) {
  const cluster = await startPrivateCluster()
  t.teardown(() => cluster.destroy())
  const config = loadConfig(
    {},
    { NODE_ENV: 'test', LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET, DATABASE_URL: url(cluster), DB_TIMEOUT_MS: 1000, DB_POOL_MAX: 4, ...overrides }
  )
  const app = await buildApp({ config })
  t.teardown(() => app.close())
  return { cluster, app }
}

/**
 * Runs `step` (true when its write was acknowledged) in `workers` loops while the cluster crashes
 * (immediate stop) and comes back. Each phase lasts until what it is for has happened, not for a
 * fixed time: writes acknowledged before the crash, writes answered while it is down, and writes
 * acknowledged again after it is back (false if they never are, within the bound).
 */
async function loadThroughRestart(
  cluster: { stop(mode: 'immediate'): Promise<void>; start(): Promise<void> },
  workers: number,
  step: () => Promise<boolean>
): Promise<boolean> {
  let running = true
  let answered = 0
  let acknowledged = 0
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      if (await step()) acknowledged++
      answered++
    }
  })
  try {
    await eventually(async () => acknowledged >= workers * 3, 30_000)
    await cluster.stop('immediate')
    const answeredBefore = answered
    await eventually(async () => answered >= answeredBefore + workers * 2, 30_000)
    await cluster.start()
    const ackedBefore = acknowledged
    return await eventually(async () => acknowledged >= ackedBefore + workers * 3, 30_000)
  } finally {
    running = false
    await Promise.all(loops)
  }
}

/** Every acknowledged external id of `source` is stored exactly once, each event with its one alert. */
async function checkExactlyOnce(t: any, app: any, source: string, acknowledged: string[]) {
  const stored: { id: number; externalId: string | null }[] = await app.db
    .select({ id: events.id, externalId: events.externalId })
    .from(events)
    .where(eq(events.source, source))
  const counts = new Map<string, number>()
  for (const row of stored) counts.set(row.externalId!, (counts.get(row.externalId!) ?? 0) + 1)
  t.same(acknowledged.filter((id) => counts.get(id) !== 1), [], 'every acknowledged event is stored exactly once')
  const alertRows = await app.db
    .select({ eventId: alerts.eventId })
    .from(alerts)
    .where(inArray(alerts.eventId, stored.map((s) => s.id)))
  t.equal(alertRows.length, stored.length, 'every stored Critical event has its one alert: no event without its alert')
}

t.test('database down: 503 within a bound, then recovery without a restart', async (t) => {
  const { cluster, app } = await setup(t)
  const admin = await makeUser(app, 'admin')
  const list = () => inject(app, { method: 'GET', url: '/api/events/', headers: admin.auth })
  t.equal((await list()).status, 200)

  await cluster.stop('fast')
  for (let i = 0; i < 5; i++) {
    const started = Date.now()
    const res = await list()
    const elapsed = Date.now() - started
    t.equal(res.status, 503, 'a request while the database is down gets 503')
    t.same(res.body, { code: 'database_unavailable', detail: 'The database is unavailable; retry later.' }, 'a clear detail, no internals')
    t.ok(Number(res.headers['retry-after']) > 0, 'with Retry-After')
    t.ok(elapsed < 3000, `answered within the bound (${elapsed} ms)`)
  }
  const health = await inject(app, { method: 'GET', url: '/health' })
  t.equal(health.status, 503, '/health reports the outage')
  t.same(health.body, { status: 'error', database: 'unreachable', code: 'database_unavailable' })
  t.equal((await inject(app, { method: 'GET', url: '/health/live' })).status, 200, 'the process itself is alive')
  const write = await inject(app, {
    method: 'POST',
    url: '/api/events/',
    headers: admin.auth,
    payload: { source: 's', event_type: 'anomaly', severity: 'High' }
  })
  t.equal(write.status, 503, 'writes too')

  await cluster.start()
  const recovered = await eventually(async () => (await list()).status === 200, 10_000)
  t.ok(recovered, 'Vigil serves again once the database is back')
  t.match((await inject(app, { method: 'GET', url: '/health' })).body, { status: 'ok', database: 'ok' }, '/health follows')
  const after = await inject(app, {
    method: 'POST',
    url: '/api/events/',
    headers: admin.auth,
    payload: { source: 's', event_type: 'anomaly', severity: 'High' }
  })
  t.equal(after.status, 201)
})

t.test('after a long outage, Vigil serves again as soon as the database is back', async (t) => {
  const { cluster, app } = await setup(t)
  const admin = await makeUser(app, 'admin')
  const list = () => inject(app, { method: 'GET', url: '/api/events/', headers: admin.auth })
  t.equal((await list()).status, 200)

  // Requests through an outage: every connection attempt fails, and each failure lengthens the
  // pause before the next (postgres.js's own pauses grow to 20 s).
  await cluster.stop('fast')
  let failed = 0
  const until = Date.now() + 20_000
  while (failed < 30 && Date.now() < until) if ((await list()).status === 503) failed++
  t.equal(failed, 30, 'refused while it is down')
  await cluster.start()
  const back = Date.now()
  t.ok(await eventually(async () => (await list()).status === 200, 30_000), 'Vigil serves again')
  const waited = Date.now() - back
  t.ok(waited < 5000, `within seconds of the database's return, not after a long reconnect pause (${waited} ms)`)
})

t.test('a DATABASE_URL naming a Unix socket as libpq does (?host=/dir) connects through it, notifications included', async (t) => {
  const { app } = await setup(t, { AUTH_CACHE_TTL_MS: 60_000 }, (c) => `postgres://postgres@/postgres?host=${encodeURIComponent(c.socketDir)}&port=${c.port}`)
  const [{ over }] = await rowsOf<{ over: string }>(app.db, sql`select coalesce(host(inet_client_addr()), 'socket') as over`)
  t.equal(over, 'socket', 'the pool connects through the socket, not TCP')
  const stop = new AbortController()
  t.teardown(() => stop.abort())
  const watcher = record(app.notifications, userChanges, stop.signal)
  t.ok(await eventually(async () => watcher.count('ready') === 1, 5000), 'the listening connection subscribes through it')
  const erin = await makeUser(app, 'analyst')
  const me = () => inject(app, { method: 'GET', url: '/api/auth/me', headers: erin.auth })
  t.equal((await me()).status, 200, 'erin is served, and cached')
  await app.db.update(users).set({ isActive: false }).where(eq(users.id, erin.user.id))
  t.ok(await eventually(async () => (await me()).status === 401, 3000), 'her deactivation reaches the cache by notification: refused at once')
})

t.test('after a database restart, user changes are announced again', async (t) => {
  // A long cache TTL: only a working subscription can explain a prompt refusal at the end.
  const { cluster, app } = await setup(t, { AUTH_CACHE_TTL_MS: 60_000 })
  // Subscribed after the user cache, to the same channel: told after it, on the same connection.
  const stop = new AbortController()
  t.teardown(() => stop.abort())
  const watcher = record(app.notifications, userChanges, stop.signal)
  t.ok(await eventually(async () => watcher.count('ready') === 1, 5000), 'the user cache is subscribed')
  const erin = await makeUser(app, 'analyst')
  const me = () => inject(app, { method: 'GET', url: '/api/auth/me', headers: erin.auth })
  t.equal((await me()).status, 200, 'erin is cached')
  await cluster.stop('fast')
  t.ok(await eventually(async () => watcher.count('gap') === 1, 5000), 'the loss of the subscription is noticed')
  t.equal((await me()).status, 503, 'with the subscription lost, the cached row is not trusted: the lookup meets the outage')
  await cluster.start()
  t.ok(await eventually(async () => (await me()).status === 200, 10_000), 'served again once the database is back')
  // Once the subscription is made again, change erin behind Vigil's back.
  t.ok(await eventually(async () => watcher.count('ready') === 2, 10_000), 'the subscription is made again')
  const other = postgres(cluster.url, { max: 1, onnotice: () => {} })
  t.teardown(() => other.end())
  t.equal((await me()).status, 200)
  await other`update users set is_active = false where id = ${erin.user.id}`
  t.ok(await eventually(async () => (await me()).status === 401, 3000), 'deactivated by another client: refused within 3 s')
})

const probe = defineChannel<{ n: number }>('vigil_test_probe', { format: (p) => JSON.stringify(p), parse: (text) => JSON.parse(text) })

t.test('after a database restart, subscribers hear of the gap, then of readiness, and messages flow again', async (t) => {
  const { cluster, app } = await setup(t)
  const stop = new AbortController()
  t.teardown(() => stop.abort())
  const a = record(app.notifications, probe, stop.signal)
  const users = record(app.notifications, userChanges, stop.signal)
  t.ok(await eventually(async () => a.count('ready') === 1 && users.count('ready') === 1, 5000), 'subscribed')
  await app.notifications.notify(probe, { n: 1 })
  t.ok(await eventually(async () => a.messages.length === 1, 5000), 'a message before the outage')

  await cluster.stop('fast')
  t.ok(await eventually(async () => a.count('gap') === 1 && users.count('gap') === 1, 5000), 'every subscriber is told at once that it may miss messages')

  // While the database is down, attempts are spaced out (backoff), not a busy loop: a hub of
  // its own, started during the outage, with every LISTEN it tries written down.
  const calls: ListenCall[] = []
  const hub = new NotificationHub(watchListener(app.database, calls), app.db, memoryLog())
  t.teardown(() => hub.close())
  const b = record(hub, probe, stop.signal)
  // An attempt is written down when it starts: wait for four that have ended.
  t.ok(await eventually(async () => calls.filter((c) => c.ok !== undefined).length >= 4, 10_000), 'it keeps trying')
  t.ok(calls.slice(0, 4).every((c) => c.ok === false), 'and fails while the database is down')
  const spread = calls[3].at - calls[0].at
  t.ok(spread >= 690, `the first four attempts are at least 100 + 200 + 400 ms apart (${Math.round(spread)} ms)`)

  await cluster.start()
  t.ok(await eventually(async () => a.count('ready') === 2 && users.count('ready') === 2 && b.count('ready') === 1, 10_000), 'ready again once the database is back')
  t.same(a.events, ['ready', 'message', 'gap', 'ready'], 'gap, then ready: each told once')
  t.same(users.events, ['ready', 'gap', 'ready'])
  await app.notifications.notify(probe, { n: 2 })
  t.ok(await eventually(async () => a.messages.length === 2 && b.messages.length === 1, 5000), 'messages flow again')
  t.same(a.messages, [{ n: 1 }, { n: 2 }])
  t.same(b.messages, [{ n: 2 }], 'also to the subscriber that joined during the outage')
})

t.test('nothing acknowledged is lost across a database restart', async (t) => {
  const { cluster, app } = await setup(t)
  const admin = await makeUser(app, 'admin')
  const acknowledged: string[] = []
  const statuses = new Map<number, number>()
  let seq = 0
  const recovered = await loadThroughRestart(cluster, 3, async () => {
    const externalId = `e-${seq++}`
    const res = await inject(app, {
      method: 'POST',
      url: '/api/events/',
      headers: admin.auth,
      payload: { source: 'restart-test', event_type: 'intrusion', severity: 'Critical', external_id: externalId }
    })
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
    if (res.status === 201) acknowledged.push(externalId)
    else t.equal(res.status, 503, 'a failure during the restart is a 503, never a 500')
    return res.status === 201
  })
  t.ok(recovered, 'writes are acknowledged again once the database is back')
  t.ok((statuses.get(201) ?? 0) > 0, 'events were acknowledged')
  t.ok((statuses.get(503) ?? 0) > 0, 'some requests met the outage')
  await checkExactlyOnce(t, app, 'restart-test', acknowledged)
})

t.test('bulk ingestion across a database restart: every acknowledged record stored exactly once', async (t) => {
  const { cluster, app } = await setup(t)
  const admin = await makeUser(app, 'admin')
  const key = await inject(app, { method: 'POST', url: '/api/ingest-keys/', headers: admin.auth, payload: { name: 'restart' } })
  const auth = { authorization: `Bearer ${key.body.key}`, 'content-type': 'application/x-ndjson' }
  const acknowledged: string[] = []
  const statuses = new Map<number, number>()
  let batch = 0
  const recovered = await loadThroughRestart(cluster, 2, async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `b${batch}-${i}`)
    batch++
    const body = ids.map((id) => JSON.stringify({ host: 'bulk-restart', severity: 'crit', event_type: 'intrusion', message: 'x', id })).join('\n')
    const res = await inject(app, { method: 'POST', url: '/api/events/bulk', headers: auth, payload: body })
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
    if (res.status === 200) {
      t.equal(res.body.accepted + res.body.duplicates, ids.length, 'an acknowledged batch accounts for every record')
      acknowledged.push(...ids)
      return true
    }
    t.equal(res.status, 503, 'a refused batch is a 503 that shippers retry, never a 500')
    return false
  })
  t.ok(recovered, 'batches are acknowledged again once the database is back')
  t.ok((statuses.get(200) ?? 0) > 0, 'batches were acknowledged')
  t.ok((statuses.get(503) ?? 0) > 0, 'some batches met the outage')
  await checkExactlyOnce(t, app, 'bulk-restart', acknowledged)
})
