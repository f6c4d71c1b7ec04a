// A production install, as an operator makes one: the project's files alone, `npm ci --omit=dev`
// (from npm's cache, as the suite's own install filled it), then `npm start`. No TypeScript, no
// dev tooling: the start compiles with esbuild (scripts/build.mjs), serves, migrates, logs in.
import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { PROJECT_ROOT } from '../src/paths.js'
import { eventually, onPostgres } from './helper.js'
import { copyProject } from './support/install.js'
import { freePort } from './support/net.js'

const run = promisify(execFile)

if (onPostgres) {
  t.test('npm ci --omit=dev, then npm start: serves, migrates, logs in', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-prod-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    await copyProject(dir)
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    await run(npm, ['ci', '--omit=dev', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, maxBuffer: 64 << 20, timeout: 180_000 })
    t.notOk(existsSync(join(dir, 'node_modules', 'typescript')), 'TypeScript is not installed')
    t.notOk(existsSync(join(dir, 'node_modules', 'tap')), 'nor the test tooling')

    const port = await freePort()
    const password = 'a-production-password-1'
    const child = spawn(npm, ['start'], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'production',
        PORT: String(port),
        DATA_DIR: join(dir, 'data'),
        JWT_SECRET: 'a-production-secret-of-at-least-32-bytes',
        LOG_LEVEL: 'info',
        ADMIN_USERNAME: 'ops',
        ADMIN_PASSWORD: password
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: npm and the server it starts are stopped together, as a service manager does.
      detached: true
    })
    let output = ''
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()))
    const closed = new Promise<void>((resolve) => child.on('close', () => resolve()))
    const group = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal)
      } catch {
        // Already gone.
      }
    }
    t.teardown(() => group('SIGKILL'))

    const base = `http://127.0.0.1:${port}`
    const up = await eventually(async () => {
      try {
        return (await fetch(`${base}/health/`)).status === 200
      } catch {
        return false
      }
    }, 60_000)
    t.ok(up, `the server answers /health (output: ${output.slice(-500)})`)
    const token = await fetch(`${base}/api/token/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'ops', password }) })
    t.equal(token.status, 200, 'the bootstrap admin logs in')
    const { access } = (await token.json()) as { access: string }
    const alerts = await fetch(`${base}/api/alerts/`, { headers: { authorization: `Bearer ${access}` } })
    t.equal(alerts.status, 200, 'and lists alerts')
    group('SIGTERM')
    await closed
    t.match(output, /"signal":"SIGTERM","msg":"shutting down"/, 'a SIGTERM stops it cleanly')
  })
} else {
  t.test('the production install runs in the PostgreSQL pass (it does not depend on the database)', async (t) => {
    t.ok(existsSync(join(PROJECT_ROOT, 'scripts', 'build.mjs')), 'the build script the start runs is there')
  })
}
