// Configuration: production refuses to start without a real JWT secret; development makes one and
// keeps it in DATA_DIR so tokens survive a restart; bad values name their variable.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig } from '../src/config.js'
import { connectionOf } from '../src/db/index.js'

t.test('JWT secret rules', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))

  t.throws(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: dir }), /JWT_SECRET is required/, 'production without JWT_SECRET')
  t.throws(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: dir, JWT_SECRET: 'short' }), /at least 32 bytes/)
  const prod = loadConfig({ NODE_ENV: 'production', DATA_DIR: dir, JWT_SECRET: 'x'.repeat(32) })
  t.equal(prod.JWT_SECRET, 'x'.repeat(32))

  const first = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir })
  t.ok(first.JWT_SECRET.length >= 32, 'development generates a secret')
  t.equal(readFileSync(join(dir, 'jwt-secret'), 'utf8'), first.JWT_SECRET, 'kept in DATA_DIR')
  t.equal(statSync(join(dir, 'jwt-secret')).mode & 0o777, 0o600, 'readable by its owner only')
  t.equal(loadConfig({ NODE_ENV: 'development', DATA_DIR: dir }).JWT_SECRET, first.JWT_SECRET, 'the same secret after a restart')
})

t.test('invalid values name their variable; defaults apply', async (t) => {
  t.throws(() => loadConfig({ PORT: 'eighty', JWT_SECRET: 'x'.repeat(32) }), /PORT/)
  t.throws(() => loadConfig({ LOG_LEVEL: 'loud', JWT_SECRET: 'x'.repeat(32) }), /LOG_LEVEL/)
  t.throws(() => loadConfig({ REGISTRATION_ENABLED: 'maybe', JWT_SECRET: 'x'.repeat(32) }), /REGISTRATION_ENABLED/)
  const c = loadConfig({ JWT_SECRET: 'x'.repeat(32) })
  t.match(c, { HOST: '127.0.0.1', PORT: 3000, ACCESS_TOKEN_TTL: 900, REFRESH_TOKEN_TTL: 604800, REGISTRATION_ENABLED: false })
  t.equal(loadConfig({ JWT_SECRET: 'x'.repeat(32), REGISTRATION_ENABLED: 'true', PORT: '8080' }).PORT, 8080)
})

t.test('DATABASE_URL: a Unix socket named as libpq names it becomes postgres.js options; other URLs pass unchanged', async (t) => {
  t.same(connectionOf('postgres://vigil@/vigil?host=/var/run/postgresql'), { url: 'postgres://vigil@localhost/vigil', path: '/var/run/postgresql/.s.PGSQL.5432' })
  t.same(connectionOf('postgresql:///vigil?host=%2Ftmp%2F&port=6000&sslmode=disable'), { url: 'postgresql://localhost/vigil?sslmode=disable', path: '/tmp/.s.PGSQL.6000' }, 'port from the query, the rest kept')
  t.same(connectionOf('postgres://vigil:secret@db.local:5433/vigil?host=/run/pg'), { url: 'postgres://vigil:secret@db.local:5433/vigil', path: '/run/pg/.s.PGSQL.5433' }, 'port from the URL')
  for (const url of ['postgres://vigil@127.0.0.1:5432/vigil', 'postgres://vigil@db/vigil?sslmode=require', 'postgres://vigil@db/vigil?host=db2']) {
    t.same(connectionOf(url), { url }, `${url} unchanged`)
  }
})
