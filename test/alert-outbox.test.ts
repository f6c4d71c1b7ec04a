// The outbox of alert changes (issue 13's foundation): the alert history read in (tx, id) order
// below the oldest running transaction. A reader resuming from its cursor gets every committed
// change exactly once, in order, even when ids commit out of order, and a filter moves the
// cursor past what it leaves out.
import { sql } from 'drizzle-orm'
import t from 'tap'
import postgres from 'postgres'
import type { FastifyInstance } from 'fastify'
import { rowsOf } from '../src/db/queries.js'
import { cursorText, parseCursor, readChanges, startCursor, type StreamCursor, type StreamFilter } from '../src/services/alert-stream.js'
import { build, eventually, inject, makeUser, onPostgres, type TestUser } from './helper.js'

const raise = (app: FastifyInstance, by: TestUser, source = 'fw-1') =>
  inject(app, { method: 'POST', url: '/api/events/', headers: by.auth, payload: { source, event_type: 'intrusion', severity: 'High' } })
const firstAlert = async (app: FastifyInstance, by: TestUser, source: string) =>
  (await inject(app, { method: 'GET', url: `/api/alerts/?source=${source}`, headers: by.auth })).body.results[0]

/** Reads until nothing is left, as a stream would: every event and the cursor after them. */
async function drain(app: FastifyInstance, from: StreamCursor, filter: StreamFilter = {}) {
  const events = []
  let cursor = from
  for (;;) {
    const page = await readChanges(app.db, cursor, filter)
    events.push(...page.events)
    cursor = page.cursor
    if (!page.more) return { events, cursor }
  }
}

/**
 * Reads until `n` events came: a transaction still open anywhere on the server (another test
 * file's) holds newer rows back for as long as it runs.
 */
async function drainFor(app: FastifyInstance, from: StreamCursor, n: number, filter: StreamFilter = {}) {
  const events: Awaited<ReturnType<typeof drain>>['events'] = []
  let cursor = from
  await eventually(async () => {
    const page = await drain(app, cursor, filter)
    events.push(...page.events)
    cursor = page.cursor
    return events.length >= n
  }, 60_000)
  return { events, cursor }
}

t.test('changes in order, resumed without repeats, filtered without stalling', async (t) => {
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  const start = await startCursor(app.db)
  await raise(app, admin, 'a')
  const alert = await firstAlert(app, admin, 'a')
  await inject(app, { method: 'PATCH', url: `/api/alerts/${alert.id}/`, headers: admin.auth, payload: { status: 'Acknowledged' } })
  await inject(app, { method: 'POST', url: `/api/alerts/${alert.id}/comments/`, headers: admin.auth, payload: { body: 'seen' } })

  const first = await drainFor(app, start, 3)
  t.same(first.events.map((e) => e.type), ['raised', 'changed', 'commented'], 'every change, in order')
  t.equal(first.events[1].data.alert.id, alert.id)
  t.equal(first.events[1].data.change.actor, admin.user.username)
  t.same(first.events[1].data.change.after, { status: 'Acknowledged' })
  t.equal(first.events[2].data.alert.status, 'Acknowledged', 'each with the alert')
  t.same(parseCursor(first.events[2].id), first.cursor, 'an event id is the cursor after it')
  t.equal(parseCursor(cursorText(first.cursor))?.id, first.cursor.id)
  t.equal(parseCursor('12.x'), undefined, 'a cursor is two numbers')

  t.same((await drain(app, first.cursor)).events, [], 'resumed: nothing again')
  await inject(app, { method: 'PATCH', url: `/api/alerts/${alert.id}/`, headers: admin.auth, payload: { status: 'Resolved', verdict: 'true_positive' } })
  await raise(app, admin, 'b')
  const next = await drainFor(app, first.cursor, 2)
  t.same(next.events.map((e) => [e.type, e.data.alert.source]), [['changed', 'a'], ['raised', 'b']], 'only what came after')

  const resolved = await drainFor(app, start, 4, { status: 'Resolved' })
  t.same(resolved.events.map((e) => e.data.alert.id), [alert.id, alert.id, alert.id, alert.id], "a filter on the alert's state as it is now: all four of its changes")
  t.same(resolved.cursor, next.cursor, 'and the cursor moved past everything it read')
  t.same((await drain(app, start, { source: 'nowhere' })).cursor, next.cursor, 'even when nothing matched')
})

// PostgreSQL only: transactions held open on another connection.
if (onPostgres) t.test('a change whose id committed late is not skipped', async (t) => {
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  const begin = await startCursor(app.db)
  await raise(app, admin, 'late')
  await raise(app, admin, 'early')
  const late = await firstAlert(app, admin, 'late')
  const early = await firstAlert(app, admin, 'early')
  let cursor = (await drainFor(app, begin, 2)).cursor

  const other = postgres(app.config.DATABASE_URL!, { max: 1, onnotice: () => {} })
  t.teardown(() => other.end())
  const held = await other.reserve()
  await held`begin`
  // Takes the lower history id, and does not commit yet.
  await held`insert into alert_history (alert_id, action, after) values (${late.id}, 'commented', '{"comment_id": 0}')`
  await inject(app, { method: 'PATCH', url: `/api/alerts/${early.id}/`, headers: admin.auth, payload: { status: 'Acknowledged' } })
  const [ids] = await rowsOf<{ max: string }>(app.db, sql`select max(id)::text as max from alert_history`)

  const during = await drain(app, cursor)
  t.same(during.events, [], 'the committed change waits while an older transaction is open')
  cursor = during.cursor
  await held`commit`
  held.release()
  const after = await drainFor(app, cursor, 2)
  t.same(after.events.map((e) => [e.type, e.data.alert.id]), [['commented', late.id], ['changed', early.id]], 'both, each once, in transaction order')
  t.equal(String(after.events[1].data.change.id), ids.max)
})

if (onPostgres) t.test('a reader resuming under concurrent writers loses nothing and repeats nothing', async (t) => {
  const app = await build(t, { DB_POOL_MAX: 12 })
  const admin = await makeUser(app, 'admin')
  const start = await startCursor(app.db)
  for (let i = 0; i < 4; i++) await raise(app, admin, `w${i}`)
  const targets = await Promise.all([0, 1, 2, 3].map((i) => firstAlert(app, admin, `w${i}`)))
  let writing = true
  const seen: string[] = []
  const reader = (async () => {
    let cursor = start
    while (writing) {
      const page = await drain(app, cursor)
      seen.push(...page.events.map((e) => e.id))
      cursor = page.cursor
    }
    seen.push(...(await drain(app, cursor)).events.map((e) => e.id))
  })()
  await Promise.all(
    targets.map(async (a, w) => {
      for (let i = 0; i < 25; i++) {
        await inject(app, { method: 'PATCH', url: `/api/alerts/${a.id}/`, headers: admin.auth, payload: { add_tags: [`t${i}`] } })
        await raise(app, admin, `w${w}`)
      }
    })
  )
  writing = false
  await reader
  // Ordered by the columns: a bare `id` in ORDER BY would name the text output column, and sort
  // 3085.100 before 3085.99 when one transaction's ids cross a power of ten.
  const all = await rowsOf<{ id: string }>(app.db, sql`select tx::text || '.' || id as id from alert_history h order by h.tx, h.id`)
  // A transaction still open anywhere on the server (another test's) holds rows back, never loses them.
  let cursor = parseCursor(seen[seen.length - 1]) ?? start
  t.ok(
    await eventually(async () => {
      const page = await drain(app, cursor)
      seen.push(...page.events.map((e) => e.id))
      cursor = page.cursor
      return seen.length >= all.length
    }, 60_000)
  )
  t.equal(new Set(seen).size, seen.length, 'no change delivered twice')
  t.same(seen, all.map((r) => r.id), 'every change, in (tx, id) order')
  t.equal(seen.length, 4 + 4 * 25 * 2)
})
