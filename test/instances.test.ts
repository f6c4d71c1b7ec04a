// Several instances: stateless apps on one PostgreSQL behind a load balancer allow what one would.
// Login limits are counted where every instance sees them (PostgreSQL, or Redis with REDIS_URL),
// and a user deactivated or an ingest key revoked through one instance is refused by the others
// at once. With the shared store gone, each instance still limits logins on its own.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { build, eventually, inject, makeUser, onPostgres } from './helper.js'
import { freePort } from './support/net.js'

const REDIS_URL = 'redis://127.0.0.1:6379'

/**
 * Four failed logins for `username`, taking turns on the given instances, each from an address of
 * its own (so the per-username limit is what answers); the statuses. Redis outlives a test run,
 * so the addresses and names are new ones each time.
 */
async function guess(apps: any[], username: string) {
  const statuses: number[] = []
  const net = `10.${randomBytes(1)[0]}.${randomBytes(1)[0]}`
  for (let i = 0; i < 4; i++) {
    const res = await inject(apps[i % apps.length], { method: 'POST', url: '/api/token/', remoteAddress: `${net}.${i + 1}`, payload: { username, password: 'guess-guess-guess' } } as any)
    statuses.push(res.status)
  }
  return statuses
}

if (onPostgres) t.test('two instances on one PostgreSQL', async (t) => {
  const a = await build(t, { LOGIN_RATE_LIMIT: 3, AUTH_CACHE_TTL_MS: 60_000 })
  const b = await build(t, { LOGIN_RATE_LIMIT: 3, AUTH_CACHE_TTL_MS: 60_000, DATABASE_URL: a.config.DATABASE_URL })
  const admin = await makeUser(a, 'admin')
  const erin = await makeUser(a, 'analyst')

  t.same(await guess([a, b], erin.user.username), [401, 401, 401, 429], 'guesses spread over both instances count together')
  const right = await inject(b, { method: 'POST', url: '/api/token/', remoteAddress: '10.1.9.9', payload: { username: erin.user.username, password: erin.password } } as any)
  t.same([right.status, right.body.code], [429, 'rate_limited'], 'and lock the account on both')
  t.ok(Number(right.headers['retry-after']) >= 1)

  // Both instances have erin's token verified and cached for a minute; a change through one
  // reaches the other's cache by notification, not by expiry.
  const me = (app: any) => inject(app, { method: 'GET', url: '/api/auth/me', headers: erin.auth })
  t.same([(await me(a)).status, (await me(b)).status], [200, 200])
  const off = await inject(a, { method: 'PATCH', url: `/api/users/${erin.user.id}/`, headers: admin.auth, payload: { is_active: false } })
  t.equal(off.status, 200)
  t.ok(await eventually(async () => (await me(b)).status === 401, 3000), 'deactivated through one instance: refused by the other within 3 s')

  const key = await inject(a, { method: 'POST', url: '/api/ingest-keys/', headers: admin.auth, payload: { name: 'shared', defaults: { event_type: 'anomaly' } } })
  const ship = (app: any) => inject(app, { method: 'POST', url: '/api/events/bulk', headers: { 'x-api-key': key.body.key }, payload: '{"message":"m"}' })
  t.same([(await ship(a)).status, (await ship(b)).status], [200, 200], 'a key works on both')
  t.equal((await inject(b, { method: 'DELETE', url: `/api/ingest-keys/${key.body.id}/`, headers: admin.auth })).status, 204)
  t.ok(await eventually(async () => (await ship(a)).status === 401, 3000), 'revoked through one instance: refused by the other within 3 s')
})

t.test('with REDIS_URL, login limits are counted in Redis, across instances', async (t) => {
  // Instances that share nothing but Redis (on PGlite each has a database of its own).
  const a = await build(t, { LOGIN_RATE_LIMIT: 3, REDIS_URL })
  const b = await build(t, { LOGIN_RATE_LIMIT: 3, REDIS_URL })
  const username = `redis-${randomBytes(6).toString('hex')}`
  t.same(await guess([a, b], username), [401, 401, 401, 429])
  const other = await guess([a, b], `${username}-other`)
  t.same(other, [401, 401, 401, 429], 'another account has counts of its own')
})

t.test('with the shared store unreachable, each instance still limits logins', async (t) => {
  const lines: any[] = []
  const gone = `redis://127.0.0.1:${await freePort()}`
  const app = await build(t, { LOGIN_RATE_LIMIT: 3, REDIS_URL: gone, LOG_LEVEL: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l)) })
  t.same(await guess([app], `nobody-${randomBytes(4).toString('hex')}`), [401, 401, 401, 429], 'counted in the instance')
  t.ok(lines.some((l) => /shared store failed; counting in this instance/.test(l.msg)), 'and said so in the log')
  t.notOk(JSON.stringify(lines).includes('guess-guess-guess'), 'without the password')
})
