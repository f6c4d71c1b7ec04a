// JWT authentication as SimpleJWT clients use it: obtain, refresh with rotation, and every way a
// token can be wrong (expired, tampered, wrong kind, wrong algorithm, deactivated or deleted user).
import { createHmac } from 'node:crypto'
import t from 'tap'
import { eq } from 'drizzle-orm'
import { users } from '../src/db/schema.js'
import { build, eventually, inject, makeUser, TEST_JWT_SECRET } from './helper.js'

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
function forge(payload: Record<string, unknown>, { alg = 'HS256', secret = TEST_JWT_SECRET } = {}) {
  const head = b64({ alg, typ: 'JWT' })
  const body = b64(payload)
  if (alg === 'none') return `${head}.${body}.`
  const h = alg === 'HS512' ? 'sha512' : 'sha256'
  const sig = createHmac(h, secret).update(`${head}.${body}`).digest('base64url')
  return `${head}.${body}.${sig}`
}

t.test('obtain and refresh tokens', async (t) => {
  const app = await build(t)
  const alice = await makeUser(app, 'analyst', { username: 'Alice' })

  const login = await inject(app, { method: 'POST', url: '/api/token/', payload: { username: 'alice', password: alice.password } })
  t.equal(login.status, 200, 'usernames match regardless of case')
  t.same(Object.keys(login.body).sort(), ['access', 'refresh'])
  const me = await inject(app, { method: 'GET', url: '/api/alerts/', headers: { authorization: `Bearer ${login.body.access}` } })
  t.equal(me.status, 200, 'the access token works')

  const wrong = await inject(app, { method: 'POST', url: '/api/token/', payload: { username: 'alice', password: 'nope-nope-nope' } })
  const unknown = await inject(app, { method: 'POST', url: '/api/token/', payload: { username: 'mallory', password: 'nope-nope-nope' } })
  t.equal(wrong.status, 401)
  t.equal(unknown.status, 401)
  t.same(wrong.body, unknown.body, 'wrong password and unknown user are indistinguishable')
  t.notMatch(JSON.stringify(wrong.body), /password|exist/i)

  const bad = await inject(app, { method: 'POST', url: '/api/token/', payload: { username: 'alice' } })
  t.equal(bad.status, 400)
  t.same(bad.body.errors.password, ['This field is required.'])

  const refreshed = await inject(app, { method: 'POST', url: '/api/token/refresh/', payload: { refresh: login.body.refresh } })
  t.equal(refreshed.status, 200)
  t.same(Object.keys(refreshed.body).sort(), ['access', 'refresh'])
  t.not(refreshed.body.refresh, login.body.refresh, 'the refresh token is rotated')
  const works = await inject(app, { method: 'GET', url: '/api/alerts/', headers: { authorization: `Bearer ${refreshed.body.access}` } })
  t.equal(works.status, 200)

  // Replaying the rotated token is refused and revokes the whole family, including the new one.
  const replay = await inject(app, { method: 'POST', url: '/api/token/refresh/', payload: { refresh: login.body.refresh } })
  t.equal(replay.status, 401)
  const afterReplay = await inject(app, { method: 'POST', url: '/api/token/refresh/', payload: { refresh: refreshed.body.refresh } })
  t.equal(afterReplay.status, 401, 'reuse of a rotated token revokes its family')

  const accessAsRefresh = await inject(app, { method: 'POST', url: '/api/token/refresh/', payload: { refresh: login.body.access } })
  t.equal(accessAsRefresh.status, 401)
  t.equal(accessAsRefresh.body.detail, 'Token has wrong type')

  for (const garbage of ['garbage', 'a.b.c', login.body.refresh.slice(0, -4) + 'AAAA']) {
    const res = await inject(app, { method: 'POST', url: '/api/token/refresh/', payload: { refresh: garbage } })
    t.equal(res.status, 401, `refresh with ${garbage.slice(0, 12)}…`)
  }
})

t.test('access tokens that must be refused', async (t) => {
  const app = await build(t)
  const bob = await makeUser(app, 'admin')
  const now = Math.floor(Date.now() / 1000)
  const claims = { sub: String(bob.user.id), typ: 'access', tv: 0, iss: 'vigil', aud: 'vigil-api', iat: now, exp: now + 600 }
  const call = (token: string) => inject(app, { method: 'GET', url: '/api/events/', headers: { authorization: `Bearer ${token}` } })

  t.equal((await call(forge(claims))).status, 200, 'a well-formed token signed with the secret works')
  const cases: Record<string, string> = {
    expired: forge({ ...claims, iat: now - 7200, exp: now - 3600 }),
    'signed with another secret': forge(claims, { secret: 'another-secret-another-secret-another' }),
    'alg none': forge(claims, { alg: 'none' }),
    'alg HS512': forge(claims, { alg: 'HS512' }),
    'wrong issuer': forge({ ...claims, iss: 'someone-else' }),
    'wrong audience': forge({ ...claims, aud: 'other-api' }),
    'refresh token used as access': forge({ ...claims, typ: 'refresh', jti: '00000000-0000-0000-0000-000000000000', fam: '00000000-0000-0000-0000-000000000000' }),
    'stale token version': forge({ ...claims, tv: 1 }),
    'unknown user': forge({ ...claims, sub: '987654' }),
    'no exp claim': forge({ sub: claims.sub, typ: 'access', tv: 0, iss: 'vigil', aud: 'vigil-api' }),
    'tampered payload': (() => {
      const [h, , s] = bob.token.split('.')
      return `${h}.${b64({ ...claims, sub: '1' })}.${s}`
    })(),
    garbage: 'not-a-token'
  }
  for (const [name, token] of Object.entries(cases)) {
    const res = await call(token)
    t.equal(res.status, 401, name)
    t.type(res.body.detail, 'string')
  }
  const realRefresh = await call(bob.refresh)
  t.equal(realRefresh.status, 401)
  t.equal(realRefresh.body.detail, 'Token has wrong type')

  for (const header of ['', 'Bearer', 'Bearer ', 'Token abc', 'Basic Zm9vOmJhcg==']) {
    const res = await inject(app, { method: 'GET', url: '/api/events/', headers: { authorization: header } })
    t.equal(res.status, 401, `authorization: "${header}"`)
  }
  const none = await inject(app, { method: 'GET', url: '/api/events/' })
  t.same(none.body, { code: 'not_authenticated', detail: 'Authentication credentials were not provided.' })
  t.match(none.headers['www-authenticate'], /Bearer/)
})

// Changed behind the API's back, as psql would: the database announces it (NOTIFY), so the
// refusal follows within moments, not after the cache's TTL; test/principal-cache.test.ts has more.
t.test('a verified token is remembered only until it expires', async (t) => {
  const app = await build(t)
  const bob = await makeUser(app, 'admin')
  const call = (token: string) => inject(app, { method: 'GET', url: '/api/events/', headers: { authorization: `Bearer ${token}` } })
  // Counts the signature checks the app makes, to see which requests the cache answered.
  let verifications = 0
  const jwtVerify = app.jwt.verify.bind(app.jwt)
  app.jwt.verify = ((...args: Parameters<typeof jwtVerify>) => {
    verifications += 1
    return jwtVerify(...args)
  }) as typeof app.jwt.verify
  // Expired, but inside the 10 s clock tolerance for 2 to 3 s more, wherever in a second this
  // starts (exp is whole seconds): accepted (and remembered) now ...
  const exp = Math.floor((Date.now() + 3000) / 1000) - 10
  const token = forge({ sub: String(bob.user.id), typ: 'access', tv: 0, iss: 'vigil', aud: 'vigil-api', iat: exp - 600, exp })
  t.equal((await call(token)).status, 200, 'accepted within the clock tolerance')
  t.equal(verifications, 1, 'its signature was checked')
  t.equal((await call(token)).status, 200, 'accepted again')
  t.equal(verifications, 1, 'from the verified-token cache, without checking the signature again')
  // ... and refused once the tolerance is used up, although it was verified before.
  t.ok(await eventually(async () => (await call(token)).status === 401, 6000), 'refused after exp + tolerance')
})

t.test('a deactivated or deleted user is locked out', async (t) => {
  const app = await build(t)
  const carol = await makeUser(app, 'admin')
  const dave = await makeUser(app, 'viewer')
  const get = (u: typeof carol) => inject(app, { method: 'GET', url: '/api/alerts/', headers: u.auth })
  t.equal((await get(carol)).status, 200)
  t.equal((await get(dave)).status, 200)

  await app.db.update(users).set({ isActive: false }).where(eq(users.id, carol.user.id))
  t.ok(await eventually(async () => (await get(carol)).status === 401, 2000), 'access token refused after deactivation')
  const refresh = await inject(app, { method: 'POST', url: '/api/token/refresh/', payload: { refresh: carol.refresh } })
  t.equal(refresh.status, 401, 'refresh token refused after deactivation')
  const login = await inject(app, { method: 'POST', url: '/api/token/', payload: { username: carol.user.username, password: carol.password } })
  t.equal(login.status, 401, 'a deactivated user cannot log in')

  await app.db.delete(users).where(eq(users.id, dave.user.id))
  t.ok(await eventually(async () => (await get(dave)).status === 401, 2000), 'access token refused after deletion')
})

t.test('token lifetimes are configurable', async (t) => {
  const app = await build(t, { ACCESS_TOKEN_TTL: 60, REFRESH_TOKEN_TTL: 120 })
  const erin = await makeUser(app, 'viewer')
  const res = await inject(app, { method: 'POST', url: '/api/token/', payload: { username: erin.user.username, password: erin.password } })
  const decode = (tok: string) => JSON.parse(Buffer.from(tok.split('.')[1], 'base64url').toString())
  const access = decode(res.body.access)
  const refresh = decode(res.body.refresh)
  t.equal(access.exp - access.iat, 60)
  t.equal(refresh.exp - refresh.iat, 120)
  t.equal(access.typ, 'access')
  t.equal(refresh.typ, 'refresh')
  t.equal(access.iss, 'vigil')
  t.equal(access.aud, 'vigil-api')
  t.notOk('role' in access || 'password' in access, 'no role or secret in the token; the role is read fresh per request')
})
