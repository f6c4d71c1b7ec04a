// Webhooks across instances and restarts, on PostgreSQL (PGlite is one process's database): a
// Vigil closed while its receiver holds the request, and another started on the same database,
// delivers it (at least once, the same webhook-id); two instances on one database share the
// deliveries, and no delivery is ever attempted by both at once, none lost, each webhook's in
// outbox order.
import t from 'tap'
import { sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import postgres from 'postgres'
import { rowsOf } from '../src/db/queries.js'
import { build, eventually, inject, makeUser, onPostgres, type TestUser } from './helper.js'
import { receiver, type Received } from './support/receiver.js'

async function raise(app: FastifyInstance, admin: TestUser, source: string) {
  const ev = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source, event_type: 'intrusion', severity: 'High' } })
  if (ev.status !== 201) throw new Error(`event: ${ev.status}`)
  return ev.body.id as number
}

const states = async (app: FastifyInstance) =>
  rowsOf<{ state: string; n: number }>(app.db, sql`select state::text, count(*)::int as n from webhook_deliveries group by state order by state`)

if (onPostgres) {
  t.test('closed mid-delivery: another instance delivers it once the lease ends, with the same id', async (t) => {
    const settings = { WEBHOOK_ALLOW_PRIVATE: true, WEBHOOK_RETRY_SCHEDULE: '0,0.2,0.2', WEBHOOK_TIMEOUT_MS: 3000 }
    const a = await build(t, settings)
    const admin = await makeUser(a, 'admin')
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => (release = resolve))
    const rx = await receiver(t, (_r, i) => (i === 0 ? { status: 200, hold: held } : { status: 200, body: 'ok' }))
    t.teardown(() => release())
    const hook = await inject(a, { method: 'POST', url: '/api/webhooks/', headers: admin.auth, payload: { name: 'restart', url: rx.url } })
    await raise(a, admin, 'restart')
    t.ok(await eventually(async () => rx.received.length === 1, 10_000), 'the first attempt is held by the receiver')
    const closing = Date.now()
    await a.close()
    t.ok(Date.now() - closing < 5000, 'closing does not wait for the held request')
    t.ok(rx.received[0].aborted, 'the request was cut off, unanswered')
    // The database outlives the instance.
    const pg = postgres(a.config.DATABASE_URL!, { max: 1, onnotice: () => {} })
    const [pending] = await pg`select state::text, attempts, lease_until > now() as leased from webhook_deliveries`
    await pg.end()
    t.same({ ...pending }, { state: 'pending', attempts: 0, leased: true }, 'still pending, its lease held by the instance that is gone')

    const b = await build(t, { ...settings, DATABASE_URL: a.config.DATABASE_URL })
    t.ok(await eventually(async () => (await states(b)).some((s) => s.state === 'delivered'), 15_000), 'delivered by the new instance')
    t.equal(rx.received.length, 2, 'at least once: twice here')
    t.equal(rx.received[1].headers['webhook-id'], rx.received[0].headers['webhook-id'], 'the same webhook-id: the receiver can deduplicate')
    t.equal(rx.received[1].body, rx.received[0].body, 'the same body')
    t.ok(rx.received[1].start >= rx.received[0].end!, 'never two attempts at once')
    t.ok(rx.received[1].start - rx.received[0].start >= 6000, 'not before the lease (2 x WEBHOOK_TIMEOUT_MS + 1 s) ran out')
    const log = (await inject(b, { method: 'GET', url: `/api/webhooks/${hook.body.id}/deliveries/`, headers: admin.auth })).body.results[0]
    t.match(log, { state: 'delivered', attempt_count: 1, attempts: [{ status: 200 }] }, 'the cut-off attempt left no result; the one that delivered did')
  })

  t.test('two instances on one database: no delivery attempted twice at once, none lost, outbox order kept', async (t) => {
    const settings = {
      WEBHOOK_ALLOW_PRIVATE: true,
      WEBHOOK_RETRY_SCHEDULE: '0,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05',
      WEBHOOK_TIMEOUT_MS: 3000,
      WEBHOOK_CONCURRENCY: 4
    }
    const count = (lines: string[]) => lines.filter((l) => l.includes('"webhook delivered"')).length
    const linesA: string[] = []
    const linesB: string[] = []
    const a = await build(t, { ...settings, LOG_LEVEL: 'info' }, { write: (m) => void linesA.push(m) })
    const b = await build(t, { ...settings, LOG_LEVEL: 'info', DATABASE_URL: a.config.DATABASE_URL }, { write: (m) => void linesB.push(m) })
    const admin = await makeUser(a, 'admin')
    // Every third request is refused (503), the others answered after up to 30 ms.
    const rx = await receiver(t, async (_r, i) => {
      await new Promise((resolve) => setTimeout(resolve, (i * 7) % 31))
      return i % 3 === 0 ? { status: 503 } : { status: 200 }
    })
    const HOOKS = 3
    const N = 20
    for (let h = 0; h < HOOKS; h++) {
      const res = await inject(h % 2 ? b : a, { method: 'POST', url: '/api/webhooks/', headers: admin.auth, payload: { name: `hook ${h}`, url: `http://127.0.0.1:${rx.port}/hook/${h}` } })
      t.equal(res.status, 201)
    }
    const events: number[] = []
    for (let i = 0; i < N; i++) events.push(await raise(i % 2 ? b : a, admin, `two-${i}`))
    const done = await eventually(async () => {
      const s = await states(a)
      return s.length === 1 && s[0].state === 'delivered' && s[0].n === HOOKS * N
    }, 60_000)
    t.ok(done, `all ${HOOKS * N} deliveries delivered`)

    const byId = new Map<string, Received[]>()
    for (const r of rx.received) {
      const id = String(r.headers['webhook-id'])
      byId.set(id, [...(byId.get(id) ?? []), r])
    }
    t.equal(byId.size, HOOKS * N, 'one message id per webhook and change: no change fanned out twice')
    let overlaps = 0
    for (const list of byId.values()) {
      const sorted = [...list].sort((x, y) => x.start - y.start)
      for (let i = 1; i < sorted.length; i++) if (sorted[i].start < sorted[i - 1].end!) overlaps++
    }
    t.equal(overlaps, 0, 'no delivery attempted while an attempt of it was under way')
    t.ok(rx.received.length > HOOKS * N, `${rx.received.length - HOOKS * N} retries made`)
    for (let h = 0; h < HOOKS; h++) {
      const seen = rx.received.filter((r) => r.path === `/hook/${h}`).map((r) => JSON.parse(r.body).data.alert.event as number)
      const delivered = [...new Set(seen)]
      t.same(delivered, events, `hook ${h}: every change, in outbox order`)
      t.same(seen, [...seen].sort((x, y) => x - y), `hook ${h}: never one before an earlier one was delivered`)
    }
    t.comment(`delivered by instance a: ${count(linesA)}, by b: ${count(linesB)}`)
    t.equal(count(linesA) + count(linesB), HOOKS * N)
  })
}
