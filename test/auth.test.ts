// /api/auth: registration (on and off, no escalation through the body, password policy,
// duplicates), the OAuth2 password grant (form and JSON), /me and logout, for every role.
import { and, eq } from 'drizzle-orm'
import t from 'tap'
import { REGISTRATION_DISABLED } from '../routes/auth/index.js'
import { auditLog, users } from '../src/db/schema.js'
import { LOGIN_FAILED } from '../src/services/login.js'
import { build, makeRoles, makeUser } from './helper.js'
import { guardedInject } from './no-secrets.js'

const PASSWORD = 'a long enough passphrase'
const USER_KEYS = ['created_at', 'email', 'id', 'is_active', 'role', 'username']
const form = (fields: Record<string, string>) => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: new URLSearchParams(fields).toString()
})

t.test('registration is off by default: 403 for everyone, whatever the body', async (t) => {
  const app = await build(t)
  const call = guardedInject(t, app)
  const roles = await makeRoles(app)
  for (const headers of [{}, roles.admin.auth, roles.analyst.auth, roles.viewer.auth]) {
    const r = await call({ method: 'POST', url: '/api/auth/register', headers, payload: { username: 'newbie', email: 'n@example.com', password: PASSWORD } })
    t.equal(r.status, 403)
    t.same(r.body, { code: 'permission_denied', detail: REGISTRATION_DISABLED })
  }
  const bad = await call({ method: 'POST', url: '/api/auth/register', payload: { username: 5 } })
  t.equal(bad.status, 403, 'closed before validation')
  const rows = await app.db.select().from(users).where(eq(users.username, 'newbie'))
  t.equal(rows.length, 0, 'nobody was created')
})

t.test('registration when enabled', async (t) => {
  const app = await build(t, { REGISTRATION_ENABLED: true })
  const call = guardedInject(t, app)
  const register = (payload: unknown, headers = {}) => call({ method: 'POST', url: '/api/auth/register', headers, payload: payload as object })

  t.test('201 with the public user, always an active viewer', async (t) => {
    const r = await register({ username: 'Reggie', email: 'reggie@example.com', password: PASSWORD })
    t.equal(r.status, 201)
    t.same(Object.keys(r.body).sort(), USER_KEYS)
    t.match(r.body, { username: 'Reggie', email: 'reggie@example.com', role: 'viewer', is_active: true })
    const [audit] = await app.db.select().from(auditLog).where(and(eq(auditLog.action, 'user.registered'), eq(auditLog.targetId, String(r.body.id))))
    t.ok(audit, 'audited')
    t.equal(audit.actorId, r.body.id)
    t.notMatch(JSON.stringify(audit), /argon2|password/i)
  })

  t.test('role and is_active in the body never escalate', async (t) => {
    const r = await register({ username: 'mallory', email: 'mallory@example.com', password: PASSWORD, role: 'admin', is_active: false })
    t.equal(r.status, 201)
    t.equal(r.body.role, 'viewer')
    t.equal(r.body.is_active, true)
    const [row] = await app.db.select().from(users).where(eq(users.id, r.body.id))
    t.equal(row.role, 'viewer', 'stored as viewer')
    const login = await call({ method: 'POST', url: '/api/auth/token', payload: { username: 'mallory', password: PASSWORD } })
    t.equal(login.status, 200)
    const auth = { authorization: `Bearer ${login.body.access_token}` }
    t.equal((await call({ method: 'GET', url: '/api/users/', headers: auth })).status, 403, 'cannot manage users')
    t.equal((await call({ method: 'GET', url: '/api/auth/me', headers: auth })).body.role, 'viewer')
  })

  t.test('public route: a signed-in caller registers a viewer too', async (t) => {
    const roles = await makeRoles(app)
    for (const [name, u] of Object.entries(roles)) {
      const r = await register({ username: `by-${name}`, email: `by-${name}@example.com`, password: PASSWORD, role: 'admin' }, u.auth)
      t.equal(r.status, 201, name)
      t.equal(r.body.role, 'viewer', name)
    }
  })

  t.test('password policy: 400 naming the password field', async (t) => {
    const cases = [
      { username: 'shorty', email: 'shorty@example.com', password: 'short' },
      { username: 'sameasusername1', email: 'same1@example.com', password: 'SameAsUsername1' },
      { username: 'sameasemail', email: 'same.as.email@example.com', password: 'same.as.email@example.com' },
      { username: 'empty', email: 'empty@example.com', password: '' }
    ]
    for (const body of cases) {
      const r = await register(body)
      t.equal(r.status, 400, body.password)
      t.type(r.body.detail, 'string')
      t.ok(Array.isArray(r.body.errors?.password), `errors.password for ${JSON.stringify(body.password)}`)
    }
    const rows = await app.db.select().from(users).where(eq(users.username, 'shorty'))
    t.equal(rows.length, 0)
  })

  t.test('duplicates in any letter case: 409 naming the field', async (t) => {
    t.equal((await register({ username: 'dup', email: 'dup@example.com', password: PASSWORD })).status, 201)
    const byName = await register({ username: 'DUP', email: 'other@example.com', password: PASSWORD })
    t.equal(byName.status, 409)
    t.ok(byName.body.errors.username)
    const byEmail = await register({ username: 'dup2', email: 'Dup@Example.COM', password: PASSWORD })
    t.equal(byEmail.status, 409)
    t.ok(byEmail.body.errors.email)
  })

  t.test('bad input: 400 per field', async (t) => {
    const cases: [unknown, string][] = [
      [{ username: 'has space', email: 'x@example.com', password: PASSWORD }, 'username'],
      [{ username: 'x'.repeat(151), email: 'x@example.com', password: PASSWORD }, 'username'],
      [{ username: '', email: 'x@example.com', password: PASSWORD }, 'username'],
      [{ username: 'okname', email: 'not-an-email', password: PASSWORD }, 'email'],
      [{ username: 'okname', password: PASSWORD }, 'email'],
      [{ username: 'okname', email: 'x@example.com', password: 123456789012345 }, 'password']
    ]
    for (const [body, field] of cases) {
      const r = await register(body)
      t.equal(r.status, 400, JSON.stringify(body).slice(0, 60))
      t.ok(r.body.errors?.[field], `errors.${field}`)
    }
    const formBody = await call({ method: 'POST', url: '/api/auth/register', ...form({ username: 'formy', email: 'f@example.com', password: PASSWORD }) })
    t.equal(formBody.status, 415, 'only /token accepts form bodies')
  })
})

t.test('a configured minimum password length', async (t) => {
  const app = await build(t, { REGISTRATION_ENABLED: true, PASSWORD_MIN_LENGTH: 30 })
  const call = guardedInject(t, app)
  const r = await call({ method: 'POST', url: '/api/auth/register', payload: { username: 'len', email: 'len@example.com', password: PASSWORD } })
  t.equal(r.status, 400)
  t.match(r.body.errors.password[0], /30/)
})

t.test('OAuth2 password grant, /me and logout', async (t) => {
  const app = await build(t)
  const call = guardedInject(t, app)
  const roles = await makeRoles(app)

  t.test('form login for every role: the token works on /me', async (t) => {
    for (const [name, u] of Object.entries(roles)) {
      const r = await call({ method: 'POST', url: '/api/auth/token', ...form({ grant_type: 'password', username: u.user.username, password: u.password }) })
      t.equal(r.status, 200, name)
      t.same(Object.keys(r.body).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type'])
      t.equal(r.body.token_type, 'bearer')
      t.equal(r.body.expires_in, app.config.ACCESS_TOKEN_TTL)
      t.equal(r.headers['cache-control'], 'no-store')
      const me = await call({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${r.body.access_token}` } })
      t.equal(me.status, 200)
      t.same(me.body, {
        id: u.user.id,
        username: u.user.username,
        email: u.user.email,
        role: name,
        is_active: true,
        created_at: u.user.createdAt.toISOString()
      })
      const refreshed = await call({ method: 'POST', url: '/api/token/refresh/', payload: { refresh: r.body.refresh_token } })
      t.equal(refreshed.status, 200, 'its refresh token works with /api/token/refresh/')
    }
  })

  t.test('JSON login, username in any case; the docs UI extras are accepted', async (t) => {
    const json = await call({ method: 'POST', url: '/api/auth/token', payload: { username: roles.viewer.user.username.toUpperCase(), password: roles.viewer.password } })
    t.equal(json.status, 200)
    const ui = await call({
      method: 'POST',
      url: '/api/auth/token',
      ...form({ grant_type: 'password', username: roles.viewer.user.username, password: roles.viewer.password, scope: '', client_id: 'docs', client_secret: '' })
    })
    t.equal(ui.status, 200)
  })

  t.test('failures: the same 401 as /api/token/', async (t) => {
    const legacy = await call({ method: 'POST', url: '/api/token/', payload: { username: 'nobody', password: 'whatever-password' } })
    t.equal(legacy.status, 401)
    const deactivated = await makeUser(app, 'analyst')
    await app.db.update(users).set({ isActive: false }).where(eq(users.id, deactivated.user.id))
    for (const [username, password] of [
      [roles.admin.user.username, 'wrong-password-123'],
      ['nobody', 'whatever-password'],
      [deactivated.user.username, deactivated.password]
    ]) {
      const r = await call({ method: 'POST', url: '/api/auth/token', ...form({ username, password }) })
      t.equal(r.status, 401, username)
      // The house code and detail, and RFC 6749's error and description, which OAuth2 clients (the
      // docs page's Authorize dialog) show.
      t.same(r.body, { code: 'login_failed', detail: LOGIN_FAILED, error: 'invalid_grant', error_description: LOGIN_FAILED })
      t.equal(r.body.detail, legacy.body.detail)
      t.notOk(r.body.access_token)
    }
  })

  t.test('bad requests: 400', async (t) => {
    const wrongGrant = await call({ method: 'POST', url: '/api/auth/token', ...form({ grant_type: 'client_credentials', username: 'a', password: 'b' }) })
    t.equal(wrongGrant.status, 400)
    t.ok(wrongGrant.body.errors.grant_type)
    t.equal(wrongGrant.body.error, 'invalid_request', 'an OAuth2 error code too')
    t.equal(wrongGrant.body.error_description, wrongGrant.body.detail)
    const missing = await call({ method: 'POST', url: '/api/auth/token', ...form({ username: roles.admin.user.username }) })
    t.equal(missing.status, 400)
    t.ok(missing.body.errors.password)
    const doubled = await call({ method: 'POST', url: '/api/auth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'username=a&username=b&password=c' })
    t.equal(doubled.status, 400, 'a repeated field is not a string')
    const text = await call({ method: 'POST', url: '/api/auth/token', headers: { 'content-type': 'application/xml' }, payload: '<username>a</username>' })
    t.equal(text.status, 415)
  })

  t.test('/me: 401 without a valid access token', async (t) => {
    t.equal((await call({ method: 'GET', url: '/api/auth/me' })).status, 401)
    t.equal((await call({ method: 'GET', url: '/api/auth/me', headers: { authorization: 'Bearer a.b.c' } })).status, 401)
    const asRefresh = await call({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${roles.admin.refresh}` } })
    t.equal(asRefresh.status, 401, 'a refresh token is not an access token')
  })

  t.test('logout for every role revokes the refresh token family', async (t) => {
    for (const [name, u] of Object.entries(roles)) {
      const pair = await app.tokens.issue({ id: u.user.id, tokenVersion: 0 })
      // Rotate once: logging out with the older token still ends the whole login.
      const rotated = await call({ method: 'POST', url: '/api/token/refresh/', payload: { refresh: pair.refresh } })
      t.equal(rotated.status, 200)
      const auth = { authorization: `Bearer ${rotated.body.access}` }
      const out = await call({ method: 'POST', url: '/api/auth/logout', headers: auth, payload: { refresh: rotated.body.refresh } })
      t.equal(out.status, 204, name)
      t.equal(out.raw.body, '')
      const again = await call({ method: 'POST', url: '/api/token/refresh/', payload: { refresh: rotated.body.refresh } })
      t.equal(again.status, 401, `${name}: the refresh token no longer works`)
      t.equal((await call({ method: 'GET', url: '/api/auth/me', headers: u.auth })).status, 200, 'other logins are untouched')
      const other = await call({ method: 'POST', url: '/api/token/refresh/', payload: { refresh: u.refresh } })
      t.equal(other.status, 200, `${name}: another login's refresh token still works`)
      u.refresh = other.body.refresh
    }
    const logs = await app.db.select().from(auditLog).where(eq(auditLog.action, 'auth.logout'))
    t.equal(logs.length, 3, 'audited')
  })

  t.test('logout refusals', async (t) => {
    const anon = await call({ method: 'POST', url: '/api/auth/logout', payload: { refresh: roles.viewer.refresh } })
    t.equal(anon.status, 401)
    const foreign = await call({ method: 'POST', url: '/api/auth/logout', headers: roles.viewer.auth, payload: { refresh: roles.analyst.refresh } })
    t.equal(foreign.status, 403, "another user's refresh token")
    const stillWorks = await call({ method: 'POST', url: '/api/token/refresh/', payload: { refresh: roles.analyst.refresh } })
    t.equal(stillWorks.status, 200, 'and it was not revoked')
    const garbage = await call({ method: 'POST', url: '/api/auth/logout', headers: roles.viewer.auth, payload: { refresh: 'garbage' } })
    t.equal(garbage.status, 401)
    const access = await call({ method: 'POST', url: '/api/auth/logout', headers: roles.viewer.auth, payload: { refresh: roles.viewer.token } })
    t.equal(access.status, 401, 'an access token is not a refresh token')
    const missing = await call({ method: 'POST', url: '/api/auth/logout', headers: roles.viewer.auth, payload: {} })
    t.equal(missing.status, 400)
  })
})
