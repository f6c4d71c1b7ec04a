// WORKERS: the real server entry as a supervisor of several server processes on one port. They
// answer as one service (a token issued by one is accepted by the others), a worker that dies is
// replaced, SIGTERM stops them all with exit 0, and the embedded database refuses more than one.
import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'
import { eventually, freshDatabaseUrl, onPostgres } from './helper.js'
import { freePort } from './support/net.js'
import { startProcess } from './support/process.js'

const root = new URL('..', import.meta.url).pathname
const ADMIN = { username: 'root', password: 'root-password-long-enough' }

function spawnServer(t: { teardown(fn: () => unknown): void }, env: Record<string, string>) {
  return startProcess(t, process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: { ...process.env, HOST: '127.0.0.1', JWT_SECRET: 'workers-test-secret-workers-test-secret', LOG_LEVEL: 'warn', ...env }
  })
}

/** The pids of a process's children, from /proc (what ps --ppid reads). */
function childrenOf(pid: number): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // The fields after the command name, which is in parentheses: state, then the parent's pid.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) found.push(Number(entry))
    } catch {
      // The process ended while the list was read.
    }
  }
  return found.sort()
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

t.test('WORKERS above 1 without DATABASE_URL stops the start with the reason', async (t) => {
  const { exited, output } = spawnServer(t, { WORKERS: '2', DATABASE_URL: '', PORT: String(await freePort()) })
  t.equal(await exited, 1)
  t.match(output(), /WORKERS above 1 needs DATABASE_URL/)
})

// Several processes need PostgreSQL: the embedded database is one process's (the test above).
if (onPostgres) t.test('WORKERS=2: one service on one port, a dead worker replaced, SIGTERM stops all', async (t) => {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const server = spawnServer(t, { WORKERS: '2', DATABASE_URL: (await freshDatabaseUrl(t))!, PORT: String(port), ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password })
  const { child } = server
  // Workers the supervisor could not stop go too.
  t.teardown(() => {
    for (const pid of childrenOf(child.pid!)) process.kill(pid, 'SIGKILL')
  })
  const up = () => fetch(`${base}/health`).then((r) => r.ok, () => false)
  t.ok(await eventually(async () => (await up()) && childrenOf(child.pid!).length === 2, 60_000), `two workers answer /health\n${server.output()}`)
  const workers = childrenOf(child.pid!)

  // Fresh connections, so the cluster's round robin hands them to both workers.
  const token = await fetch(`${base}/api/token/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) }).then(
    async (r) => ((await r.json()) as { access: string }).access
  )
  const statuses = await Promise.all(
    Array.from({ length: 10 }, () => fetch(`${base}/api/alerts/`, { headers: { authorization: `Bearer ${token}`, connection: 'close' } }).then((r) => r.status))
  )
  t.same(statuses, Array(10).fill(200), 'a token one worker issued is good on every worker')

  process.kill(workers[0], 'SIGKILL')
  t.ok(
    await eventually(async () => {
      const now = childrenOf(child.pid!)
      return now.length === 2 && !now.includes(workers[0]) && (await up())
    }, 30_000),
    'the dead worker is replaced and the service answers'
  )
  const replaced = childrenOf(child.pid!)

  child.kill('SIGTERM')
  t.equal(await server.exited, 0, `the supervisor exits 0 once its workers have\n${server.output()}`)
  t.ok(await eventually(async () => replaced.every((pid) => !alive(pid)), 10_000), 'and no worker is left')
})
