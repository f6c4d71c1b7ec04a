// The smoke flow of scripts/smoke.sh, run by the Node under test in a fresh install of a copy of
// the checkout (after `npm run build`): the migrate CLI, then the compiled server as `npm start`
// runs it (NODE_ENV=production, a bootstrap admin), a token, a High event (which raises an alert),
// the alert list, an ingest key, a bulk body (and its re-send, all duplicates), the alert list
// again, then SIGTERM, which must end the server with status 0. Plain JavaScript: no TypeScript
// at run time. Each step prints one line; any unexpected answer ends the run with status 1.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import process from 'node:process'
import { setTimeout } from 'node:timers'

const { console, fetch, URL } = globalThis
const label = process.env.SMOKE_LABEL ?? `smoke node ${process.version}`
const work = process.env.SMOKE_WORK ?? process.cwd()
const t0 = Date.now()
const say = (line) => console.log(`${label}: ${line} (${((Date.now() - t0) / 1000).toFixed(1)} s)`)

class SmokeFailure extends Error {}
const check = (ok, what) => {
  if (!ok) throw new SmokeFailure(what)
}

const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })

const secret = () => randomBytes(32).toString('base64url')
const pkg = JSON.parse(readFileSync('package.json', 'utf8'))
const nodeFlags = pkg.config.node_flags.split(/\s+/).filter(Boolean)

/** Runs a process to its end; resolves with its status and output. */
const runToEnd = (args, env) =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('close', (code) => resolve({ code, out }))
  })

/** A PostgreSQL database of its own when SMOKE_DATABASE_URL is set (postgres.js from the install). */
async function database() {
  const base = process.env.SMOKE_DATABASE_URL
  if (!base) return { env: { DATABASE_URL: '' }, what: 'embedded PGlite', drop: async () => {} }
  const { default: postgres } = await import('postgres')
  const name = `vigil_smoke_${process.versions.node.split('.')[0]}_${randomBytes(4).toString('hex')}`
  const admin = postgres(base, { max: 1, onnotice: () => {} })
  // From template0, which never has sessions (CREATE DATABASE refuses a template others are connected to).
  await admin.unsafe(`create database ${name} template template0`)
  const url = new URL(base)
  url.pathname = `/${name}`
  return {
    env: { DATABASE_URL: url.toString() },
    what: `PostgreSQL database ${name}`,
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`)
      await admin.end()
    }
  }
}

async function main() {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const dataDir = join(work, 'data')
  mkdirSync(dataDir, { recursive: true })
  const db = await database()
  const admin = { username: 'smoke-admin', password: secret() }
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: dataDir,
    JWT_SECRET: secret(),
    LOG_LEVEL: 'info',
    ...db.env
  }
  let server
  try {
    // Migrations, by the CLI (on the embedded database it must run before the server holds it).
    const migrate = await runToEnd(['dist/src/cli/migrate.js'], env)
    check(migrate.code === 0 && /migrations applied/.test(migrate.out), `npm run db:migrate failed (${migrate.code}): ${migrate.out}`)
    say(`migrate: ${migrate.out.trim()} (${db.what})`)

    server = spawn(process.execPath, [...nodeFlags, 'dist/src/server.js'], {
      env: { ...env, ADMIN_USERNAME: admin.username, ADMIN_PASSWORD: admin.password },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let log = ''
    const exited = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })))
    const listening = new Promise((resolve) => {
      const onData = (d) => {
        log += d
        if (log.includes('Server listening')) resolve(true)
      }
      server.stdout.on('data', onData)
      server.stderr.on('data', onData)
      void exited.then(() => resolve(false))
    })
    const timeout = (ms, what) =>
      new Promise((_, reject) => setTimeout(() => reject(new SmokeFailure(`${what} took over ${ms / 1000} s`)), ms).unref())
    try {
      check(await Promise.race([listening, timeout(60_000, 'the start')]), 'the server exited during start-up')

      // A 503 with Retry-After (ingestion while the event loop is delayed, as on a CI machine busy
      // with both test suites) is retried after the time it names, as a log shipper retries it.
      const call = async (method, path, { token, body, type = 'application/json' } = {}, tries = 10) => {
        const headers = {}
        if (token) headers.authorization = `Bearer ${token}`
        if (body !== undefined) headers['content-type'] = type
        const res = await fetch(`${base}${path}`, {
          method,
          headers,
          body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
        })
        const retryAfter = Number(res.headers.get('retry-after'))
        if (res.status === 503 && retryAfter > 0 && tries > 1) {
          await res.text()
          say(`${method} ${path}: 503, retrying after ${retryAfter} s as Retry-After says`)
          await new Promise((resolve) => setTimeout(resolve, Math.min(retryAfter, 5) * 1000))
          return call(method, path, { token, body, type }, tries - 1)
        }
        const text = await res.text()
        let json
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        return { status: res.status, body: json, text }
      }
      const expect = (res, status, what) => check(res.status === status, `${what}: expected ${status}, got ${res.status} ${res.text}`)

      const health = await call('GET', '/health/')
      expect(health, 200, 'GET /health')
      check(health.body.database === 'ok', `GET /health: ${health.text}`)
      say(`started on ${base}: /health ${health.text}`)

      const token = await call('POST', '/api/token/', { body: admin })
      expect(token, 200, 'POST /api/token/')
      check(typeof token.body.access === 'string' && typeof token.body.refresh === 'string', `POST /api/token/: ${token.text}`)
      const access = token.body.access
      say('token: POST /api/token/ 200, an access and a refresh token')

      const event = await call('POST', '/api/events/', {
        token: access,
        body: { source: 'smoke', event_type: 'intrusion', severity: 'High', description: `smoke on ${process.version}` }
      })
      expect(event, 201, 'POST /api/events/')
      check(Number.isInteger(event.body.id) && event.body.severity === 'High', `POST /api/events/: ${event.text}`)
      say(`event: POST /api/events/ 201, id ${event.body.id}, High`)

      const alerts = await call('GET', '/api/alerts/', { token: access })
      expect(alerts, 200, 'GET /api/alerts/')
      check(
        alerts.body.count === 1 && alerts.body.results[0]?.event === event.body.id && alerts.body.results[0].status === 'Open',
        `GET /api/alerts/: expected one Open alert of event ${event.body.id}, got ${alerts.text}`
      )
      say(`alerts: GET /api/alerts/ 200, one Open alert (id ${alerts.body.results[0].id}) of event ${event.body.id}`)

      const key = await call('POST', '/api/ingest-keys/', {
        token: access,
        body: { name: 'smoke shipper', defaults: { source: 'smoke-shipper', event_type: 'anomaly' } }
      })
      expect(key, 201, 'POST /api/ingest-keys/')
      check(typeof key.body.key === 'string', `POST /api/ingest-keys/: ${key.text}`)
      say(`ingest key: POST /api/ingest-keys/ 201, prefix ${key.body.prefix}`)

      const records = [
        { external_id: 'smoke-1', severity: 'Low', message: 'login ok' },
        { external_id: 'smoke-2', level: 'warning', message: 'many failed logins' },
        { external_id: 'smoke-3', severity: 'Critical', message: 'malware beacon', event_type: 'malware' }
      ]
      const ndjson = records.map((r) => JSON.stringify(r)).join('\n') + '\n'
      const bulk = await call('POST', '/api/events/bulk', { token: key.body.key, body: ndjson, type: 'application/x-ndjson' })
      expect(bulk, 200, 'POST /api/events/bulk')
      check(bulk.body.accepted === 3 && bulk.body.duplicates === 0 && bulk.body.rejected === 0, `POST /api/events/bulk: ${bulk.text}`)
      const again = await call('POST', '/api/events/bulk', { token: key.body.key, body: ndjson, type: 'application/x-ndjson' })
      expect(again, 200, 'POST /api/events/bulk (again)')
      check(again.body.accepted === 0 && again.body.duplicates === 3, `POST /api/events/bulk (again): ${again.text}`)
      say(`bulk: POST /api/events/bulk 200 ${bulk.text}; sent again: ${again.body.duplicates} duplicates`)

      const after = await call('GET', '/api/alerts/?severity=Critical', { token: access })
      expect(after, 200, 'GET /api/alerts/?severity=Critical')
      check(after.body.count === 1 && after.body.results[0].source === 'smoke-shipper', `GET /api/alerts/?severity=Critical: ${after.text}`)
      say('alerts: the Critical bulk record raised an alert too')

      server.kill('SIGTERM')
      const end = await Promise.race([exited, timeout(15_000, 'the stop after SIGTERM')])
      check(end.code === 0, `the server ended with ${end.code ?? end.signal} after SIGTERM`)
      server = undefined
      say('SIGTERM: the server stopped, status 0')
    } catch (err) {
      if (log) console.log(`--- last lines of the server log ---\n${log.split('\n').slice(-40).join('\n')}`)
      throw err
    }
  } finally {
    server?.kill('SIGKILL')
    await db.drop()
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    say(`FAILED: ${err instanceof SmokeFailure ? err.message : (err?.stack ?? String(err))}`)
    process.exit(1)
  }
)
