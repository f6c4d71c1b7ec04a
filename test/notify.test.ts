// The notification hub (src/db/notify.ts): one connection LISTENs for every channel; each message
// reaches the subscribers of its channel, typed, and nobody else; a subscription ends with its
// AbortSignal, and the channel is UNLISTENed when its last subscriber leaves. Reconnecting after
// the database restarts is in test/db-faults.test.ts.
import { sql } from 'drizzle-orm'
import t from 'tap'
import { userChanges } from '../src/db/channels.js'
import { defineChannel, NotificationHub } from '../src/db/notify.js'
import { build, eventually } from './helper.js'
import { memoryLog, record, watchListener, type ListenCall } from './support/notifications.js'

const alpha = defineChannel<{ n: number }>('vigil_test_alpha', { format: (p) => JSON.stringify(p), parse: (text) => JSON.parse(text) })
const beta = defineChannel<string>('vigil_test_beta', { format: (s) => s, parse: (s) => s })

t.test('one connection listens for every channel', async (t) => {
  const app = await build(t)
  const stop = new AbortController()
  t.teardown(() => stop.abort())
  const a = record(app.notifications, alpha, stop.signal)
  const b = record(app.notifications, beta, stop.signal)
  const users = record(app.notifications, userChanges, stop.signal)
  t.ok(await eventually(async () => a.count('ready') + b.count('ready') + users.count('ready') === 3, 5000), 'all three subscriptions are confirmed')
  const pg = app.database.pg
  if (pg) {
    const [row] = await pg<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity where application_name = 'vigil-listen' and datname = current_database()`
    t.equal(row.n, 1, 'one LISTEN connection for the user cache and both test channels')
  }
  // The user cache's channel, fed by the trigger of drizzle/0001_user_changes.sql.
  await app.db.execute(sql`truncate users cascade`)
  t.ok(await eventually(async () => users.messages.length === 1, 5000), 'the truncate is announced')
  t.same(users.messages, ['*'], "a TRUNCATE reads as '*' (every user)")
})

t.test('a message reaches every subscriber of its channel, typed, and nobody else', async (t) => {
  const app = await build(t)
  const stop = new AbortController()
  t.teardown(() => stop.abort())
  const hub = app.notifications
  const a1 = record(hub, alpha, stop.signal)
  const a2 = record(hub, alpha, stop.signal)
  const b = record(hub, beta, stop.signal)
  t.ok(await eventually(async () => a1.count('ready') + a2.count('ready') + b.count('ready') === 3, 5000), 'subscribed')

  await hub.notify(alpha, { n: 1 })
  // Rolled back: never delivered.
  await t.rejects(
    app.db.transaction(async (tx) => {
      await hub.notify(alpha, { n: 2 }, tx)
      throw new Error('roll back')
    }),
    /roll back/
  )
  // Another client, as psql or a trigger would send it.
  await app.db.execute(sql`select pg_notify('vigil_test_alpha', '{"n":3}')`)
  // Notifications arrive in commit order on the one connection: once beta's last one is here,
  // everything sent before it has arrived too.
  await hub.notify(beta, 'last')
  t.ok(await eventually(async () => b.messages.length === 1, 5000), 'beta got its message')
  t.same(a1.messages, [{ n: 1 }, { n: 3 }], 'the first alpha subscriber got both committed messages, parsed')
  t.same(a2.messages, [{ n: 1 }, { n: 3 }], 'so did the second')
  t.same(b.messages, ['last'], 'beta got none of alpha’s')
  t.same(a1.events, ['ready', 'message', 'message'], 'no gap on a healthy connection')

  await t.rejects(hub.notify(beta, 'x'.repeat(8000)), /over 7999 bytes/, 'a payload PostgreSQL would refuse is refused here, clearly')
})

t.test('an aborted subscription gets nothing more; the last one leaving UNLISTENs', async (t) => {
  const app = await build(t)
  const calls: ListenCall[] = []
  const hub = new NotificationHub(watchListener(app.database, calls), app.db, memoryLog())
  t.teardown(() => hub.close())
  const first = new AbortController()
  const second = new AbortController()
  const a1 = record(hub, alpha, first.signal)
  const a2 = record(hub, alpha, second.signal)
  t.ok(await eventually(async () => a1.count('ready') === 1 && a2.count('ready') === 1, 5000), 'both subscribed')
  t.same(calls.map((c) => `${c.what} ${c.channel}`), ['listen vigil_test_alpha'], 'one LISTEN for two subscribers')

  first.abort()
  await hub.notify(alpha, { n: 1 })
  t.ok(await eventually(async () => a2.messages.length === 1, 5000), 'the remaining subscriber still gets messages')
  t.same(a1.messages, [], 'the aborted one got nothing (it was sent after the abort)')
  t.same(calls.length, 1, 'the channel stays listened while a subscriber is left')

  second.abort()
  t.ok(await eventually(async () => calls.some((c) => c.what === 'unlisten' && c.ok), 5000), 'the last one leaving UNLISTENs')
  t.same(calls.map((c) => `${c.what} ${c.channel}`), ['listen vigil_test_alpha', 'unlisten vigil_test_alpha'])

  const again = new AbortController()
  t.teardown(() => again.abort())
  const a3 = record(hub, alpha, again.signal)
  t.ok(await eventually(async () => a3.count('ready') === 1, 5000), 'a new subscriber LISTENs again')
  await hub.notify(alpha, { n: 2 })
  t.ok(await eventually(async () => a3.messages.length === 1, 5000))
  t.same(a3.messages, [{ n: 2 }])
  t.same([a1.messages, a2.messages], [[], [{ n: 1 }]], 'the ended subscriptions stay ended')

  const aborted = new AbortController()
  aborted.abort()
  const never = record(hub, beta, aborted.signal)
  await hub.notify(beta, 'x')
  await hub.notify(alpha, { n: 3 })
  t.ok(await eventually(async () => a3.messages.length === 2, 5000))
  t.same(never.events, [], 'subscribing with an aborted signal subscribes to nothing')
  t.notOk(calls.some((c) => c.channel === beta.name), 'and LISTENs to nothing')
})

t.test('a subscriber that throws costs nobody else; an unreadable payload is a gap for its subscriber', async (t) => {
  const app = await build(t)
  const log = memoryLog()
  const hub = new NotificationHub(app.database, app.db, log)
  t.teardown(() => hub.close())
  const stop = new AbortController()
  const strict = defineChannel<number>('vigil_test_alpha', {
    format: String,
    parse: (text) => {
      if (!/^\d+$/.test(text)) throw new Error('not a number')
      return Number(text)
    }
  })
  hub.subscribe(strict, { onMessage: () => { throw new Error('subscriber bug') } }, { signal: stop.signal })
  const good = record(hub, strict, stop.signal)
  t.ok(await eventually(async () => good.count('ready') === 1, 5000))
  await app.db.execute(sql`select pg_notify('vigil_test_alpha', 'garbage')`)
  await hub.notify(strict, 7)
  t.ok(await eventually(async () => good.messages.length === 1, 5000), 'the good subscriber got the next message')
  t.same(good.events, ['ready', 'gap', 'ready', 'message'], 'the unreadable one was told as a gap, at once followed by ready')
  t.same(good.messages, [7])
  t.ok(log.lines.some((l) => l.level === 'error' && /subscriber failed in onMessage/.test(l.msg)), 'the bug is logged')
  t.ok(log.lines.some((l) => l.level === 'warn' && /unreadable notification/.test(l.msg)), 'so is the unreadable payload')

  await hub.close()
  // The app's own hub hears the next message on the same channel: the closed one must not.
  const after = new AbortController()
  t.teardown(() => after.abort())
  const watcher = record(app.notifications, strict, after.signal)
  t.ok(await eventually(async () => watcher.count('ready') === 1, 5000))
  await app.notifications.notify(strict, 8)
  t.ok(await eventually(async () => watcher.messages.length === 1, 5000))
  t.same(good.messages, [7], 'nothing is delivered after close')
  t.throws(() => hub.subscribe(strict, { onMessage: () => {} }, { signal: after.signal }), /closed/, 'a closed hub takes no subscription')
  await hub.close()
})

t.test('channel definitions', async (t) => {
  t.throws(() => defineChannel('users; drop table users', { format: String, parse: String }), /not a channel name/)
  t.throws(() => defineChannel('Users', { format: String, parse: String }), /not a channel name/, 'lower-case names only')
  t.equal(userChanges.parse('42'), 42)
  t.equal(userChanges.parse('*'), '*')
  t.equal(userChanges.parse('1e3'), '*', 'anything but an id means every user (dropping too much is safe)')
  t.equal(userChanges.parse(''), '*')
  t.equal(userChanges.format(42), '42')
})
