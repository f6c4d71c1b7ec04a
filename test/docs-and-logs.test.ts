// The docs UI and OpenAPI document are served from the route schemas; logs carry request ids and
// never a password, token, hash or the JWT secret.
import t from 'tap'
import { build, inject, makeUser, TEST_JWT_SECRET } from './helper.js'

t.test('docs UI and OpenAPI document', async (t) => {
  const app = await build(t)
  const ui = await app.inject({ method: 'GET', url: '/docs' })
  t.equal(ui.statusCode, 200)
  t.match(ui.body, /swagger-ui/i, 'the docs UI page is served')
  const doc = await inject(app, { method: 'GET', url: '/docs/json' })
  t.equal(doc.status, 200)
  t.equal(doc.body.openapi, '3.0.3')
  t.same(doc.body.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
  t.ok(doc.body.paths['/api/events'].get.security.length > 0, 'protected routes carry the bearer requirement')
  t.same(doc.body.paths['/api/token'].post.security, [], 'the login route is public')
  t.ok(doc.body.paths['/api/alerts/{id}'].patch.responses['403'], 'every status is documented')
})

t.test('logs carry request ids and no secrets', async (t) => {
  const lines: string[] = []
  const app = await build(t, { LOG_LEVEL: 'info' }, { write: (msg) => void lines.push(msg) })
  const user = await makeUser(app, 'admin')
  const login = await inject(app, { method: 'POST', url: '/api/token/', payload: { username: user.user.username, password: user.password } })
  t.equal(login.status, 200)
  await inject(app, { method: 'POST', url: '/api/token/', payload: { username: user.user.username, password: 'wrong-password-1' } })
  await inject(app, { method: 'GET', url: '/api/events/', headers: { authorization: `Bearer ${login.body.access}` } })
  await inject(app, { method: 'GET', url: '/api/events/', headers: { authorization: `Bearer ${login.body.access}x` } })
  const res = await inject(app, { method: 'POST', url: '/api/token/refresh/', payload: { refresh: login.body.refresh } })
  t.equal(res.status, 200)
  t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'responses carry the request id')

  const log = lines.join('\n')
  t.ok(lines.length > 5, 'requests were logged')
  t.ok(lines.some((l) => JSON.parse(l).reqId), 'log lines carry the request id')
  for (const secret of [user.password, 'wrong-password-1', login.body.access, login.body.refresh, TEST_JWT_SECRET, user.user.passwordHash]) {
    t.notOk(log.includes(secret), `no secret in the logs (${secret.slice(0, 6)}…)`)
  }
  t.notMatch(log, /\$argon2/, 'no password hash in the logs')
  t.notMatch(log, /Bearer /, 'no authorization header in the logs')
})
