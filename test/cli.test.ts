// `npm run user:create` (Django's createsuperuser): creates a user with the given role on the
// configured database, applies the password policy and refuses duplicates, audits what it creates;
// the user can then log in. Creating one runs on both databases (the embedded one is a newcomer's
// first); the refusals, which the user service decides whatever the database, on PostgreSQL only.
// A refusal runs beside the creation there: PGlite admits one process at a time.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { eq } from 'drizzle-orm'
import t from 'tap'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { auditLog, users } from '../src/db/schema.js'
import { freshDatabaseUrl, inject, onPostgres, TEST_JWT_SECRET } from './helper.js'
import { seedPgliteDataDir } from './support/pglite-image.js'

const run = promisify(execFile)
const root = new URL('..', import.meta.url).pathname

t.test('user:create', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-cli-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const url = await freshDatabaseUrl(t)
  if (!url) await seedPgliteDataDir(dataDir)
  const env = { ...process.env, DATA_DIR: dataDir, DATABASE_URL: url ?? '', JWT_SECRET: TEST_JWT_SECRET, VIGIL_PASSWORD: 'a-long-enough-password' }
  const cli = (args: string[], extra: Record<string, string> = {}) =>
    run(process.execPath, ['--import', 'tsx', 'src/cli/create-user.ts', ...args], { cwd: root, env: { ...env, ...extra } }).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e) => ({ code: e.code as number, out: String(e.stdout) + String(e.stderr) })
    )

  const [created, badRole] = await Promise.all([
    cli(['--username', 'alice', '--role', 'admin', '--email', 'alice@example.org']),
    cli(['--username', 'carol', '--role', 'root'])
  ])
  t.equal(created.code, 0)
  t.match(created.out, /created admin 'alice'/)
  t.notMatch(created.out, /a-long-enough-password/, 'the password is never printed')
  t.equal(badRole.code, 2, 'an unknown role is refused before the database is opened')
  t.match(badRole.out, /--role must be one of admin, analyst, responder, viewer/)

  if (onPostgres) {
    const [dup, weak] = await Promise.all([cli(['--username', 'ALICE', '--role', 'viewer']), cli(['--username', 'bob'], { VIGIL_PASSWORD: 'short' })])
    t.equal(dup.code, 2)
    t.match(dup.out, /already exists/)
    t.equal(weak.code, 2)
    t.match(weak.out, /at least 12 characters/)
  }

  const config = loadConfig({}, { NODE_ENV: 'test', LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET, DATA_DIR: dataDir, ...(url ? { DATABASE_URL: url } : {}) })
  const app = await buildApp({ config })
  t.teardown(() => app.close())
  const login = await inject(app, { method: 'POST', url: '/api/token/', payload: { username: 'alice', password: 'a-long-enough-password' } })
  t.equal(login.status, 200, 'the new admin can log in')
  const events = await inject(app, { method: 'GET', url: '/api/events/', headers: { authorization: `Bearer ${login.body.access}` } })
  t.equal(events.status, 200, 'with the admin role')

  const made = await app.db.select({ id: users.id, username: users.username }).from(users)
  t.same(made.map((u) => u.username), ['alice'], 'the refused commands created no one')
  const trail = await app.db.select().from(auditLog).where(eq(auditLog.action, 'user.created'))
  t.equal(trail.length, 1, 'the creation is audited, once')
  t.equal(trail[0].actor, 'system:cli')
  t.equal(trail[0].targetId, String(made[0].id))
  t.same(trail[0].after, { username: 'alice', email: 'alice@example.org', role: 'admin', is_active: true })
  t.notMatch(JSON.stringify(trail[0]), /argon2|a-long-enough-password/, 'without the password or its hash')
  // The suite hashes its own fixture users cheaply (test/helper.ts); a user made by the CLI, a
  // process with the production configuration, gets the production cost.
  const [row] = await app.db.select({ hash: users.passwordHash }).from(users).where(eq(users.username, 'alice'))
  const m = /^\$argon2id\$v=19\$([^$]+)\$/.exec(row.hash)
  t.ok(m, 'an argon2id hash')
  const params = Object.fromEntries((m?.[1] ?? '').split(',').map((kv) => kv.split('=')))
  t.same(params, { m: '65536', t: '3', p: '4' }, 'with the production parameters (64 MiB, 3 passes, 4 lanes)')
})
