// The embedded database admits one process at a time (src/db/data-dir-lock.ts). With the real
// server running on a PGlite data directory, `npm run user:create` (and `db:migrate`, and a second
// server) refuse with a message that names the server and what to do instead; the API route the
// message points to works; a lock left by a killed server does not block the next process; and
// the directory still holds everything afterwards. Before the lock, the CLI printed "created"
// and the user was lost when the server shut down.
//
// The subject is the embedded database on disk, whatever TEST_DATABASE_URL says, so .ci/run runs
// this file once, in the PostgreSQL pass (PG_ONLY), which has CPU to spare.
import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { lockDataDir, lockFileOf } from '../src/db/data-dir-lock.js'
import { users } from '../src/db/schema.js'
import { eventually, inject, TEST_JWT_SECRET } from './helper.js'
import { scratchInstall } from './support/install.js'
import { freePort } from './support/net.js'
import { startProcess } from './support/process.js'
import { seedPgliteDataDir } from './support/pglite-image.js'

const run = promisify(execFile)

t.test('one process at a time on the embedded database', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-lock-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  // The compiled server and CLIs (what `npm start` and a production install run; they start in a
  // fraction of the time the TypeScript loader takes).
  const [install] = await Promise.all([scratchInstall(t), seedPgliteDataDir(dataDir)])
  // The embedded database whatever the pass: DATABASE_URL empty.
  const env = { ...process.env, DATABASE_URL: '', DATA_DIR: dataDir, JWT_SECRET: TEST_JWT_SECRET, NODE_ENV: 'production', LOG_LEVEL: 'info' }
  const admin = { username: 'ops', password: 'an-ops-password-long-enough' }

  const cli = (script: string, args: string[], extra: Record<string, string> = {}) =>
    run(process.execPath, [script, ...args], { cwd: install, env: { ...env, ...extra } }).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: String(e.stdout) + String(e.stderr) })
    )
  const createUser = (username: string) =>
    cli('dist/src/cli/create-user.js', ['--username', username, '--role', 'analyst'], { VIGIL_PASSWORD: `${username}-password-long-enough` })

  /** The real server process; `exited` resolves with its exit code. */
  const startServer = async () => {
    const port = await freePort()
    const server = startProcess(t, process.execPath, ['dist/src/server.js'], {
      cwd: install,
      env: { ...env, HOST: '127.0.0.1', PORT: String(port), ADMIN_USERNAME: admin.username, ADMIN_PASSWORD: admin.password }
    })
    return { ...server, port }
  }
  const login = async (port: number, username: string, password: string) =>
    fetch(`http://127.0.0.1:${port}/api/token/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password })
    })

  const server = await startServer()
  const up = await eventually(async () => {
    if (server.isDone()) return true
    try {
      return (await fetch(`http://127.0.0.1:${server.port}/health/`)).status === 200
    } catch {
      return false
    }
  }, 60_000)
  t.ok(up && !server.isDone(), 'the server runs on the data directory', { output: server.output().slice(-2000) })
  const lock = JSON.parse(readFileSync(lockFileOf(dataDir), 'utf8'))
  t.match(lock, { pid: server.child.pid, owner: 'the Vigil server' }, 'and holds the lock')

  await t.test('user:create refuses, naming the server and the two ways out', async (t) => {
    const r = await createUser('alice')
    t.equal(r.code, 2)
    t.match(r.out, `The embedded database in ${dataDir} is in use by the Vigil server (pid ${server.child.pid}`)
    t.match(r.out, /Stop the server first, or create the user through its API as an admin: POST \/api\/users\//)
    t.notMatch(r.out, /created/)
  })

  await t.test('db:migrate and a second server refuse too', async (t) => {
    const migrate = await cli('dist/src/cli/migrate.js', [])
    t.equal(migrate.code, 2)
    t.match(migrate.out, /in use by the Vigil server .*The server applies migrations itself at start/s)
    const second = await startServer()
    t.equal(await second.exited, 1, 'the second server exits 1')
    t.match(second.output(), /Vigil failed to start: The embedded database in .* is in use by the Vigil server/)
  })

  await t.test('the API way the message points to works while the server runs', async (t) => {
    const token = await login(server.port, admin.username, admin.password)
    t.equal(token.status, 200)
    const { access } = (await token.json()) as { access: string }
    const created = await fetch(`http://127.0.0.1:${server.port}/api/users/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${access}` },
      body: JSON.stringify({ username: 'bob', password: 'bob-password-long-enough', role: 'analyst' })
    })
    t.equal(created.status, 201)
    t.equal((await login(server.port, 'bob', 'bob-password-long-enough')).status, 200, 'bob logs in')
  })

  await t.test('a lock left by a killed server is stale: the CLI takes the directory over', async (t) => {
    server.child.kill('SIGKILL')
    await server.exited
    t.ok(existsSync(lockFileOf(dataDir)), 'SIGKILL left the lock file behind')
    const r = await createUser('alice')
    t.equal(r.code, 0, r.out)
    t.match(r.out, /created analyst 'alice'/)
    t.notOk(existsSync(lockFileOf(dataDir)), 'and the CLI released it when done')
  })

  await t.test('a server refuses to start while a CLI holds the directory', async (t) => {
    // A lock as the CLI takes it, held by this (live) test process.
    const release = lockDataDir(dataDir, 'npm run user:create')
    t.teardown(release)
    const refused = await startServer()
    t.equal(await refused.exited, 1)
    t.match(refused.output(), `is in use by npm run user:create (pid ${process.pid}`)
    release()
  })

  await t.test('the data directory still works and holds every user', async (t) => {
    const config = loadConfig({}, { NODE_ENV: 'test', LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET, DATA_DIR: dataDir })
    const app = await buildApp({ config })
    const names = (await app.db.select({ username: users.username }).from(users)).map((u) => u.username).sort()
    t.same(names, ['alice', 'bob', 'ops'], 'the bootstrap admin, the API user and the CLI user')
    for (const [username, password] of [
      ['alice', 'alice-password-long-enough'],
      ['bob', 'bob-password-long-enough']
    ]) {
      const r = await inject(app, { method: 'POST', url: '/api/token/', payload: { username, password } })
      t.equal(r.status, 200, `${username} logs in`)
    }
    await app.close()
    t.notOk(existsSync(lockFileOf(dataDir)), 'closing the app releases the lock')
  })
})

t.test('which locks are stale, and which are respected', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-lockfile-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = lockFileOf(dir)
  const lockWith = (holder: Record<string, unknown>) =>
    writeFileSync(file, JSON.stringify({ owner: 'the Vigil server', hostname: hostname(), since: '2026-01-01T00:00:00.000Z', ...holder }))
  const takes = (what: string) => {
    const release = lockDataDir(dir, 'a test')
    t.match(JSON.parse(readFileSync(file, 'utf8')), { pid: process.pid, owner: 'a test' }, what)
    release()
    t.notOk(existsSync(file), 'released')
  }

  // A process that has exited: its pid runs nothing.
  const gone = spawn(process.execPath, ['-e', ''])
  await new Promise((resolve) => gone.on('exit', resolve))
  lockWith({ pid: gone.pid })
  takes('a lock whose process has exited is replaced')

  lockWith({ pid: process.pid })
  takes('a lock naming this very pid, not held here, is an earlier process with the same pid (a restarted container)')

  writeFileSync(file, '{"pid": 12')
  takes('a torn or foreign file is replaced')

  lockWith({ pid: process.ppid, start: '1' })
  takes('a live pid that started at another time (Linux: /proc/<pid>/stat) is a reused pid: stale')

  lockWith({ pid: process.ppid })
  t.throws(() => lockDataDir(dir, 'a test'), { code: 'DATA_DIR_BUSY', holder: { pid: process.ppid } }, 'a live process is respected')

  lockWith({ pid: gone.pid, hostname: 'another-host' })
  t.throws(
    () => lockDataDir(dir, 'a test'),
    { message: new RegExp(`on host another-host.*cannot tell from here whether that process still runs; if it does not, delete ${file}`) },
    "another host's lock is respected, with what to do if it is stale"
  )
  rmSync(file)

  const release = lockDataDir(dir, 'a test')
  t.throws(() => lockDataDir(dir, 'another open'), { message: /in use by this process/ }, 'a second open in the same process is refused')
  release()
  release()
  t.notOk(existsSync(file), 'releasing twice is harmless')
})
