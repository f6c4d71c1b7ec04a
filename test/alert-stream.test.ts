// GET /api/alerts/stream over real HTTP: Server-Sent Events from the outbox of alert changes.
// Filters, resume with Last-Event-ID under concurrent writers (nothing lost, nothing repeated),
// single-use tickets, the end of a stream when its user is deactivated or their tokens revoked, the bounds
// (streams per user, a client that stops reading), its timeout and the shutdown, and, on
// PostgreSQL, a change made through one instance reaching a stream held on another.
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { eq } from 'drizzle-orm'
import t, { type Test } from 'tap'
import { alerts, streamTickets } from '../src/db/schema.js'
import { build, eventually, inject, makeUser, onPostgres, type Overrides, type TestUser } from './helper.js'
import { openSse, type SseClient } from './support/sse.js'

async function serve(t: Test, overrides: Overrides = {}, logStream?: { write(line: string): void }) {
  const app = await build(t, overrides, logStream)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { app, base: `http://127.0.0.1:${port}` }
}

const raise = (app: FastifyInstance, by: TestUser, source: string, severity = 'High') =>
  inject(app, { method: 'POST', url: '/api/events/', headers: by.auth, payload: { source, event_type: 'intrusion', severity } })

const alertOf = async (app: FastifyInstance, by: TestUser, source: string) =>
  (await inject(app, { method: 'GET', url: `/api/alerts/?source=${source}`, headers: by.auth })).body.results[0]

const data = (c: SseClient) => c.events.filter((e) => e.event !== 'end').map((e) => JSON.parse(e.data))
const sources = (c: SseClient) => data(c).map((d) => `${d.change.action}:${d.alert.source}`)

async function stream(t: Test, base: string, query: string, headers: Record<string, string>) {
  const c = await openSse(`${base}/api/alerts/stream${query}`, headers)
  t.teardown(() => c.close())
  return c
}

t.test('changes as they are committed, filtered, with ids, heartbeats and an end that resumes', async (t) => {
  const { app, base } = await serve(t, { ALERT_STREAM_HEARTBEAT_MS: 100 })
  const admin = await makeUser(app, 'admin')
  const analyst = await makeUser(app, 'analyst')
  await raise(app, admin, 'before')

  const all = await stream(t, base, '/', analyst.auth)
  t.equal(all.status, 200)
  t.match(all.headers['content-type'], /^text\/event-stream/)
  t.equal(all.headers['cache-control'], 'no-store')
  const critical = await stream(t, base, '?severity=Critical', analyst.auth)

  await raise(app, admin, 'a')
  await raise(app, admin, 'b', 'Critical')
  await raise(app, admin, 'quiet', 'Low')
  const a = await alertOf(app, admin, 'a')
  await inject(app, { method: 'PATCH', url: `/api/alerts/${a.id}/`, headers: admin.auth, payload: { status: 'Acknowledged' } })
  await inject(app, { method: 'POST', url: `/api/alerts/${a.id}/comments/`, headers: admin.auth, payload: { body: 'on it' } })

  await all.until((c) => c.events.length >= 4)
  t.same(sources(all), ['raised:a', 'raised:b', 'changed:a', 'commented:a'], 'every change from the start of the stream, in order, none from before it')
  t.same(all.events.map((e) => e.event), ['raised', 'raised', 'changed', 'commented'], 'the event type is the change')
  const changed = data(all)[2]
  t.equal(changed.alert.status, 'Acknowledged', 'with the alert as it is')
  t.same(changed.change.after, { status: 'Acknowledged' })
  t.equal(changed.change.actor, admin.user.username)
  t.notOk('password' in changed.alert, 'the alert as the list shows it')
  t.ok(all.events.every((e) => /^[0-9]+\.[0-9]+$/.test(e.id ?? '')), 'each with a cursor id')
  await critical.until((c) => c.events.length >= 1)
  t.same(sources(critical), ['raised:b'], 'the list filters apply')
  await all.until((c) => c.comments.includes('heartbeat'))
  t.pass('heartbeat comments')

  const resumed = await stream(t, base, '/', { ...analyst.auth, 'last-event-id': all.events[1].id! })
  await resumed.until((c) => c.events.length >= 2)
  t.same(sources(resumed), ['changed:a', 'commented:a'], 'Last-Event-ID resumes after that event')
  const byQuery = await stream(t, base, `?after=${all.events[2].id}`, analyst.auth)
  await byQuery.until((c) => c.events.length >= 1)
  t.same(sources(byQuery), ['commented:a'], '?after= too')

  const short = await stream(t, base, '?timeout=1', analyst.auth)
  await short.ended
  const end = short.events.at(-1)!
  t.equal(end.event, 'end')
  t.same(JSON.parse(end.data), { reason: 'timeout', resume: end.id }, 'the timeout ends it with a resumable id')

  for (const bad of ['?after=12', '?after=x.1', '?severity=Extreme', '?timeout=0']) {
    const res = await inject(app, { method: 'GET', url: `/api/alerts/stream${bad}`, headers: analyst.auth })
    t.equal(res.status, 400, bad)
    t.equal(res.body.code, 'validation_failed')
  }
  const badHeader = await inject(app, { method: 'GET', url: '/api/alerts/stream', headers: { ...analyst.auth, 'last-event-id': 'nope' } })
  t.equal(badHeader.status, 400)
  t.same(badHeader.body.errors, { 'Last-Event-ID': ['Last-Event-ID is not an event id of this stream.'] })
  t.equal((await inject(app, { method: 'GET', url: '/api/alerts/stream' })).status, 401, 'no credentials: 401')

  const closing = app.close()
  await all.ended
  await closing
  t.equal(JSON.parse(all.events.at(-1)!.data).reason, 'shutting_down', 'a shutdown ends every stream, resumably')
})

t.test('resume under concurrent writers: nothing lost, nothing repeated', async (t) => {
  const { app, base } = await serve(t, { DB_POOL_MAX: 8 })
  const admin = await makeUser(app, 'admin')
  const viewer = await makeUser(app, 'viewer')
  const received: string[] = []
  let client = await stream(t, base, '/', viewer.auth)
  const writers = Promise.all(
    [0, 1, 2, 3].map(async (w) => {
      for (let i = 0; i < 20; i++) await raise(app, admin, `w${w}-${i}`)
    })
  )
  // Hang up twice mid-way and come back with the last id, as EventSource does.
  for (let round = 0; round < 2; round++) {
    await client.until((c) => c.events.length >= 10)
    client.close()
    await client.ended
    received.push(...sources(client))
    client = await stream(t, base, '/', { ...viewer.auth, 'last-event-id': client.lastEventId! })
  }
  await writers
  await client.until(() => received.length + client.events.length >= 80, 60_000)
  received.push(...sources(client))
  const expected = []
  for (let w = 0; w < 4; w++) for (let i = 0; i < 20; i++) expected.push(`raised:w${w}-${i}`)
  t.equal(received.length, 80, 'every change once')
  t.same([...received].sort(), expected.sort(), 'none lost, none repeated')
  for (let w = 0; w < 4; w++) {
    const mine = received.filter((s) => s.startsWith(`raised:w${w}-`))
    t.same(mine, mine.map((_, i) => `raised:w${w}-${i}`), `writer ${w}'s changes in the order it made them`)
  }
})

t.test('tickets: single use, short-lived, for their user only', async (t) => {
  const logs: string[] = []
  const { app, base } = await serve(t, { LOG_LEVEL: 'info' }, { write: (line) => void logs.push(line) })
  const admin = await makeUser(app, 'admin')
  const analyst = await makeUser(app, 'analyst')
  const issued = await inject(app, { method: 'POST', url: '/api/alerts/stream/ticket', headers: analyst.auth })
  t.equal(issued.status, 201)
  t.match(issued.body, { ticket: /^vst_[A-Za-z0-9_-]{43}$/, expires_at: String })
  t.ok(Date.parse(issued.body.expires_at) - Date.now() <= 30_000, 'valid for at most 30 s')
  const [row] = await app.db.select().from(streamTickets)
  t.not(row.hash, issued.body.ticket, 'only a hash is stored')
  t.equal(row.userId, analyst.user.id)

  const s = await stream(t, base, `?ticket=${issued.body.ticket}`, {})
  t.equal(s.status, 200, 'a ticket opens a stream without a header')
  await raise(app, admin, 'seen')
  await s.until((c) => c.events.length >= 1)
  t.same(sources(s), ['raised:seen'])

  const again = await openSse(`${base}/api/alerts/stream?ticket=${issued.body.ticket}`)
  t.equal(again.status, 401, 'a used ticket is refused')
  t.equal(JSON.parse(again.body).code, 'invalid_token')

  const old = await inject(app, { method: 'POST', url: '/api/alerts/stream/ticket', headers: analyst.auth })
  await app.db.update(streamTickets).set({ expiresAt: new Date(Date.now() - 1000) })
  t.equal((await openSse(`${base}/api/alerts/stream?ticket=${old.body.ticket}`)).status, 401, 'an expired ticket is refused')
  t.equal((await openSse(`${base}/api/alerts/stream?ticket=vst_${'a'.repeat(43)}`)).status, 401, 'an unknown ticket is refused')
  t.equal((await openSse(`${base}/api/alerts/stream?ticket=${'x'.repeat(100)}`)).status, 401, 'text that is no ticket is refused')

  const spare = await inject(app, { method: 'POST', url: '/api/alerts/stream/ticket', headers: analyst.auth })
  await inject(app, { method: 'PATCH', url: `/api/users/${analyst.user.id}/`, headers: admin.auth, payload: { is_active: false } })
  t.equal((await openSse(`${base}/api/alerts/stream?ticket=${spare.body.ticket}`)).status, 401, "a deactivated user's ticket is refused")
  t.equal((await inject(app, { method: 'GET', url: `/api/alerts/?ticket=${spare.body.ticket}` })).status, 401, 'a ticket opens streams, nothing else')

  t.ok(logs.some((l) => l.includes('ticket=[redacted]')), 'the requests are logged')
  t.notOk(logs.some((l) => l.includes(issued.body.ticket) || l.includes(spare.body.ticket)), 'no log line carries a ticket')
  for (let i = 0; i < 12; i++) await inject(app, { method: 'POST', url: '/api/alerts/stream/ticket', headers: admin.auth })
  const held = await app.db.select().from(streamTickets).where(eq(streamTickets.userId, admin.user.id))
  t.equal(held.length, 10, 'a user holds at most 10 unused tickets')
})

t.test('a stream ends when its user is deactivated or their tokens are revoked', async (t) => {
  const { app, base } = await serve(t)
  const admin = await makeUser(app, 'admin')
  const analyst = await makeUser(app, 'analyst')
  const responder = await makeUser(app, 'responder')
  const a = await stream(t, base, '/', analyst.auth)
  const r = await stream(t, base, '/', responder.auth)
  await inject(app, { method: 'PATCH', url: `/api/users/${analyst.user.id}/`, headers: admin.auth, payload: { is_active: false } })
  await a.ended
  t.same(JSON.parse(a.events.at(-1)!.data).reason, 'revoked', 'deactivated: the stream ends')
  t.notOk(r.closed, "another user's stream goes on")

  // A new role revokes the user's tokens (the stream's too, so it ends; a new token opens another).
  await inject(app, { method: 'PATCH', url: `/api/users/${responder.user.id}/`, headers: admin.auth, payload: { role: 'viewer' } })
  await r.ended
  t.same(JSON.parse(r.events.at(-1)!.data).reason, 'revoked', "a new role: the bearer token's stream ends")
  t.ok(await eventually(async () => app.alertStreams.size === 0, 5000), 'nothing left open on the server')
})

t.test("a bearer token's stream ends when the token expires", async (t) => {
  const { app, base } = await serve(t, { ACCESS_TOKEN_TTL: 2 })
  const viewer = await makeUser(app, 'viewer')
  const s = await stream(t, base, '/', viewer.auth)
  await s.ended
  const end = s.events.at(-1)!
  t.same(JSON.parse(end.data), { reason: 'token_expired', resume: end.id }, 'ended at the expiry, with the id to resume with a new token')
})

t.test('streams per user are bounded', async (t) => {
  const { app, base } = await serve(t, { ALERT_STREAMS_PER_USER: 2 })
  const viewer = await makeUser(app, 'viewer')
  const other = await makeUser(app, 'viewer')
  const first = await stream(t, base, '/', viewer.auth)
  await stream(t, base, '/', viewer.auth)
  const third = await openSse(`${base}/api/alerts/stream`, viewer.auth)
  t.equal(third.status, 429)
  t.equal(JSON.parse(third.body).code, 'too_many_streams')
  t.ok(third.headers['retry-after'])
  t.equal((await stream(t, base, '/', other.auth)).status, 200, 'another user is not affected')
  first.close()
  t.ok(await eventually(async () => app.alertStreams.size === 2, 5000))
  t.equal((await stream(t, base, '/', viewer.auth)).status, 200, 'a closed stream frees its place')
})

t.test('a client that stops reading is closed with a resumable id, and resumes', async (t) => {
  const { app, base } = await serve(t, { ALERT_STREAM_MAX_BUFFER_BYTES: 64 * 1024, ALERT_STREAM_DRAIN_MS: 2000 })
  const admin = await makeUser(app, 'admin')
  const key = (await inject(app, { method: 'POST', url: '/api/ingest-keys/', headers: admin.auth, payload: { name: 'bulk' } })).body.key
  const slow = await stream(t, base, '/', admin.auth)
  slow.pause()
  // Enough to fill the socket's buffers on both sides many times over: 1,000 alerts, then three
  // changes to each that carry 32 long tags in the alert, before and after (some 20 MB in all).
  const lines = Array.from({ length: 1000 }, (_, j) => JSON.stringify({ source: `s${j}`, event_type: 'intrusion', severity: 'High' })).join('\n')
  const ingested = await inject(app, { method: 'POST', url: '/api/events/bulk', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' }, payload: lines })
  t.equal(ingested.status, 200)
  const alertIds = (await app.db.select({ id: alerts.id }).from(alerts)).map((a) => a.id)
  t.equal(alertIds.length, 1000)
  const tags = (round: number) => Array.from({ length: 32 }, (_, i) => `r${round}-${i}-${'t'.repeat(56)}`)
  for (let round = 0; round < 3; round++) {
    const set = { add_tags: tags(round), ...(round > 0 && { remove_tags: tags(round - 1) }) }
    const res = await inject(app, { method: 'POST', url: '/api/alerts/bulk/', headers: admin.auth, payload: { ids: alertIds, set } })
    t.equal(res.body.updated, 1000)
  }
  const n = 4000
  t.ok(await eventually(async () => app.alertStreams.size === 0, 30_000), 'the server closed the stream it could not deliver')
  slow.resume()
  await slow.ended
  const ids = (c: SseClient) => c.events.filter((e) => e.event !== 'end').map((e) => e.id!)
  const got = ids(slow)
  t.ok(got.length < n, `the stalled client got part (${got.length} of ${n})`)
  const rest = await stream(t, base, '/', { ...admin.auth, 'last-event-id': slow.lastEventId! })
  await rest.until((c) => got.length + c.events.length >= n || c.closed, 60_000)
  const all = [...got, ...ids(rest)]
  t.equal(all.length, n)
  t.equal(new Set(all).size, n, 'resumed from its last id: every change once')
})

if (onPostgres) {
  t.test('a change made through one instance reaches a stream held on another at once', async (t) => {
    const first = await serve(t)
    // The second instance would not poll within the test: only the notification can wake it.
    const url = first.app.config.DATABASE_URL!
    const second = await serve(t, { DATABASE_URL: url, ALERT_STREAM_POLL_MS: 60_000 })
    const admin = await makeUser(first.app, 'admin')
    const s = await stream(t, second.base, '/', admin.auth)
    await raise(first.app, admin, 'elsewhere')
    await s.until((c) => c.events.length >= 1, 20_000)
    t.same(sources(s), ['raised:elsewhere'], 'an ingested alert (announced after its commit)')
    const a = await alertOf(first.app, admin, 'elsewhere')
    await inject(first.app, { method: 'PATCH', url: `/api/alerts/${a.id}/`, headers: admin.auth, payload: { status: 'Acknowledged' } })
    await s.until((c) => c.events.length >= 2, 20_000)
    t.same(sources(s), ['raised:elsewhere', 'changed:elsewhere'], 'a triage change (announced by its transaction)')
  })
}
