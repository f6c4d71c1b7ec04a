// Transport protections: login rate limits per IP and per username, security headers, CORS off
// unless allow-listed, and limits on URL length, JSON nesting and prototype poisoning.
import t from 'tap'
import { build, inject, makeUser } from './helper.js'

t.test('login is rate limited per client IP, with Retry-After', async (t) => {
  const app = await build(t, { LOGIN_RATE_LIMIT: 3 })
  const statuses: number[] = []
  let last
  for (let i = 0; i < 5; i++) {
    last = await inject(app, { method: 'POST', url: '/api/token/', payload: { username: `nobody${i}`, password: 'wrong-password' } })
    statuses.push(last.status)
  }
  t.same(statuses, [401, 401, 401, 429, 429])
  t.ok(Number(last!.headers['retry-after']) > 0, 'Retry-After says when to come back')
  t.type(last!.body.detail, 'string')
  t.equal(last!.body.code, 'rate_limited')
  const otherIp = await inject(app, { method: 'POST', url: '/api/token/', remoteAddress: '10.9.9.9', payload: { username: 'x', password: 'wrong-password' } } as any)
  t.equal(otherIp.status, 401, 'another client is not affected')
})

t.test('login is rate limited per username across IPs', async (t) => {
  const app = await build(t, { LOGIN_RATE_LIMIT: 3 })
  const victim = await makeUser(app, 'admin', { username: 'victim' })
  const statuses: number[] = []
  const codes: string[] = []
  for (let i = 0; i < 4; i++) {
    const res = await inject(app, { method: 'POST', url: '/api/token/', remoteAddress: `10.0.0.${i + 1}`, payload: { username: 'VICTIM', password: 'guess-guess-guess' } } as any)
    statuses.push(res.status)
    codes.push(res.body.code)
  }
  t.same(statuses, [401, 401, 401, 429])
  t.same(codes, ['login_failed', 'login_failed', 'login_failed', 'rate_limited'])
  const right = await inject(app, { method: 'POST', url: '/api/token/', remoteAddress: '10.0.0.99', payload: { username: 'victim', password: victim.password } } as any)
  t.equal(right.status, 429, 'the account stays locked for the window even with the right password')
})

t.test('security headers and CORS', async (t) => {
  const app = await build(t)
  const res = await inject(app, { method: 'GET', url: '/api/alerts/', headers: { origin: 'https://evil.example' } })
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.match(res.headers['content-security-policy'], /default-src 'self'/)
  t.ok(res.headers['strict-transport-security'])
  t.equal(res.headers['access-control-allow-origin'], undefined, 'CORS is off by default')

  const withCors = await build(t, { CORS_ORIGINS: 'https://soc.example.org' })

  const ok = await inject(withCors, { method: 'OPTIONS', url: '/api/alerts/', headers: { origin: 'https://soc.example.org', 'access-control-request-method': 'GET' } })
  t.equal(ok.headers['access-control-allow-origin'], 'https://soc.example.org')
  const other = await inject(withCors, { method: 'GET', url: '/api/alerts/', headers: { origin: 'https://evil.example' } })
  t.equal(other.headers['access-control-allow-origin'], undefined, 'origins off the list get no CORS headers')
})

t.test('input limits', async (t) => {
  const app = await build(t, { BODY_LIMIT: 4096 })
  const admin = await makeUser(app, 'admin')
  const longUrl = await inject(app, { method: 'GET', url: `/api/events/?source=${'a'.repeat(9000)}`, headers: admin.auth })
  t.equal(longUrl.status, 414)
  t.equal(longUrl.body.code, 'uri_too_long')

  let deep: unknown = 'x'
  for (let i = 0; i < 40; i++) deep = { a: deep }
  const nested = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 's', event_type: 'anomaly', severity: 'Low', attributes: deep as object } })
  t.equal(nested.status, 400)
  t.match(nested.body.detail, /nested/)

  const big = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 's', event_type: 'anomaly', severity: 'Low', description: 'x'.repeat(5000) } })
  t.equal(big.status, 413)
  t.same(big.body, { code: 'payload_too_large', detail: 'The request body is too large.' })

  const poisoned = await inject(app, {
    method: 'POST',
    url: '/api/events/',
    headers: { ...admin.auth, 'content-type': 'application/json' },
    payload: '{"source":"s","event_type":"anomaly","severity":"Low","__proto__":{"isAdmin":true}}'
  })
  t.equal(poisoned.status, 400, 'prototype poisoning is refused')
  const ctor = await inject(app, {
    method: 'POST',
    url: '/api/events/',
    headers: { ...admin.auth, 'content-type': 'application/json' },
    payload: '{"source":"s","event_type":"anomaly","severity":"Low","constructor":{"prototype":{"x":1}}}'
  })
  t.equal(ctor.status, 400, 'constructor poisoning is refused')
})

t.test('the docs page gets the API\'s policy, upgrading to https only for requests that came over https', async (t) => {
  const app = await build(t, { TRUST_PROXY: true })
  for (const url of ['/docs/', '/docs/static/swagger-initializer.js', '/docs/static/swagger-ui-bundle.js', '/api/alerts/']) {
    const res = await inject(app, { method: 'GET', url, remoteAddress: '192.168.1.20' } as any)
    const csp = String(res.headers['content-security-policy'])
    t.notMatch(csp, /upgrade-insecure-requests/, `${url} over plain http: no upgrade (the page would be blank on a LAN address)`)
    t.match(csp, /frame-ancestors 'none'/, `${url}: never framed`)
    t.match(csp, /script-src 'self'(;|$)/, `${url}: scripts from Vigil only`)
    t.match(csp, /style-src 'self'(;|$)/, `${url}: styles from Vigil's files only (no inline style)`)
    // Browsers ignore Cross-Origin-Opener-Policy on plain HTTP but to loopback, and log an error saying so.
    t.equal(res.headers['cross-origin-opener-policy'], undefined, `${url} over plain http: no Cross-Origin-Opener-Policy`)
    const viaTls = await inject(app, { method: 'GET', url, headers: { 'x-forwarded-proto': 'https' } })
    t.match(String(viaTls.headers['content-security-policy']), /upgrade-insecure-requests/, `${url} through a TLS proxy: upgraded`)
    t.equal(viaTls.headers['cross-origin-opener-policy'], 'same-origin', `${url} through a TLS proxy: Cross-Origin-Opener-Policy`)
  }
  const page = await inject(app, { method: 'GET', url: '/docs/' })
  t.equal(page.status, 200, 'the docs page is served')
  t.match(page.body, /swagger-initializer\.js/, 'the page loads its initializer as a file (no inline script to allow)')
})
