// Graceful shutdown of the real server process: on SIGTERM or SIGINT it stops accepting, finishes
// the requests in flight, closes the database and exits 0.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { freshDatabaseUrl } from './helper.js'
import { freePort } from './support/net.js'

const root = new URL('..', import.meta.url).pathname


async function startServer(t: any) {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-shutdown-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const url = await freshDatabaseUrl(t)
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      DATABASE_URL: url ?? '',
      JWT_SECRET: 'shutdown-test-secret-shutdown-test-secret',
      ADMIN_USERNAME: 'root',
      ADMIN_PASSWORD: 'root-password-long-enough',
      LOG_LEVEL: 'info'
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  for (let i = 0; i < 300 && !output.includes('Server listening'); i++) await new Promise((r) => setTimeout(r, 100))
  t.match(output, /Server listening/, 'the server started')
  return { child, exited, base: `http://127.0.0.1:${port}`, output: () => output }
}

const login = (base: string) =>
  fetch(`${base}/api/token/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'root', password: 'root-password-long-enough' })
  })

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal}: in-flight requests finish, then exit 0`, async (t) => {
    const server = await startServer(t)
    t.equal((await login(server.base)).status, 200)
    // Logins cost real argon2 work, so these are still running when the signal arrives.
    // Signal only once the server has received all four, so they are truly in flight.
    const received = () => server.output().split('incoming request').length - 1
    const before = received()
    const inFlight = Array.from({ length: 4 }, () => login(server.base).then((r) => r.status))
    for (let i = 0; i < 100 && received() < before + 4; i++) await new Promise((r) => setTimeout(r, 5))
    server.child.kill(signal)
    t.same(await Promise.all(inFlight), [200, 200, 200, 200], 'requests in flight were answered')
    const code = await server.exited
    t.equal(code, 0, 'exit code 0')
    t.match(server.output(), /shutting down/)
    await t.rejects(fetch(`${server.base}/health/live`), 'no longer accepting connections')
  })
}
