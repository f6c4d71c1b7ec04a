// Bulk triage benchmark (npm run bench:triage). On a scratch database of its own (created here,
// migrated by Vigil itself, dropped at the end, also on failure), each round:
//   - seeds two sets of BENCH_ALERTS Open alerts by SQL (events, alerts and their `raised` history
//     rows, as ingestion stores them; 10 sources a set, High and Critical, spread over the last 24
//     hours in today's and yesterday's partitions), counts the closed hours as Vigil's
//     maintenance would, VACUUM ANALYZE, CHECKPOINT;
//   - raw UPDATE, the baseline: set B resolved by PostgreSQL alone, one psql run of one statement
//     per batch of BULK_JOB_BATCH ids (each its own transaction, as each of the job's batches is):
//     the UPDATE and, from its RETURNING, a history row and an audit row per alert, what the job
//     writes for each alert; then VACUUM ANALYZE and CHECKPOINT, so the job starts as clean;
//   - bulk job: POST /api/alerts/bulk/ {filter: {status: Open}, set: {Resolved, benign_positive}}
//     (set B is resolved by then, so the filter matches set A exactly), polled until done, timed
//     from the POST to the poll that sees it done; the job's counts and the database are checked.
// While each side runs, one client lists GET /api/alerts/?status=Open, a request every 100 ms (p50
// and p99 of its latency; also measured alone before, for comparison), and a bulk ingest request of
// 1,000 events goes in every 5 s (during the job 10 % of them High: their alerts, raised after the job
// was asked for, must stay Open; during the raw side none alert, so the job's filter still
// matches set A alone). Prints alerts/s of both sides, the CPU each party spent, and the ratio;
// the target is a job at >= 0.3 of the raw UPDATE's rate. Not part of npm test.
//
// Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_ALERTS
// (1000000 a set), BENCH_ROUNDS (1), BENCH_BATCH (500: Vigil's BULK_JOB_BATCH and the raw side's
// batch), BENCH_LIST_EVERY_MS (100: the listing client's pace; 0 lists back to back, which on 2
// cores takes much of a core from the job), BENCH_NODE_ARGS (extra node options for Vigil, e.g.
// "--cpu-prof --cpu-prof-dir=/tmp/prof").
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { loadavg } from 'node:os'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import * as schema from '../src/db/schema.js'
import type { Db } from '../src/db/index.js'
import { countAlertHours } from '../src/services/alert-stats.js'
import { cpuDuring, type Cpu } from './cpu.js'
import { Client } from './http.js'
import { findBin, scratchDatabase } from './pg.js'
import { startVigil, type Vigil } from './server.js'

const env = process.env
const BASE_URL = env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const ALERTS = Number(env.BENCH_ALERTS ?? 1_000_000)
const ROUNDS = Number(env.BENCH_ROUNDS ?? 1)
const BATCH = Number(env.BENCH_BATCH ?? 500)
const SOURCES = 10
const POLL_MS = 200
const INGEST_EVERY_MS = 5000
const INGEST_RECORDS = 1000
const IDLE_LIST_MS = 5000
const REQUEST_TIMEOUT_MS = 60_000
const LIST_EVERY_MS = Number(env.BENCH_LIST_EVERY_MS ?? 100)
const LIST_PATH = '/api/alerts/?status=Open'
const SET = { status: 'Resolved', verdict: 'benign_positive', reason: 'bench' } as const
const RAW = 'raw UPDATE (psql, 1 conn)'
const JOB = 'bulk job (POST to done)'

const log = (msg: string) => process.stderr.write(`${msg}\n`)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const elapsed = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9
const percentile = (sorted: number[], p: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))])

interface Result {
  phase: string
  alerts: number
  seconds: number
  cpu: Cpu
  rounds: number[]
}
interface Background {
  /** Latencies of the list requests, ms, in order. */
  lists: number[]
  seconds: number
  ingests: { accepted: number; ms: number }[]
}
const results: Result[] = []
const backgrounds = new Map<string, Background>()
const jobNotes: string[] = []

/** NDJSON of one ingest request; `alerting`: one record in ten High. */
function ingestBody(request: number, alerting: boolean): string {
  let s = ''
  for (let i = 0; i < INGEST_RECORDS; i++) {
    const n = request * INGEST_RECORDS + i
    const severity = alerting && n % 10 === 0 ? 'High' : n % 2 ? 'Low' : 'Medium'
    const source = `ingest-${n % 5}`
    s += `${JSON.stringify({ source, host: source, event_type: 'anomaly', severity, message: `bench ingest ${n}` })}\n`
  }
  return s
}

/**
 * The load beside a phase: one client listing Open alerts, a request every LIST_EVERY_MS (back to
 * back when 0), and a bulk ingest request every INGEST_EVERY_MS (the first after 1 s). Every
 * answer must be a success.
 */
/** A request's reply, or an error after REQUEST_TIMEOUT_MS: a benchmark that hangs says nothing. */
async function timed<T>(reply: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no reply within ${REQUEST_TIMEOUT_MS / 1000} s`)), REQUEST_TIMEOUT_MS)
  })
  try {
    return await Promise.race([reply, timeout])
  } finally {
    clearTimeout(timer)
  }
}

function startBackground(url: string, token: string, alerting: boolean, ingestFrom: { n: number }) {
  // A connection each, so neither sits idle long enough for the server's keep-alive timeout to
  // close it (bench/http.ts's client does not notice a connection closed while idle).
  const lister = new Client(url, 1)
  const ingester = new Client(url, 1)
  const auth = { authorization: `Bearer ${token}` }
  const lists: number[] = []
  const ingests: Background['ingests'] = []
  let stopping = false
  let failure: Error | undefined
  const t0 = process.hrtime.bigint()
  const listing = (async () => {
    for (let next = 0; !stopping; next += LIST_EVERY_MS) {
      // Paced: the next request at its time, or at once when the last one took longer.
      while (!stopping && elapsed(t0) * 1000 < next) await sleep(Math.min(10, next - elapsed(t0) * 1000))
      if (stopping) return
      const t = process.hrtime.bigint()
      const reply = await timed(lister.send('GET', LIST_PATH, auth), 'list')
      if (reply.status !== 200) throw new Error(`list: ${reply.status} ${reply.body.slice(0, 200)}`)
      lists.push(Number(process.hrtime.bigint() - t) / 1e6)
    }
  })().catch((err: Error) => void (failure ??= err))
  const ingesting = (async () => {
    for (let next = 1000; ; next += INGEST_EVERY_MS) {
      while (!stopping && elapsed(t0) * 1000 < next) await sleep(50)
      if (stopping) return
      const t = process.hrtime.bigint()
      const body = ingestBody(ingestFrom.n++, alerting)
      const reply = await timed(ingester.send('POST', '/api/events/bulk', { ...auth, 'content-type': 'application/x-ndjson' }, body), 'ingest')
      if (reply.status !== 200) throw new Error(`ingest: ${reply.status} ${reply.body.slice(0, 200)}`)
      const r = JSON.parse(reply.body) as { accepted: number }
      if (r.accepted !== INGEST_RECORDS) throw new Error(`ingest: accepted ${r.accepted} of ${INGEST_RECORDS}: ${reply.body.slice(0, 200)}`)
      ingests.push({ accepted: r.accepted, ms: Number(process.hrtime.bigint() - t) / 1e6 })
    }
  })().catch((err: Error) => void (failure ??= err))
  return {
    async stop(): Promise<Background> {
      stopping = true
      await Promise.all([listing, ingesting])
      lister.close()
      ingester.close()
      if (failure) throw failure
      return { lists, seconds: elapsed(t0), ingests }
    }
  }
}

/**
 * Runs `script` in one psql session fed on its standard input; resolves once its last statement
 * is done, with the session still open (so its backend's CPU can still be read from /proc), to a
 * function that ends it. Fails when psql stops at an error (ON_ERROR_STOP).
 */
function psqlSession(dbUrl: string, script: string): Promise<() => Promise<void>> {
  const mark = `done-${randomBytes(4).toString('hex')}`
  const child = spawn(findBin('psql'), [dbUrl, '-X', '-q', '-v', 'ON_ERROR_STOP=1'], { stdio: ['pipe', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  let out = ''
  let err = ''
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes(mark))
        resolve(async () => {
          child.stdin.end()
          await exited
        })
    })
    void exited.then((code) => reject(new Error(`psql exited with ${String(code)} before its script was done: ${err.slice(0, 500)}`)))
    child.stdin.write(`${script}\\echo ${mark}\n`)
  })
}

function addBackground(phase: string, b: Background) {
  const prev = backgrounds.get(phase)
  if (!prev) return void backgrounds.set(phase, b)
  prev.lists.push(...b.lists)
  prev.seconds += b.seconds
  prev.ingests.push(...b.ingests)
}

function addResult(phase: string, alerts: number, seconds: number, cpu: Cpu) {
  const r = results.find((x) => x.phase === phase)
  if (!r) return void results.push({ phase, alerts, seconds, cpu, rounds: [alerts / seconds] })
  r.alerts += alerts
  r.seconds += seconds
  r.cpu = { vigil: r.cpu.vigil + cpu.vigil, pg: r.cpu.pg + cpu.pg, bench: r.cpu.bench + cpu.bench }
  r.rounds.push(alerts / seconds)
}

async function main() {
  const scratch = await scratchDatabase(BASE_URL, 'vigil_bench_triage')
  const { dbName, dbUrl } = scratch
  // Interrupted (Ctrl-C, a timeout's SIGTERM): the scratch database goes too. Vigil is killed by
  // its own exit handler (bench/server.ts) when this process exits.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: dropping ${dbName}`)
      try {
        execFileSync(findBin('psql'), [BASE_URL, '-X', '-q', '-c', `drop database if exists ${dbName} with (force)`], { stdio: 'ignore' })
      } finally {
        process.exit(130)
      }
    })
  }
  log(`scratch database ${dbName}; ${ALERTS} alerts a set, batches of ${BATCH}, ${ROUNDS} round(s)`)
  const password = randomBytes(18).toString('base64url')
  let vigil: Vigil | undefined
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} })
  try {
    vigil = await startVigil(
      {
        NODE_ENV: 'production',
        DATABASE_URL: dbUrl,
        JWT_SECRET: randomBytes(48).toString('base64url'),
        LOG_LEVEL: 'warn',
        ADMIN_USERNAME: 'bench-admin',
        ADMIN_PASSWORD: password,
        ACCESS_TOKEN_TTL: String(24 * 3600),
        BULK_JOB_BATCH: String(BATCH)
      },
      (env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)
    )
    const login = new Client(vigil.url, 1)
    const { access } = await timed(login.json<{ access: string }>('POST', '/api/token/', {}, { username: 'bench-admin', password }, 200), 'token')
    login.close()
    const auth = { authorization: `Bearer ${access}` }
    const [admin] = await sql<{ id: number; username: string }[]>`select id::int, username from users where username = 'bench-admin'`
    log(`Vigil pid ${vigil.pid} at ${vigil.url}; admin user ${admin.id}`)
    // Today's partition and the days ahead are Vigil's; the last 24 hours reach into yesterday.
    await sql`select vigil_event_partition(d::date, d::date + 1)
              from generate_series((now() at time zone 'UTC')::date - 1, (now() at time zone 'UTC')::date, interval '1 day') d`
    const counting = drizzle(sql, { schema }) as unknown as Db
    const ingestFrom = { n: 0 }

    /** One set of alerts as ingestion stores them (event, alert, `raised` history row), by SQL. */
    const seedSet = async (set: 'a' | 'b') => {
      await sql.unsafe(`
        with e as (
          insert into events (source, event_type, severity, description, "timestamp", attributes, updated_at)
          select 'host-${set}-' || (g % ${SOURCES}), (array['intrusion', 'malware', 'anomaly'])[g % 3 + 1]::event_type,
                 (case when g % 3 = 0 then 'Critical' else 'High' end)::severity, 'bench event ' || g, t,
                 jsonb_build_object('host', 'host-${set}-' || (g % ${SOURCES}), 'shipper', 'bench'), t
          from generate_series(1, ${ALERTS}) g, lateral (select now() - (1 - g::float8 / ${ALERTS}) * interval '24 hours' as t) x
          returning id, "timestamp", severity, event_type, source
        ), a as (
          insert into alerts (event_id, event_timestamp, severity, event_type, source, created_at, updated_at)
          select id, "timestamp", severity, event_type, source, "timestamp", "timestamp" from e order by id
          returning id, created_at
        )
        insert into alert_history (alert_id, created_at, action, after)
        select id, created_at, 'raised', '{"status": "Open"}'::jsonb from a`)
    }
    const verifySet = async (phase: string, set: 'a' | 'b') => {
      const pattern = `host-${set}-%`
      const [v] = await sql<{ total: number; resolved: number; history: number; audit: number }[]>`
        select (select count(*) from alerts where source like ${pattern})::int as total,
               (select count(*) from alerts where source like ${pattern} and status = 'Resolved' and version = 2
                  and verdict = 'benign_positive' and reason = 'bench' and resolved_at is not null and acknowledged_at is not null)::int as resolved,
               (select count(*) from alert_history h join alerts a on a.id = h.alert_id
                  where a.source like ${pattern} and h.action = 'changed' and h.actor_id = ${admin.id})::int as history,
               (select count(*) from audit_log l join alerts a on a.id::text = l.target_id
                  where l.target_type = 'alert' and l.action = 'alert.status_changed' and a.source like ${pattern} and l.actor_id = ${admin.id})::int as audit`
      const ok = v.total === ALERTS && v.resolved === ALERTS && v.history === ALERTS && v.audit === ALERTS
      log(`  ${phase}: set ${set.toUpperCase()} ${v.total} alerts, ${v.resolved} resolved at version 2, ${v.history} 'changed' history rows, ${v.audit} audit rows ${ok ? 'ok' : 'MISMATCH'}`)
      if (!ok) throw new Error(`${phase}: the database does not hold ${ALERTS} resolved alerts with their history and audit rows`)
    }
    const settle = async () => {
      await sql`vacuum analyze`
      await sql`checkpoint`
    }

    for (let round = 1; round <= ROUNDS; round++) {
      // ------------------------------------------------------------------ seed (untimed)
      log(`round ${round}: seeding 2 x ${ALERTS} alerts`)
      const t0 = process.hrtime.bigint()
      await sql`truncate events, event_keys, alerts, alert_history, audit_log, bulk_jobs, bulk_job_items, alert_hours, alert_hours_dirty restart identity cascade`
      await seedSet('b')
      await seedSet('a')
      while ((await countAlertHours(counting)) > 0);
      await settle()
      const [ids] = await sql<{ lo: number; hi: number; n: number }[]>`select min(id)::int as lo, max(id)::int as hi, count(*)::int as n from alerts where source like 'host-b-%'`
      if (ids.n !== ALERTS || ids.hi - ids.lo + 1 !== ALERTS) throw new Error(`seed: set B is not ${ALERTS} alerts of consecutive ids`)
      log(`  seeded in ${elapsed(t0).toFixed(1)} s`)

      if (round === 1) {
        // Listing alone, for comparison with listing beside each side; after a few untimed lists
        // (the first prepares the page statement and fills the count estimate's cache).
        const warm = new Client(vigil.url, 1)
        for (let i = 0; i < 20; i++) await timed(warm.json('GET', LIST_PATH, auth, undefined, 200), 'list')
        warm.close()
        const idle = startBackground(vigil.url, access, false, ingestFrom)
        await sleep(IDLE_LIST_MS)
        addBackground('nothing else (before)', await idle.stop())
      }

      // ------------------------------------------------------------------ raw UPDATE, set B
      const batches: string[] = []
      for (let lo = ids.lo; lo <= ids.hi; lo += BATCH) {
        const hi = Math.min(ids.hi, lo + BATCH - 1)
        // An Open alert has no verdict or reason (a reopen clears them), so `before` is the same for
        // every row this WHERE takes: the fields the job's history row names, as the job writes them.
        batches.push(`with u as (
  update alerts set status = 'Resolved', verdict = 'benign_positive', reason = 'bench', resolved_at = now(),
    acknowledged_at = coalesce(acknowledged_at, now()), version = version + 1, updated_at = now()
  where id between ${lo} and ${hi} and status = 'Open'
  returning id
), h as (
  insert into alert_history (alert_id, actor_id, actor, action, before, after)
  select id, ${admin.id}, '${admin.username}', 'changed', '{"status": "Open", "verdict": null, "reason": null}', '{"status": "Resolved", "verdict": "benign_positive", "reason": "bench"}' from u
)
insert into audit_log (actor_id, actor, action, target_type, target_id, before, after)
select ${admin.id}, '${admin.username}', 'alert.status_changed', 'alert', id::text, '{"status": "Open"}', '{"status": "Resolved"}' from u;
`)
      }
      log(`  ${RAW}: ${batches.length} statements`)
      {
        const bg = startBackground(vigil.url, access, false, ingestFrom)
        const t = process.hrtime.bigint()
        const { result: end, cpu } = await cpuDuring(vigil.pid, dbName, () => psqlSession(dbUrl, batches.join('')))
        const seconds = elapsed(t)
        await end()
        addBackground(RAW, await bg.stop())
        addResult(RAW, ALERTS, seconds, cpu)
        log(`  ${RAW}: ${seconds.toFixed(1)} s`)
      }
      await verifySet(RAW, 'b')
      await settle()

      // ------------------------------------------------------------------ bulk job, set A
      {
        const [{ before: raisedBefore }] = await sql<{ before: number }[]>`select count(*)::int as before from alerts where source like 'ingest-%'`
        const bg = startBackground(vigil.url, access, true, ingestFrom)
        const t = process.hrtime.bigint()
        // Its own connection, fresh: the job's POST and then a poll every POLL_MS.
        const control = new Client(vigil.url, 1)
        const {
          result: { job, running, seconds },
          cpu
        } = await cpuDuring(vigil.pid, dbName, async () => {
          const created = await timed(control.json<{ id: number }>('POST', '/api/alerts/bulk/', auth, { filter: { status: 'Open' }, set: SET }, 202), 'bulk job')
          let running: number | undefined
          let job: { state: string; matched: number; updated: number; skipped: Record<string, number>; failed: number; error: string | null; created_at: string; started_at: string | null; finished_at: string | null }
          for (;;) {
            job = await timed(control.json('GET', `/api/alerts/bulk/${created.id}/`, auth, undefined, 200), 'bulk job poll')
            if (job.state === 'done') break
            if (job.state === 'running' && running === undefined) running = elapsed(t)
            await sleep(POLL_MS)
          }
          return { job, running, seconds: elapsed(t) }
        })
        control.close()
        const b = await bg.stop()
        addBackground(JOB, b)
        addResult(JOB, ALERTS, seconds, cpu)
        const skipped = Object.values(job.skipped).reduce((n, x) => n + x, 0)
        const server = (from: string | null, to: string | null) => (from && to ? ((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1) : '?')
        log(`  ${JOB}: ${seconds.toFixed(1)} s; matched ${job.matched}, updated ${job.updated}, skipped ${skipped}, failed ${job.failed}`)
        jobNotes.push(
          `round ${round}: first seen running after ${running === undefined ? '?' : running.toFixed(1)} s (its set fixed); server clock: created -> started ${server(job.created_at, job.started_at)} s, started -> finished ${server(job.started_at, job.finished_at)} s; ` +
            `matched ${job.matched}, updated ${job.updated}, skipped ${skipped}, failed ${job.failed}`
        )
        if (job.matched !== ALERTS || job.updated !== ALERTS || job.failed !== 0 || skipped !== 0) {
          throw new Error(`bulk job: expected ${ALERTS} matched and updated, none skipped or failed: ${JSON.stringify(job)}`)
        }
        await verifySet(JOB, 'a')
        // Alerts raised while the job ran are not in its set.
        const [late] = await sql<{ n: number; open: number }[]>`
          select count(*)::int as n, (count(*) filter (where status = 'Open' and version = 1))::int as open from alerts where source like 'ingest-%'`
        const raised = late.n - raisedBefore
        log(`  ${JOB}: ${raised} alerts raised by ingestion while it ran, ${late.open} of ${late.n} ingest alerts still Open at version 1 ${late.open === late.n ? 'ok' : 'MISMATCH'}`)
        if (late.open !== late.n) throw new Error('bulk job: it changed alerts raised after it was asked for')
      }
    }
  } finally {
    await vigil?.stop()
    await sql.end({ timeout: 5 })
    await scratch.drop()
    log(`dropped ${dbName}`)
  }
  report()
}

function report() {
  const pad = (s: string | number, n: number) => String(s).padEnd(n)
  const lpad = (s: string | number, n: number) => String(s).padStart(n)
  const rate = (r: Result) => r.alerts / r.seconds
  const raw = results.find((r) => r.phase === RAW)
  const job = results.find((r) => r.phase === JOB)
  console.log(
    `\nVigil bulk triage benchmark (${ALERTS} alerts a set, batches of ${BATCH} = BULK_JOB_BATCH, ${ROUNDS} round(s); ` +
      `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')})`
  )
  console.log(`${pad('phase', 28)}${lpad('alerts', 9)}${lpad('seconds', 9)}${lpad('alerts/s', 10)}  ${pad('CPU us/alert: vigil   pg bench', 32)}ratio`)
  for (const r of results) {
    const us = (s: number) => lpad(((s / r.alerts) * 1e6).toFixed(0), 5)
    const ratio = r === job && raw ? `${(rate(r) / rate(raw)).toFixed(2)} of ${RAW}` : ''
    console.log(`${pad(r.phase, 28)}${lpad(r.alerts, 9)}${lpad(r.seconds.toFixed(1), 9)}${lpad(Math.round(rate(r)), 10)}  ${pad(`             ${us(r.cpu.vigil)} ${us(r.cpu.pg)} ${us(r.cpu.bench)}`, 32)}${ratio}`)
  }
  console.log(
    [
      'CPU: of the Vigil process (the job, and the list and ingest requests beside it), of the PostgreSQL backends of the scratch database (psql\'s included), and of this process (the listing client); psql itself is not counted.',
      `raw UPDATE: one statement a batch of ${BATCH} consecutive ids (autocommit, so a transaction each): UPDATE ... WHERE id BETWEEN .. AND status = 'Open' RETURNING id, a history row and an audit row per alert from it.`,
      `bulk job: POST /api/alerts/bulk/ {filter: {status: Open}}, polled every ${POLL_MS} ms until done; its set is fixed (bulk_job_items) inside the timed span.`,
      ...results.map((r) => `${r.phase}: ${((r.seconds / Math.ceil(r.alerts / BATCH)) * 1000).toFixed(1)} ms a batch of ${BATCH} on average`),
      ...jobNotes.map((n) => `bulk job ${n}`)
    ].join('\n')
  )
  const pace = LIST_EVERY_MS > 0 ? `a request every ${LIST_EVERY_MS} ms (or at once after a slower one)` : 'back to back'
  console.log(`\nBeside each phase: one client listing GET ${LIST_PATH}, ${pace}; one bulk ingest request of ${INGEST_RECORDS} events every ${INGEST_EVERY_MS / 1000} s`)
  console.log(`${pad('beside', 28)}${lpad('lists', 7)}${lpad('lists/s', 9)}${lpad('p50 ms', 8)}${lpad('p99 ms', 8)}${lpad('max ms', 8)}   ${pad('ingest requests', 16)}${lpad('accepted', 9)}${lpad('max ms', 8)}`)
  for (const [phase, b] of backgrounds) {
    const sorted = [...b.lists].sort((x, y) => x - y)
    const accepted = b.ingests.reduce((n, i) => n + i.accepted, 0)
    const maxIngest = b.ingests.reduce((m, i) => Math.max(m, i.ms), 0)
    console.log(
      `${pad(phase, 28)}${lpad(sorted.length, 7)}${lpad((sorted.length / b.seconds).toFixed(0), 9)}${lpad(percentile(sorted, 50).toFixed(1), 8)}${lpad(percentile(sorted, 99).toFixed(1), 8)}${lpad((sorted.at(-1) ?? NaN).toFixed(0), 8)}   ` +
        `${pad(b.ingests.length, 16)}${lpad(accepted, 9)}${lpad(b.ingests.length ? maxIngest.toFixed(0) : '-', 8)}`
    )
  }
  console.log('\nTargets')
  if (raw && job) {
    const ratio = rate(job) / rate(raw)
    const perRound = job.rounds.length > 1 ? `; rounds ${job.rounds.map((x, i) => (x / raw.rounds[i]).toFixed(2)).join(' ')}` : ''
    console.log(`  bulk job >= 0.3 of raw UPDATE: ${ratio.toFixed(2)}  ${ratio >= 0.3 ? 'ok' : 'MISSED'}${perRound}`)
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
