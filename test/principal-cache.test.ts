// Authentication reuses a user's row for at most AUTH_CACHE_TTL_MS, and any change to the row
// drops the copy at once: through this instance directly, from anywhere else (psql, another
// instance) through the database's announcement (NOTIFY on vigil_users).
import { eq, sql } from 'drizzle-orm'
import postgres from 'postgres'
import t from 'tap'
import { PrincipalCache } from '../src/auth/principal-cache.js'
import { users } from '../src/db/schema.js'
import { build, eventually, inject, makeUser, type TestUser } from './helper.js'

t.test('a change made outside Vigil locks the user out without waiting for the cache to expire', async (t) => {
  // A long TTL: only the database's announcement can explain a prompt refusal.
  const app = await build(t, { AUTH_CACHE_TTL_MS: 60_000 })
  const carol = await makeUser(app, 'analyst')
  const dave = await makeUser(app, 'analyst')
  const me = (u: TestUser) => inject(app, { method: 'GET', url: '/api/auth/me', headers: u.auth })
  t.equal((await me(carol)).status, 200, 'carol is cached')
  t.equal((await me(dave)).status, 200, 'dave is cached')

  // The change comes from another client of the database, as psql would make it (on PGlite the
  // database lives in this process, so its own handle is the only other client there is).
  const url = app.config.DATABASE_URL
  const other = url ? postgres(url, { max: 1, onnotice: () => {} }) : undefined
  t.teardown(() => other?.end())
  const deactivate = (id: number) => (other ? other`update users set is_active = false where id = ${id}` : app.db.update(users).set({ isActive: false }).where(eq(users.id, id)))
  const remove = (id: number) => (other ? other`delete from users where id = ${id}` : app.db.delete(users).where(eq(users.id, id)))

  await deactivate(carol.user.id)
  t.ok(await eventually(async () => (await me(carol)).status === 401, 2000), 'deactivated elsewhere: refused within 2 s')
  await remove(dave.user.id)
  t.ok(await eventually(async () => (await me(dave)).status === 401, 2000), 'deleted elsewhere: refused within 2 s')

  if (url) {
    // A second instance on the same database: a change made through one applies on the other.
    const second = await build(t, { AUTH_CACHE_TTL_MS: 60_000, DATABASE_URL: url })
    const erin = await makeUser(app, 'admin')
    const viaSecond = () => inject(second, { method: 'GET', url: '/api/users/', headers: erin.auth })
    t.equal((await viaSecond()).status, 200, 'erin is an admin on the second instance (cached there)')
    const admin = await makeUser(app, 'admin')
    const demote = await inject(app, { method: 'PATCH', url: `/api/users/${erin.user.id}`, headers: admin.auth, payload: { role: 'viewer' } })
    t.equal(demote.status, 200)
    t.ok(await eventually(async () => (await viaSecond()).status === 401, 2000), 'demoted on the first instance: refused on the second within 2 s')
  }
})

t.test('changes made through the API apply at once, with nothing to wait for', async (t) => {
  const app = await build(t, { AUTH_CACHE_TTL_MS: 60_000 })
  const admin = await makeUser(app, 'admin')
  const frank = await makeUser(app, 'admin')
  const list = () => inject(app, { method: 'GET', url: '/api/users/', headers: frank.auth })
  t.equal((await list()).status, 200, 'frank is cached as an admin')
  const res = await inject(app, { method: 'PATCH', url: `/api/users/${frank.user.id}`, headers: admin.auth, payload: { is_active: false } })
  t.equal(res.status, 200)
  t.equal((await list()).status, 401, 'the very next request is refused')
})

t.test('without announcements, a change is still seen once the TTL runs out', async (t) => {
  const app = await build(t, { AUTH_CACHE_TTL_MS: 300 })
  const gina = await makeUser(app, 'analyst')
  const me = () => inject(app, { method: 'GET', url: '/api/auth/me', headers: gina.auth })
  t.equal((await me()).status, 200)
  // As if the LISTEN connection had been lost: the change is made but never announced.
  await app.db.execute(sql`drop trigger users_notify_change on users`)
  await app.db.update(users).set({ isActive: false }).where(eq(users.id, gina.user.id))
  const started = Date.now()
  t.ok(await eventually(async () => (await me()).status === 401, 2000), 'refused once the cached row expired')
  t.ok(Date.now() - started < 1000, `within the TTL and some slack (${Date.now() - started} ms)`)
})

t.test('the cache never keeps a row read before a change it was told about', async (t) => {
  const cache = new PrincipalCache<{ id: number; v: number }>(60_000)
  cache.subscribedAgain()
  let release!: () => void
  const slowRead = cache.load(1, () => new Promise((resolve) => (release = () => resolve({ id: 1, v: 1 }))))
  cache.invalidate(1) // the row changes while the read is on its way (announced on vigil_users)
  release()
  t.same(await slowRead, { id: 1, v: 1 }, 'the caller gets what was read')
  t.equal(cache.get(1), undefined, 'but it is not cached')
  await cache.load(1, async () => ({ id: 1, v: 2 }))
  t.same(cache.get(1), { id: 1, v: 2 }, 'the next read is')
  cache.invalidate('*')
  t.equal(cache.get(1), undefined, "'*' (TRUNCATE) drops every row")

  const unsubscribed = new PrincipalCache<{ id: number }>(60_000)
  await unsubscribed.load(1, async () => ({ id: 1 }))
  t.equal(unsubscribed.get(1), undefined, 'nothing is cached before the subscription is confirmed')
  const off = new PrincipalCache<{ id: number }>(0)
  off.subscribedAgain()
  await off.load(1, async () => ({ id: 1 }))
  t.equal(off.get(1), undefined, 'AUTH_CACHE_TTL_MS=0 turns the cache off')
})
