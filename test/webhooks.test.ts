// Webhooks (README, Webhooks): real receivers on 127.0.0.1 (so WEBHOOK_ALLOW_PRIVATE=true, but in
// the SSRF tests), signatures verified by the standardwebhooks library, retries on a short
// schedule, Retry-After, 410, auto-disable, redirects, the delivery log and redelivery, and the
// secret kept out of every response but two and out of the log.
import t from 'tap'
import { sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import postgres from 'postgres'
import { Webhook } from 'standardwebhooks'
import { rowsOf } from '../src/db/queries.js'
import { refusedAddress } from '../src/services/webhook-targets.js'
import { retryAfterSeconds, signatureHeader } from '../src/services/webhook-delivery.js'
import { build, eventually, inject, makeUser, onPostgres, type Overrides, type TestUser } from './helper.js'
import { guardedInject } from './no-secrets.js'
import { receiver, type Received } from './support/receiver.js'

const FAST: Overrides = { WEBHOOK_ALLOW_PRIVATE: true, WEBHOOK_RETRY_SCHEDULE: '0,0.2,0.2,0.2,0.2,0.2', WEBHOOK_TIMEOUT_MS: 2000 }

/** An alert, raised by a High event (its `raised` change is what webhooks deliver). */
async function raise(app: FastifyInstance, admin: TestUser, source = 'fw-1', severity = 'High') {
  const ev = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source, event_type: 'intrusion', severity } })
  if (ev.status !== 201) throw new Error(`event: ${ev.status}`)
  return ev.body.id as number
}

async function createHook(app: FastifyInstance, admin: TestUser, payload: Record<string, unknown>) {
  const res = await inject(app, { method: 'POST', url: '/api/webhooks/', headers: admin.auth, payload: { name: 'test hook', ...payload } })
  if (res.status !== 201) throw new Error(`create: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body as { id: number; secret: string } & Record<string, unknown>
}

const deliveries = async (app: FastifyInstance, admin: TestUser, id: number, query = '') =>
  (await inject(app, { method: 'GET', url: `/api/webhooks/${id}/deliveries/${query}`, headers: admin.auth })).body

const verify = (secret: string, r: Received) =>
  new Webhook(secret).verify(r.body, {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature'])
  })

t.test('addresses webhooks may not reach', async (t) => {
  for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '64:ff9b::a9fe:a9fe', '::127.0.0.1']) {
    t.ok(refusedAddress(a), `${a} refused`)
  }
  for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8']) t.equal(refusedAddress(a), undefined, `${a} allowed`)
  t.equal(retryAfterSeconds('120'), 120)
  t.equal(retryAfterSeconds(new Date(Date.now() + 30_000).toUTCString()), 30)
  t.equal(retryAfterSeconds('soon'), undefined)
  // Vigil's signature is the library's own.
  const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`
  t.equal(signatureHeader([secret], 'msg_1', 1_700_000_000, '{"a":1}'), new Webhook(secret).sign('msg_1', new Date(1_700_000_000_000), '{"a":1}'))
})

t.test('create, signed delivery verified by standardwebhooks, the secret shown once and never logged', async (t) => {
  const lines: string[] = []
  const app = await build(t, { ...FAST, LOG_LEVEL: 'info' }, { write: (msg) => void lines.push(msg) })
  const admin = await makeUser(app, 'admin')
  const req = guardedInject(t, app)
  const rx = await receiver(t)
  const created = await req({ method: 'POST', url: '/api/webhooks/', headers: admin.auth, payload: { name: 'SOAR', url: rx.url } })
  t.equal(created.status, 201)
  t.match(created.body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/)
  t.equal(Buffer.from(created.body.secret.slice(6), 'base64').length, 32, '32 random bytes')
  const secret = created.body.secret as string
  const id = created.body.id as number

  const eventId = await raise(app, admin)
  t.ok(await eventually(async () => rx.received.length >= 1, 10_000), 'delivered')
  const got = rx.received[0]
  t.equal(got.headers['content-type'], 'application/json')
  t.match(String(got.headers['webhook-id']), /^msg_[0-9a-f]{32}$/)
  t.ok(Math.abs(Number(got.headers['webhook-timestamp']) - Date.now() / 1000) < 30, 'timestamp: unix seconds of the attempt')
  const body = verify(secret, got) as any
  t.equal(body.type, 'alert.raised')
  t.equal(body.data.alert.event, eventId)
  t.equal(body.data.change.action, 'raised')
  t.ok(!Number.isNaN(Date.parse(body.timestamp)))
  t.throws(() => verify(`whsec_${Buffer.alloc(32, 1).toString('base64')}`, got), 'another secret does not verify')
  t.throws(() => verify(secret, { ...got, body: got.body.replace('raised', 'changed') }), 'a changed body does not verify')
  t.equal(signatureHeader([secret], String(got.headers['webhook-id']), Number(got.headers['webhook-timestamp']), got.body), got.headers['webhook-signature'])

  // The log: delivered, one attempt.
  t.ok(await eventually(async () => (await deliveries(app, admin, id)).results?.[0]?.state === 'delivered', 5000))
  const log = await req({ method: 'GET', url: `/api/webhooks/${id}/deliveries/`, headers: admin.auth })
  t.equal(log.body.count, 1)
  const d = log.body.results[0]
  t.equal(d.message_id, got.headers['webhook-id'])
  t.equal(d.payload, got.body, 'the payload as sent')
  t.equal(d.attempt_count, 1)
  t.equal(d.next_attempt_at, null)
  t.match(d.attempts, [{ status: 200, error: null, response: 'ok' }])
  t.type(d.attempts[0].latency_ms, 'number')

  // Never again: not in GET, list, PATCH, deliveries, the audit trail or the log.
  for (const url of [`/api/webhooks/${id}/`, '/api/webhooks/', `/api/webhooks/${id}/deliveries/`, '/api/audit/?target_type=webhook']) {
    const res = await req({ method: 'GET', url, headers: admin.auth })
    t.equal(res.status, 200)
    t.notOk(res.raw.body.includes(secret.slice(6)), `${url}: no secret`)
    t.notOk(res.raw.body.includes('whsec_'), `${url}: no secret at all`)
  }
  const patched = await req({ method: 'PATCH', url: `/api/webhooks/${id}/`, headers: admin.auth, payload: { name: 'SOAR intake' } })
  t.equal(patched.body.name, 'SOAR intake')
  t.notOk('secret' in patched.body)
  const audit = await req({ method: 'GET', url: '/api/audit/?target_type=webhook', headers: admin.auth })
  t.same(audit.body.results.map((r: any) => r.action).sort(), ['webhook.created', 'webhook.updated'])
  t.ok(lines.some((l) => l.includes('webhook delivered')), 'deliveries are logged')
  t.notOk(lines.join('\n').includes(secret.slice(6)), 'the secret is not in the log')

  const del = await req({ method: 'DELETE', url: `/api/webhooks/${id}/`, headers: admin.auth })
  t.equal(del.status, 204)
  t.equal((await req({ method: 'GET', url: `/api/webhooks/${id}/`, headers: admin.auth })).status, 404)
  const [left] = await rowsOf(app.db, sql`select (select count(*) from webhook_deliveries)::int as d, (select count(*) from webhook_attempts)::int as a`)
  t.same(left, { d: 0, a: 0 }, 'deliveries and attempts go with it')
})

t.test('rotation: both secrets sign during the overlap, only the new one after', async (t) => {
  const app = await build(t, FAST)
  const admin = await makeUser(app, 'admin')
  const rx = await receiver(t)
  const hook = await createHook(app, admin, { url: rx.url })
  const old = hook.secret
  const rotated = await inject(app, { method: 'POST', url: `/api/webhooks/${hook.id}/rotate/`, headers: admin.auth, payload: { overlap_seconds: 3600 } })
  t.equal(rotated.status, 200)
  const fresh = rotated.body.secret as string
  t.not(fresh, old)
  t.ok(Date.parse(rotated.body.previous_secret_until) > Date.now() + 3500_000)

  await raise(app, admin)
  t.ok(await eventually(async () => rx.received.length >= 1, 10_000))
  const during = rx.received[0]
  t.equal(String(during.headers['webhook-signature']).split(' ').length, 2, 'two signatures')
  t.ok(verify(fresh, during), 'the new secret verifies')
  t.ok(verify(old, during), 'the old secret verifies')

  // The overlap ends.
  await app.db.execute(sql`update webhooks set previous_secret_until = now() - interval '1 second' where id = ${hook.id}`)
  await raise(app, admin)
  t.ok(await eventually(async () => rx.received.length >= 2, 10_000))
  const after = rx.received[1]
  t.equal(String(after.headers['webhook-signature']).split(' ').length, 1, 'one signature')
  t.ok(verify(fresh, after))
  t.throws(() => verify(old, after), 'the old secret no longer verifies')
  t.equal((await inject(app, { method: 'GET', url: `/api/webhooks/${hook.id}/`, headers: admin.auth })).body.previous_secret_until, null)

  // Without an overlap, the old one stops at once; the default body is optional.
  const again = await inject(app, { method: 'POST', url: `/api/webhooks/${hook.id}/rotate/`, headers: admin.auth, payload: { overlap_seconds: 0 } })
  t.equal(again.body.previous_secret_until, null)
  const byDefault = await inject(app, { method: 'POST', url: `/api/webhooks/${hook.id}/rotate/`, headers: admin.auth })
  t.equal(byDefault.status, 200)
  t.ok(Math.abs(Date.parse(byDefault.body.previous_secret_until) - (Date.now() + 86_400_000)) < 60_000, 'a day by default')
  const audit = await inject(app, { method: 'GET', url: '/api/audit/?action=webhook.secret_rotated', headers: admin.auth })
  t.equal(audit.body.count, 3)
  t.notOk(JSON.stringify(audit.body).includes('whsec_'))
})

t.test('a receiver down for a while, then up: delivered in order, the same webhook-id on every attempt', async (t) => {
  const app = await build(t, FAST)
  const admin = await makeUser(app, 'admin')
  let down = true
  const rx = await receiver(t, () => (down ? { status: 503, body: 'busy\u0000\u001b[31m' } : { status: 200, body: 'ok' }))
  const hook = await createHook(app, admin, { url: rx.url })
  await raise(app, admin, 'first')
  await raise(app, admin, 'second')
  t.ok(await eventually(async () => rx.received.length >= 3, 10_000), 'three attempts while down')
  down = false
  t.ok(await eventually(async () => (await deliveries(app, admin, hook.id, '?state=delivered')).count === 2, 10_000), 'both delivered once it is up')

  const ids = rx.received.map((r) => String(r.headers['webhook-id']))
  const sources = rx.received.map((r) => JSON.parse(r.body).data.alert.source as string)
  const firstId = ids[0]
  const firstAttempts = ids.filter((i) => i === firstId).length
  t.ok(firstAttempts >= 4, `the first delivery was attempted ${firstAttempts} times`)
  t.same(sources.slice(0, firstAttempts), Array(firstAttempts).fill('first'), 'the second waits for the first (outbox order)')
  t.same(sources.slice(firstAttempts), ['second'], 'then the second, once')
  const timestamps = rx.received.slice(0, firstAttempts).map((r) => Number(r.headers['webhook-timestamp']))
  t.same([...timestamps].sort(), timestamps, 'each attempt signs with its own time')

  const log = await deliveries(app, admin, hook.id)
  const first = log.results.find((d: any) => d.message_id === firstId)
  t.equal(first.attempt_count, firstAttempts)
  t.same(first.attempts.map((a: any) => a.status), [...Array(firstAttempts - 1).fill(503), 200], 'attempts oldest first')
  t.equal(first.attempts[0].response, 'busy[31m', 'control characters removed from the excerpt')
  const at = first.attempts.map((a: any) => Date.parse(a.at))
  for (let i = 1; i < at.length; i++) t.ok(at[i] - at[i - 1] >= 150, `attempt ${i + 1} came after the schedule's wait`)
  t.equal(first.last_status, 200)
})

t.test('Retry-After is honoured, never sooner than the schedule', async (t) => {
  const app = await build(t, FAST)
  const admin = await makeUser(app, 'admin')
  const rx = await receiver(t, (_r, i) => (i === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 204 }))
  const hook = await createHook(app, admin, { url: rx.url })
  await raise(app, admin)
  t.ok(await eventually(async () => (await deliveries(app, admin, hook.id)).results?.[0]?.attempt_count === 1, 10_000))
  const log = await deliveries(app, admin, hook.id)
  t.ok(Date.parse(log.results[0].next_attempt_at) - rx.received[0].start >= 1500, 'next attempt about 2 s on')
  t.ok(await eventually(async () => rx.received.length >= 2, 10_000))
  const gap = rx.received[1].start - rx.received[0].start
  t.ok(gap >= 1900, `the second attempt waited ${gap} ms (Retry-After: 2, the schedule 0.2 s)`)
  t.ok(await eventually(async () => (await deliveries(app, admin, hook.id)).results[0].state === 'delivered', 5000))
})

t.test('410 Gone turns the webhook off, saying why', async (t) => {
  const app = await build(t, FAST)
  const admin = await makeUser(app, 'admin')
  const rx = await receiver(t, () => ({ status: 410 }))
  const hook = await createHook(app, admin, { url: rx.url })
  await raise(app, admin)
  const get = () => inject(app, { method: 'GET', url: `/api/webhooks/${hook.id}/`, headers: admin.auth })
  t.ok(await eventually(async () => (await get()).body.active === false, 10_000), 'turned off')
  const off = (await get()).body
  t.match(off.disabled_reason, /410 Gone/)
  t.equal(rx.received.length, 1, 'one attempt only')
  const log = await deliveries(app, admin, hook.id)
  t.equal(log.results[0].state, 'failed')
  const audit = await inject(app, { method: 'GET', url: '/api/audit/?action=webhook.disabled', headers: admin.auth })
  t.equal(audit.body.count, 1)
  t.equal(audit.body.results[0].actor, 'system:webhooks')
  t.match(audit.body.results[0].after.reason, /410/)
  // Off: nothing more is delivered.
  await raise(app, admin)
  t.equal((await deliveries(app, admin, hook.id)).count, 1)
  t.same((await inject(app, { method: 'GET', url: '/api/webhooks/?active=false', headers: admin.auth })).body.results.map((w: any) => w.id), [hook.id])
  // On again: the reason goes, and changes from then on are delivered.
  rx.answer = () => ({ status: 200 })
  const on = await inject(app, { method: 'PATCH', url: `/api/webhooks/${hook.id}/`, headers: admin.auth, payload: { active: true } })
  t.same([on.body.active, on.body.disabled_reason], [true, null])
  await raise(app, admin, 'after')
  t.ok(await eventually(async () => rx.received.some((r) => JSON.parse(r.body).data.alert.source === 'after'), 10_000))
})

t.test('failing for WEBHOOK_DISABLE_AFTER_DAYS turns the webhook off', async (t) => {
  const app = await build(t, { ...FAST, WEBHOOK_RETRY_SCHEDULE: '0,0.3,0.3,0.3,0.3,0.3,0.3,0.3', WEBHOOK_DISABLE_AFTER_DAYS: 5 })
  const admin = await makeUser(app, 'admin')
  const rx = await receiver(t, () => ({ status: 500, body: 'down' }))
  const hook = await createHook(app, admin, { url: rx.url })
  await raise(app, admin)
  const get = async () => (await inject(app, { method: 'GET', url: `/api/webhooks/${hook.id}/`, headers: admin.auth })).body
  t.ok(await eventually(async () => (await get()).failing_since !== null, 10_000), 'failing since the first failure')
  t.equal((await get()).active, true, 'a few failures do not turn it off')
  await app.db.execute(sql`update webhooks set failing_since = now() - interval '6 days' where id = ${hook.id}`)
  t.ok(await eventually(async () => (await get()).active === false, 10_000), 'turned off at the next failure')
  const off = await get()
  t.match(off.disabled_reason, /failed for 5 days/)
  t.match(off.disabled_reason, /HTTP 500/)
  const audit = await inject(app, { method: 'GET', url: '/api/audit/?action=webhook.disabled', headers: admin.auth })
  t.equal(audit.body.count, 1)
})

t.test('the schedule runs out: failed; redelivery revives it, with the same id', async (t) => {
  const app = await build(t, { ...FAST, WEBHOOK_RETRY_SCHEDULE: '0,0.1,0.1' })
  const admin = await makeUser(app, 'admin')
  const rx = await receiver(t, () => ({ status: 500 }))
  const hook = await createHook(app, admin, { url: rx.url })
  await raise(app, admin)
  t.ok(await eventually(async () => (await deliveries(app, admin, hook.id)).results?.[0]?.state === 'failed', 10_000), 'failed after 3 attempts')
  t.equal(rx.received.length, 3)
  const d = (await deliveries(app, admin, hook.id)).results[0]
  t.same([d.attempt_count, d.next_attempt_at, d.last_status], [3, null, 500])

  rx.answer = () => ({ status: 200 })
  const re = await inject(app, { method: 'POST', url: `/api/webhooks/${hook.id}/deliveries/${d.id}/redeliver/`, headers: admin.auth })
  t.equal(re.status, 202)
  t.equal(re.body.state, 'pending')
  t.ok(await eventually(async () => (await deliveries(app, admin, hook.id)).results[0].state === 'delivered', 10_000), 'delivered')
  t.equal(rx.received.length, 4)
  t.same(new Set(rx.received.map((r) => r.headers['webhook-id'])).size, 1, 'one message id throughout')
  // A delivered one can be sent again too.
  await inject(app, { method: 'POST', url: `/api/webhooks/${hook.id}/deliveries/${d.id}/redeliver/`, headers: admin.auth })
  t.ok(await eventually(async () => rx.received.length === 5, 10_000))
  t.equal(rx.received[4].headers['webhook-id'], rx.received[0].headers['webhook-id'])
  t.equal((await inject(app, { method: 'POST', url: `/api/webhooks/${hook.id}/deliveries/999999/redeliver/`, headers: admin.auth })).status, 404)
  t.equal((await inject(app, { method: 'POST', url: `/api/webhooks/999999/deliveries/${d.id}/redeliver/`, headers: admin.auth })).status, 404)
})

t.test('redirects are not followed', async (t) => {
  const app = await build(t, { ...FAST, WEBHOOK_RETRY_SCHEDULE: '0' })
  const admin = await makeUser(app, 'admin')
  const rx = await receiver(t, (r) => (r.path === '/hook' ? { status: 302, headers: { location: '/elsewhere' } } : { status: 200 }))
  const hook = await createHook(app, admin, { url: rx.url })
  await raise(app, admin)
  t.ok(await eventually(async () => (await deliveries(app, admin, hook.id)).results?.[0]?.state === 'failed', 10_000))
  const d = (await deliveries(app, admin, hook.id)).results[0]
  t.equal(d.attempts[0].status, 302)
  t.match(d.attempts[0].error, /Redirects are not followed/)
  t.same(rx.received.map((r) => r.path), ['/hook'], 'nothing went to the redirect target')
})

t.test('event types and the alert filter choose what is delivered; the test message', async (t) => {
  const app = await build(t, FAST)
  const admin = await makeUser(app, 'admin')
  const rx = await receiver(t)
  const hook = await createHook(app, admin, { url: rx.url, event_types: ['alert.changed'], filter: { severity: 'Critical' } })
  t.same([hook.event_types, hook.filter], [['alert.changed'], { severity: 'Critical' }])
  await raise(app, admin, 'high', 'High')
  await raise(app, admin, 'crit', 'Critical')
  const alerts = (await inject(app, { method: 'GET', url: '/api/alerts/', headers: admin.auth })).body.results
  for (const a of alerts) {
    const res = await inject(app, { method: 'PATCH', url: `/api/alerts/${a.id}/`, headers: admin.auth, payload: { status: 'Acknowledged' } })
    t.equal(res.status, 200)
  }
  t.ok(await eventually(async () => rx.received.length >= 1, 10_000))
  const test = await inject(app, { method: 'POST', url: `/api/webhooks/${hook.id}/test/`, headers: admin.auth })
  t.equal(test.status, 202)
  t.ok(await eventually(async () => rx.received.length >= 2, 10_000))
  const bodies = rx.received.map((r) => JSON.parse(r.body))
  t.same(bodies.map((b) => [b.type, b.data.alert?.source ?? null]), [['alert.changed', 'crit'], ['webhook.test', null]], 'only the Critical alert, only its change')
  t.equal(bodies[0].data.change.after.status, 'Acknowledged')

  // Invalid filters and types are 400s.
  for (const payload of [{ filter: { severity: 'Extreme' } }, { filter: { page: 2 } }, { filter: { nope: 1 } }, { event_types: ['alert.exploded'] }, { filter: { unassigned: 'yes' } }]) {
    const res = await inject(app, { method: 'POST', url: '/api/webhooks/', headers: admin.auth, payload: { name: 'bad', url: rx.url, ...payload } })
    t.same([res.status, res.body.code], [400, 'validation_failed'], JSON.stringify(payload))
  }
  // `assignee: me` is stored as the creator's id.
  const mine = await createHook(app, admin, { url: rx.url, filter: { assignee: 'me' } })
  t.same(mine.filter, { assignee: String(admin.user.id) })
})

t.test('SSRF: internal targets are refused at create and update, and at each attempt', async (t) => {
  const app = await build(t, { WEBHOOK_RETRY_SCHEDULE: '0', WEBHOOK_TIMEOUT_MS: 2000 })
  const admin = await makeUser(app, 'admin')
  const rx = await receiver(t)
  for (const url of [
    rx.url,
    'http://10.0.0.7/hook',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::1]:8080/',
    'http://[::ffff:127.0.0.1]/',
    `http://localhost:${rx.port}/hook`,
    'http://0x7f000001/',
    'ftp://example.com/',
    'http://user:pass@example.com/'
  ]) {
    const res = await inject(app, { method: 'POST', url: '/api/webhooks/', headers: admin.auth, payload: { name: 'x', url } })
    t.same([res.status, res.body.code], [400, 'webhook_url_refused'], url)
    t.ok(res.body.errors?.url?.length, `${url}: the error names the url`)
  }
  const notUrl = await inject(app, { method: 'POST', url: '/api/webhooks/', headers: admin.auth, payload: { name: 'x', url: 'not a url' } })
  t.same([notUrl.status, notUrl.body.code], [400, 'validation_failed'], 'not a URL at all')
  t.equal((await inject(app, { method: 'GET', url: '/api/webhooks/', headers: admin.auth })).body.count, 0)

  // A webhook stored with an internal URL (say, before the setting changed) is refused at the attempt.
  const [hook] = await rowsOf<{ id: string }>(app.db, sql`insert into webhooks (name, url, secret, cursor_tx) values ('old', ${rx.url}, ${'whsec_' + Buffer.alloc(32).toString('base64')}, pg_current_xact_id()) returning id`)
  const id = Number(hook.id)
  const patch = await inject(app, { method: 'PATCH', url: `/api/webhooks/${id}/`, headers: admin.auth, payload: { url: 'http://192.168.0.10/' } })
  t.same([patch.status, patch.body.code], [400, 'webhook_url_refused'], 'refused at update')
  await raise(app, admin)
  t.ok(await eventually(async () => (await deliveries(app, admin, id)).results?.[0]?.state === 'failed', 10_000))
  const d = (await deliveries(app, admin, id)).results[0]
  t.same([d.attempts[0].status, rx.received.length], [null, 0], 'no request was made')
  t.match(d.attempts[0].error, /not allowed/)
})

t.test('deliveries are paged newest first; limits and 404s', async (t) => {
  const app = await build(t, { ...FAST, WEBHOOKS_ENABLED: false })
  const admin = await makeUser(app, 'admin')
  const hook = await createHook(app, admin, { url: 'http://127.0.0.1:9/hook' })
  for (let i = 0; i < 5; i++) await inject(app, { method: 'POST', url: `/api/webhooks/${hook.id}/test/`, headers: admin.auth })
  const first = await deliveries(app, admin, hook.id, '?page_size=2')
  t.same([first.count, first.results.length], [5, 2])
  t.ok(first.results[0].id > first.results[1].id, 'newest first')
  t.equal(first.results[0].state, 'pending')
  const next = (await inject(app, { method: 'GET', url: first.next.replace(/^https?:\/\/[^/]+/, ''), headers: admin.auth })).body
  t.equal(next.results.length, 2)
  t.ok(next.results[0].id < first.results[1].id)
  t.equal((await deliveries(app, admin, hook.id, '?state=delivered')).count, 0)
  t.equal((await inject(app, { method: 'GET', url: '/api/webhooks/999999/deliveries/', headers: admin.auth })).status, 404)
  t.equal((await inject(app, { method: 'POST', url: '/api/webhooks/999999/rotate/', headers: admin.auth, payload: {} })).status, 404)
  const over = await inject(app, { method: 'POST', url: `/api/webhooks/${hook.id}/rotate/`, headers: admin.auth, payload: { overlap_seconds: 8 * 86_400 } })
  t.equal(over.status, 400)
  const analyst = await makeUser(app, 'analyst')
  t.equal((await inject(app, { method: 'GET', url: '/api/webhooks/', headers: analyst.auth })).status, 403)
})

t.test('retention: finished deliveries older than WEBHOOK_DELIVERY_RETENTION_DAYS go with their attempts; pending and recent ones stay', async (t) => {
  const lines: string[] = []
  const app = await build(t, { ...FAST, WEBHOOK_RETRY_SCHEDULE: '0', WEBHOOK_DELIVERY_RETENTION_DAYS: 30, LOG_LEVEL: 'info' }, { write: (msg) => void lines.push(msg) })
  const admin = await makeUser(app, 'admin')
  const ok = await receiver(t)
  const down = await receiver(t, () => ({ status: 500 }))
  const good = await createHook(app, admin, { name: 'good', url: ok.url })
  const bad = await createHook(app, admin, { name: 'bad', url: down.url })
  for (let i = 0; i < 3; i++) await raise(app, admin)
  const finished = async () =>
    (await rowsOf<{ n: number }>(app.db, sql`select count(*)::int as n from webhook_deliveries where state in ('delivered', 'failed')`))[0].n === 6
  t.ok(await eventually(finished, 10_000), 'three delivered to one, three failed at the other (one attempt each)')
  // A pending one that waits for ever: its webhook is off.
  t.equal((await inject(app, { method: 'PATCH', url: `/api/webhooks/${good.id}/`, headers: admin.auth, payload: { active: false } })).status, 200)
  const pending = (await inject(app, { method: 'POST', url: `/api/webhooks/${good.id}/test/`, headers: admin.auth })).body.id as number

  const ids = async (hook: number) =>
    (await rowsOf<{ id: number | string }>(app.db, sql`select id from webhook_deliveries where webhook_id = ${hook} and change_id is not null order by id`)).map((r) => Number(r.id))
  const [d1, d2, d3] = await ids(good.id)
  const [f1, f2, f3] = await ids(bad.id)
  const old = sql`now() - interval '40 days'`
  const backdate = async (id: number, delivered: boolean, attemptsToo: boolean) => {
    await app.db.execute(sql`update webhook_deliveries set created_at = ${old}, next_attempt_at = ${old} where id = ${id}`)
    if (!attemptsToo) return
    await app.db.execute(sql`update webhook_attempts set at = ${old} where delivery_id = ${id}`)
    if (delivered) await app.db.execute(sql`update webhook_deliveries set delivered_at = ${old} where id = ${id}`)
  }
  await backdate(d1, true, true) // delivered 40 days ago: goes
  await backdate(d2, true, false) // made 40 days ago, delivered now (a redelivery): stays
  await backdate(f1, false, true) // failed 40 days ago: goes
  await backdate(f2, false, false) // made 40 days ago, its last attempt now: stays
  await app.db.execute(sql`update webhook_deliveries set created_at = ${old}, next_attempt_at = ${old} where id = ${pending}`) // pending: stays
  // More than a batch of old delivered ones, each with an attempt.
  await app.db.execute(
    sql`insert into webhook_deliveries (webhook_id, message_id, type, payload, state, attempts, step, next_attempt_at, delivered_at, created_at)
        select ${bad.id}, 'msg_old_' || i, 'alert.raised', '{}', 'delivered', 1, 1, ${old}, now() - interval '31 days', ${old}
          from generate_series(1, 5100) i`
  )
  await app.db.execute(
    sql`insert into webhook_attempts (delivery_id, at, status, latency_ms)
        select id, created_at, 200, 1 from webhook_deliveries where message_id like 'msg_old_%'`
  )
  const [attemptsBefore] = await rowsOf<{ n: number }>(app.db, sql`select count(*)::int as n from webhook_attempts`)
  t.equal(attemptsBefore.n, 6 + 5100)

  await app.maintain()
  const left = (await rowsOf<{ id: number | string }>(app.db, sql`select id from webhook_deliveries order by id`)).map((r) => Number(r.id))
  t.same(left, [d2, d3, f2, f3, pending].sort((a, b) => a - b), 'pending, recent and recently active deliveries stay')
  const attempts = await rowsOf<{ delivery_id: number | string }>(app.db, sql`select delivery_id from webhook_attempts order by delivery_id`)
  t.same(attempts.map((r) => Number(r.delivery_id)), [d2, d3, f2, f3].sort((a, b) => a - b), 'the attempts of what went, went with it')
  const line = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'retention: deleted finished webhook deliveries')
  t.match(line, { deliveries: 2 + 5100, retention_days: 30 }, 'logged with the count')
  // The log's list agrees.
  t.same((await deliveries(app, admin, good.id)).results.map((d: { id: number }) => d.id).sort((a: number, b: number) => a - b), [d2, d3, pending].sort((a, b) => a - b))
  // A second round finds nothing more.
  lines.length = 0
  await app.maintain()
  t.notOk(lines.some((l) => l.includes('deleted finished webhook deliveries')), 'nothing left to delete, nothing logged')
  t.equal((await rowsOf<{ n: number }>(app.db, sql`select count(*)::int as n from webhook_deliveries`))[0].n, 5)
})

// Across instances and restarts, on PostgreSQL (PGlite is one process's database): a Vigil closed
// while its receiver holds the request, and another started on the same database, delivers it (at
// least once, the same webhook-id); two instances on one database share the deliveries, and no
// delivery is ever attempted by both at once, none lost, each webhook's in outbox order.
async function raiseEvent(app: FastifyInstance, admin: TestUser, source: string) {
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
    await raiseEvent(a, admin, 'restart')
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
    for (let i = 0; i < N; i++) events.push(await raiseEvent(i % 2 ? b : a, admin, `two-${i}`))
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
