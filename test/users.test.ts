// /api/users: admin-only user management. The role matrix, listing and filters, creation and
// updates with the password policy and duplicates, the last-admin guard (also under concurrent
// requests), token revocation on every change that takes access away, and the audit trail.
import { and, eq } from 'drizzle-orm'
import t from 'tap'
import { auditLog, refreshTokens, users } from '../src/db/schema.js'
import { LAST_ADMIN } from '../src/services/users.js'
import { build, makeRoles, makeUser, type TestUser } from './helper.js'
import { guardedInject } from './no-secrets.js'

const PASSWORD = 'a long enough passphrase'
const USER_KEYS = ['created_at', 'email', 'id', 'is_active', 'role', 'username']

t.test('role matrix: admin only, 401 before 403', async (t) => {
  const app = await build(t)
  const call = guardedInject(t, app)
  const roles = await makeRoles(app)
  const target = await makeUser(app, 'viewer')
  let n = 0
  const routes = () => {
    n += 1
    return [
      { method: 'GET' as const, url: '/api/users/', ok: 200 },
      { method: 'POST' as const, url: '/api/users/', payload: { username: `made${n}`, password: PASSWORD }, ok: 201 },
      { method: 'GET' as const, url: `/api/users/${target.user.id}/`, ok: 200 },
      { method: 'PATCH' as const, url: `/api/users/${target.user.id}`, payload: { email: `t${n}@example.com` }, ok: 200 }
    ]
  }
  for (const [who, headers, expect] of [
    ['anonymous', {}, 401],
    ['garbage token', { authorization: 'Bearer x.y.z' }, 401],
    ['viewer', roles.viewer.auth, 403],
    ['analyst', roles.analyst.auth, 403],
    ['admin', roles.admin.auth, undefined]
  ] as const) {
    for (const r of routes()) {
      const res = await call({ method: r.method, url: r.url, headers, payload: r.payload })
      t.equal(res.status, expect ?? r.ok, `${who} ${r.method} ${r.url}`)
    }
    const del = await call({ method: 'DELETE', url: `/api/users/${target.user.id}`, headers })
    t.equal(del.status, expect ?? 204, `${who} DELETE`)
  }
  t.equal((await app.db.select().from(users).where(eq(users.id, target.user.id))).length, 0, 'deleted only by the admin')
})

t.test('listing: envelope, order, filters and search', async (t) => {
  const app = await build(t)
  const call = guardedInject(t, app)
  const { admin, analyst } = await makeRoles(app)
  const list = (qs = '') => call({ method: 'GET', url: `/api/users/${qs}`, headers: admin.auth })
  for (const [username, email, role] of [
    ['a_b', 'ab@corp.example', 'analyst'],
    ['axb', 'AXB@Corp.Example', 'viewer'],
    ['Zed', null, 'viewer']
  ] as const) {
    const r = await call({ method: 'POST', url: '/api/users/', headers: admin.auth, payload: { username, email, password: PASSWORD, role } })
    t.equal(r.status, 201, username)
  }
  await call({ method: 'PATCH', url: `/api/users/${(await app.db.select().from(users).where(eq(users.username, 'Zed')))[0].id}`, headers: admin.auth, payload: { is_active: false } })

  const all = await list()
  t.equal(all.status, 200)
  t.equal(all.body.count, 6)
  t.equal(all.body.next, null)
  t.equal(all.body.previous, null)
  t.same(all.body.results.map((u: any) => u.username).slice(0, 3), ['Zed', 'axb', 'a_b'], 'newest first')
  t.same(Object.keys(all.body.results[0]).sort(), USER_KEYS)

  const page1 = await list('?page_size=2')
  t.equal(page1.body.count, 6)
  t.equal(page1.body.results.length, 2)
  t.match(page1.body.next, /^http:\/\/localhost(:\d+)?\/api\/users\/\?page_size=2&cursor=[\w-]+$/)
  t.match((await list('?page_size=2&page=1')).body.next, /^http:\/\/localhost(:\d+)?\/api\/users\/\?page_size=2&page=2$/)
  const page3 = await list('?page_size=2&page=3')
  t.equal(page3.body.next, null)
  const seen = new Set([...page1.body.results, ...(await list('?page_size=2&page=2')).body.results, ...page3.body.results].map((u: any) => u.id))
  t.equal(seen.size, 6, 'pages neither repeat nor skip')
  t.equal((await list('?page=9')).status, 404)
  t.equal((await list('?page_size=101')).status, 400)

  const analysts = await list('?role=analyst')
  t.same(analysts.body.results.map((u: any) => u.username).sort(), ['a_b', analyst.user.username].sort())
  t.equal(analysts.body.count, 2)
  const inactive = await list('?is_active=false')
  t.same(inactive.body.results.map((u: any) => u.username), ['Zed'])
  t.equal((await list('?is_active=true')).body.count, 5)
  t.equal((await list('?role=analyst&is_active=false')).body.count, 0, 'filters combine')

  t.same((await list('?search=AXB')).body.results.map((u: any) => u.username), ['axb'], 'case-insensitive username')
  t.same((await list('?search=corp.EXAMPLE')).body.results.map((u: any) => u.username).sort(), ['a_b', 'axb'], 'email substring')
  t.same((await list('?search=a_b')).body.results.map((u: any) => u.username), ['a_b'], '_ is not a wildcard')
  t.equal((await list('?search=%25')).body.count, 0, '% is not a wildcard')
  t.equal((await list('?search=%5C')).body.count, 0, 'a backslash is harmless')
  t.equal((await list("?search=' or 1=1 --")).body.count, 0)

  const badRole = await list('?role=root')
  t.equal(badRole.status, 400)
  t.match(badRole.body.detail, /admin, analyst, responder, viewer/)
  t.equal((await list('?is_active=maybe')).status, 400)
})

t.test('create, read and update', async (t) => {
  const app = await build(t)
  const call = guardedInject(t, app)
  const { admin } = await makeRoles(app)
  const post = (payload: object) => call({ method: 'POST', url: '/api/users/', headers: admin.auth, payload })

  const created = await post({ username: 'carol', email: 'carol@example.com', password: PASSWORD, role: 'analyst' })
  t.equal(created.status, 201)
  t.same(Object.keys(created.body).sort(), USER_KEYS)
  t.match(created.body, { username: 'carol', email: 'carol@example.com', role: 'analyst', is_active: true })
  const login = await call({ method: 'POST', url: '/api/token/', payload: { username: 'carol', password: PASSWORD } })
  t.equal(login.status, 200, 'the new user logs in')

  const plain = await post({ username: 'dave', password: PASSWORD })
  t.equal(plain.status, 201)
  t.match(plain.body, { role: 'viewer', email: null, is_active: true }, 'defaults')
  t.equal((await post({ username: 'erin', password: PASSWORD, is_active: false })).body.is_active, false)

  t.equal((await post({ username: 'CAROL', password: PASSWORD })).status, 409)
  const dupEmail = await post({ username: 'carol2', email: 'Carol@Example.com', password: PASSWORD })
  t.equal(dupEmail.status, 409)
  t.ok(dupEmail.body.errors.email)
  const weak = await post({ username: 'frank', password: 'frank' })
  t.equal(weak.status, 400)
  t.ok(weak.body.errors.password)
  const same = await post({ username: 'longusername1', password: 'LongUsername1' })
  t.equal(same.status, 400)
  t.ok(same.body.errors.password)
  t.equal((await post({ username: 'x', password: PASSWORD, role: 'root' })).status, 400)
  t.equal((await post({ username: 'x y', password: PASSWORD })).status, 400)
  t.equal((await post({ username: 'x', password: PASSWORD, is_active: 'true' })).status, 400, 'bodies are not coerced')

  const id = created.body.id
  const got = await call({ method: 'GET', url: `/api/users/${id}`, headers: admin.auth })
  t.same(got.body, created.body)
  t.equal((await call({ method: 'GET', url: '/api/users/999999', headers: admin.auth })).status, 404)
  t.equal((await call({ method: 'GET', url: '/api/users/abc', headers: admin.auth })).status, 400)

  const patch = (payload: object, target = id) => call({ method: 'PATCH', url: `/api/users/${target}/`, headers: admin.auth, payload })
  const emailed = await patch({ email: 'carol@corp.example' })
  t.equal(emailed.status, 200)
  t.equal(emailed.body.email, 'carol@corp.example')
  t.equal((await patch({ email: 'CAROL@corp.example' })).status, 200, 'own email in another case')
  const taken = await patch({ email: 'carol@example.com' }, plain.body.id)
  t.equal(taken.status, 200, 'carol no longer holds that address')
  t.equal((await patch({ email: 'Carol@Example.COM' })).status, 409, 'now dave holds it')
  t.equal((await patch({ email: 'nope' })).status, 400)
  t.equal((await patch({ role: 'viewer' })).body.role, 'viewer')
  t.equal((await patch({ is_active: false })).body.is_active, false)
  t.equal((await patch({ is_active: true })).body.is_active, true)
  const pw = await patch({ password: 'short' })
  t.equal(pw.status, 400)
  t.ok(pw.body.errors.password)
  t.equal((await patch({ password: 'carol@corp.example' })).status, 400, 'not the email')
  t.equal((await patch({ password: 'a brand new passphrase' })).status, 200)
  t.equal((await call({ method: 'POST', url: '/api/token/', payload: { username: 'carol', password: 'a brand new passphrase' } })).status, 200)
  t.equal((await call({ method: 'POST', url: '/api/token/', payload: { username: 'carol', password: PASSWORD } })).status, 401)
  t.equal((await patch({}, id)).status, 200, 'an empty patch changes nothing')
  t.equal((await patch({ role: 'viewer' }, 999999)).status, 404)
  t.equal((await patch({ password: PASSWORD }, 999999)).status, 404)
  t.equal((await call({ method: 'DELETE', url: '/api/users/999999', headers: admin.auth })).status, 404)
})

t.test('the last active admin cannot be deleted, deactivated or demoted', async (t) => {
  const app = await build(t)
  const call = guardedInject(t, app)
  const admin = await makeUser(app, 'admin')
  const patch = (u: TestUser, payload: object, by = admin) => call({ method: 'PATCH', url: `/api/users/${u.user.id}`, headers: by.auth, payload })
  const del = (u: TestUser, by = admin) => call({ method: 'DELETE', url: `/api/users/${u.user.id}`, headers: by.auth })

  for (const res of [await del(admin), await patch(admin, { is_active: false }), await patch(admin, { role: 'analyst' }), await patch(admin, { role: 'viewer', is_active: false })]) {
    t.equal(res.status, 409)
    t.same(res.body, { code: 'conflict', detail: LAST_ADMIN })
  }
  t.equal((await patch(admin, { email: 'boss@example.com', role: 'admin', is_active: true })).status, 200, 'other changes are fine')

  // An inactive admin does not count.
  const dormant = await makeUser(app, 'admin')
  t.equal((await patch(dormant, { is_active: false })).status, 200)
  t.equal((await patch(admin, { role: 'viewer' })).status, 409)

  // With a second active admin the first may go, then the second is the last.
  const second = await makeUser(app, 'admin')
  t.equal((await patch(admin, { role: 'analyst' }, second)).status, 200)
  t.equal((await del(second, second)).status, 409)
  t.equal((await patch(dormant, { is_active: true }, second)).status, 200)
  t.equal((await del(second, second)).status, 204, 'an admin may delete themselves when another remains')
  const [row] = await app.db.select().from(users).where(eq(users.id, dormant.user.id))
  t.match(row, { role: 'admin', isActive: true })
  const [deletion] = await app.db.select().from(auditLog).where(eq(auditLog.action, 'user.deleted'))
  t.equal(deletion.actor, second.user.username, 'the trail still names the deleted actor')
})

t.test('the last-admin guard holds under concurrent requests', async (t) => {
  const app = await build(t)
  const call = guardedInject(t, app)
  const admins = await Promise.all([1, 2, 3, 4].map(() => makeUser(app, 'admin')))
  // Every admin demotes or deactivates themselves at once: exactly one must remain.
  const results = await Promise.all(
    admins.map((a, i) =>
      i % 2 === 0
        ? call({ method: 'PATCH', url: `/api/users/${a.user.id}`, headers: a.auth, payload: i === 0 ? { role: 'viewer' } : { is_active: false } })
        : call({ method: 'DELETE', url: `/api/users/${a.user.id}`, headers: a.auth })
    )
  )
  const statuses = results.map((r) => r.status)
  t.equal(statuses.filter((s) => s === 409).length, 1, `one refused: ${statuses.join()}`)
  t.equal(statuses.filter((s) => s === 200 || s === 204).length, 3)
  const left = await app.db.select().from(users).where(and(eq(users.role, 'admin'), eq(users.isActive, true)))
  t.equal(left.length, 1, 'one active admin remains')

  // Two admins demoting each other at once: one wins, the other is refused (409, or 401 when
  // its token was already revoked by the winner).
  await app.db.update(users).set({ role: 'viewer' }).where(eq(users.role, 'admin'))
  const [a, b] = await Promise.all([makeUser(app, 'admin'), makeUser(app, 'admin')])
  const pair = await Promise.all([
    call({ method: 'PATCH', url: `/api/users/${b.user.id}`, headers: a.auth, payload: { role: 'analyst' } }),
    call({ method: 'PATCH', url: `/api/users/${a.user.id}`, headers: b.auth, payload: { role: 'analyst' } })
  ])
  const s = pair.map((r) => r.status).sort()
  t.equal(s[0], 200, `one wins: ${s.join()}`)
  t.ok(s[1] === 401 || s[1] === 409, `the other is refused: ${s.join()}`)
  const remaining = await app.db.select().from(users).where(and(eq(users.role, 'admin'), eq(users.isActive, true)))
  t.equal(remaining.length, 1)
})

t.test('taking access away revokes existing tokens at once', async (t) => {
  const app = await build(t)
  const call = guardedInject(t, app)
  const { admin } = await makeRoles(app)
  const me = (u: TestUser) => call({ method: 'GET', url: '/api/auth/me', headers: u.auth })
  const refresh = (u: TestUser) => call({ method: 'POST', url: '/api/token/refresh/', payload: { refresh: u.refresh } })

  const changes: [string, (u: TestUser) => Promise<unknown>][] = [
    ['deactivation', (u) => call({ method: 'PATCH', url: `/api/users/${u.user.id}`, headers: admin.auth, payload: { is_active: false } })],
    ['role change', (u) => call({ method: 'PATCH', url: `/api/users/${u.user.id}`, headers: admin.auth, payload: { role: 'viewer' } })],
    ['password change', (u) => call({ method: 'PATCH', url: `/api/users/${u.user.id}`, headers: admin.auth, payload: { password: 'another good passphrase' } })],
    ['deletion', (u) => call({ method: 'DELETE', url: `/api/users/${u.user.id}`, headers: admin.auth })]
  ]
  for (const [what, change] of changes) {
    const victim = await makeUser(app, 'analyst')
    // A second login of the same user, to check every refresh token goes, not just one.
    const other = await app.tokens.issue({ id: victim.user.id, tokenVersion: 0 })
    t.equal((await me(victim)).status, 200, `${what}: the token works before`)
    await change(victim)
    t.equal((await me(victim)).status, 401, `${what}: the access token fails at once`)
    t.equal((await refresh(victim)).status, 401, `${what}: the refresh token fails`)
    t.equal((await call({ method: 'POST', url: '/api/token/refresh/', payload: { refresh: other.refresh } })).status, 401, `${what}: every login`)
    const live = await app.db.select().from(refreshTokens).where(eq(refreshTokens.userId, victim.user.id))
    t.ok(live.every((r) => r.revokedAt !== null), `${what}: refresh tokens marked revoked`)
  }

  const kept = await makeUser(app, 'analyst')
  await call({ method: 'PATCH', url: `/api/users/${kept.user.id}`, headers: admin.auth, payload: { email: 'kept@example.com', role: 'analyst' } })
  t.equal((await me(kept)).status, 200, 'an email change (and an unchanged role) keeps the tokens')
  t.equal((await refresh(kept)).status, 200)
})

t.test('the audit trail, without secrets', async (t) => {
  const app = await build(t)
  const call = guardedInject(t, app)
  const { admin } = await makeRoles(app)
  const c = await call({ method: 'POST', url: '/api/users/', headers: admin.auth, payload: { username: 'gina', email: 'gina@example.com', password: PASSWORD, role: 'analyst' } })
  const id = c.body.id
  await call({ method: 'PATCH', url: `/api/users/${id}`, headers: admin.auth, payload: { role: 'viewer', email: 'g@example.com', password: 'another good passphrase' } })
  await call({ method: 'PATCH', url: `/api/users/${id}`, headers: admin.auth, payload: { role: 'viewer' } })
  await call({ method: 'DELETE', url: `/api/users/${id}`, headers: admin.auth })

  const trail = await app.db.select().from(auditLog).where(and(eq(auditLog.targetType, 'user'), eq(auditLog.targetId, String(id)))).orderBy(auditLog.id)
  t.same(trail.map((e) => e.action), ['user.created', 'user.updated', 'user.deleted'], 'an unchanged role records nothing')
  for (const e of trail) {
    t.equal(e.actorId, admin.user.id)
    t.equal(e.actor, admin.user.username)
    t.notMatch(JSON.stringify(e), /argon2|password_hash|passwordHash/i, `${e.action} holds no hash`)
  }
  t.same(trail[0].after, { username: 'gina', email: 'gina@example.com', role: 'analyst', is_active: true })
  t.same(trail[1].before, { role: 'analyst', email: 'gina@example.com' })
  t.same(trail[1].after, { role: 'viewer', email: 'g@example.com', password_changed: true })
  t.same(trail[2].before, { username: 'gina', email: 'g@example.com', role: 'viewer', is_active: true })
})

t.test('the bootstrap admin: the password policy applies, and its creation is audited', async (t) => {
  await t.rejects(
    build(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'short' }),
    /ADMIN_PASSWORD: Password must be at least 12 characters long/,
    'a short ADMIN_PASSWORD stops the start'
  )
  await t.rejects(
    build(t, { ADMIN_USERNAME: 'root-admin-name', ADMIN_PASSWORD: 'ROOT-admin-name' }),
    /ADMIN_PASSWORD: Password must not be the same as the username/,
    'so does the username as password'
  )

  const app = await build(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: PASSWORD, ADMIN_EMAIL: 'root@example.com' })
  const [root] = await app.db.select().from(users).where(eq(users.username, 'root'))
  t.equal(root.role, 'admin')
  t.equal(root.email, 'root@example.com')
  const login = await app.inject({ method: 'POST', url: '/api/token/', payload: { username: 'root', password: PASSWORD } })
  t.equal(login.statusCode, 200, 'the bootstrap admin can log in')
  const trail = await app.db.select().from(auditLog).where(and(eq(auditLog.action, 'user.created'), eq(auditLog.targetId, String(root.id))))
  t.equal(trail.length, 1)
  t.equal(trail[0].actor, 'system:bootstrap')
  t.equal(trail[0].actorId, null)
  t.same(trail[0].after, { username: 'root', email: 'root@example.com', role: 'admin', is_active: true })
})
