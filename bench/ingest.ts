// Ingestion benchmark (npm run bench:ingest). Against ONE PostgreSQL, in one run, on a scratch
// database of its own (created here, migrated by Vigil itself, dropped at the end), it measures:
//   (a) raw COPY of the event rows with psql's \copy: the database's own speed, the baseline;
//   (b) POST /api/events/bulk: NDJSON, 1,000 records a request, N connections, plain and gzip;
//   (c) POST /api/events/ one event a request, driven by wrk, vs pgbench's single-row INSERTs (an
//       event and, for a High or Critical one, its alert in one transaction) at the same concurrency;
//   (d) Vigil's resident memory while it ingests a body at the decompressed limit (100 MiB);
//   (e) detection: the bulk and single-event phases again with 200 active Sigma rules and 5
//       correlations (bench/rules.ts), in the same rounds as without them, against them.
// and prints rows/s and the ratios against the baselines. Vigil runs as a child process, as
// `npm start` runs it, so it has its own event loop and its own RSS. Not part of `npm test`.
//
// Both baselines are C clients (psql, pgbench), as lean as wrk on the HTTP side: a Node driver
// on the database side would sit below what PostgreSQL does and flatter the ratios. Both sides
// reach a PostgreSQL on this machine through its Unix socket (bench/pg.ts localSocketDir;
// BENCH_SOCKET_DIR=none for TCP).
//
// Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_ROWS
// (200000), BENCH_SECONDS (5: each single-event round of each side), BENCH_ROUNDS (5: the
// single-event phases take turns this many times, and so do COPY and the bulk phases), BENCH_WARM
// (3 s per single-event side first, untimed), BENCH_CONNECTIONS (4, for bulk), BENCH_SINGLE_CONNECTIONS (16), BENCH_LOG_LEVEL (Vigil's LOG_LEVEL, warn),
// BENCH_PHASES (copy,bulk,single,detection,memory), BENCH_NODE_ARGS (extra node options for Vigil, e.g.
// "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it), BENCH_VIGIL_ENV (extra Vigil settings,
// e.g. "DB_POOL_MAX=4").
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import postgres from 'postgres'
import {
  COPY_COLUMNS,
  COPY_KEY_COLUMNS,
  copyChunks,
  gzipAll,
  isAlerting,
  makeRecord,
  makeRecords,
  ndjsonBodies,
  rng,
  type BenchRecord
} from './data.js'
import { cpuDuring, type Cpu } from './cpu.js'
import { Client, drive } from './http.js'
import { BENCH_CORRELATIONS, BENCH_RULES, benchModels, PROBE_TEXT } from './rules.js'
import { findBin, localSocketDir, scratchDatabase, viaSocket } from './pg.js'
import { extraVigilEnv, sampleRss, startVigil, type Vigil } from './server.js'

const env = process.env
const BASE_URL = env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const socketDir = localSocketDir(BASE_URL)
const ROWS = Number(env.BENCH_ROWS ?? 200_000)
const SINGLE_SECONDS = Number(env.BENCH_SECONDS ?? 5)
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 4)
const SINGLE_CONNECTIONS = Number(env.BENCH_SINGLE_CONNECTIONS ?? 16)
const ROUNDS = Number(env.BENCH_ROUNDS ?? 5)
const PER_REQUEST = 1000
const PHASES = new Set((env.BENCH_PHASES ?? 'copy,bulk,single,detection,memory').split(','))
/** Vigil's defaults: INGEST_MAX_BODY_BYTES, INGEST_MAX_DECOMPRESSED_BYTES, INGEST_MAX_RECORDS. */
const WIRE_LIMIT = 10 * 1024 * 1024
const DECOMPRESSED_LIMIT = 100 * 1024 * 1024
const MAX_RECORDS = 10_000

const MB = 1024 * 1024
const log = (msg: string) => process.stderr.write(`${msg}\n`)

interface Result {
  phase: string
  rows: number
  seconds: number
  /** Name of the baseline this phase is compared with. */
  vs?: string
  cpu: Cpu
  /** Rows/s of each round, when the phase ran in rounds. */
  rounds: number[]
  /** The ratio it must reach against `vs`, when not the default of its kind. */
  target?: number
}
interface MemoryResult {
  phase: string
  records: number
  bodyBytes: number
  wireBytes: number
  seconds: number
  idleRss: number
  peakRss: number
  hwm: number
  samples: number
  note: string
}

const results: Result[] = []
const execFileAsync = promisify(execFile)
/** Runs a program to its end; its standard output. */
const run = async (cmd: string, args: string[]) => (await execFileAsync(cmd, args, { maxBuffer: 64 * MB })).stdout
/** Scratch files of this run (COPY data, pgbench and wrk scripts). */
const work = mkdtempSync(join(tmpdir(), 'vigil-bench-ingest-'))
const memory: MemoryResult[] = []
const rate = (r: Result) => r.rows / r.seconds

async function main() {
  const runId = randomBytes(4).toString('hex')
  const scratch = await scratchDatabase(BASE_URL, 'vigil_bench')
  const { dbName, dbUrl } = scratch
  log(`scratch database ${dbName}`)

  const adminPassword = randomBytes(18).toString('base64url')
  const vigilEnv: Record<string, string> = {
    NODE_ENV: 'production',
    DATABASE_URL: viaSocket(dbUrl, socketDir),
    JWT_SECRET: randomBytes(48).toString('base64url'),
    LOG_LEVEL: env.BENCH_LOG_LEVEL ?? 'warn',
    ADMIN_USERNAME: 'bench-admin',
    ADMIN_PASSWORD: adminPassword,
    ACCESS_TOKEN_TTL: '3600',
    ...extraVigilEnv()
  }
  const nodeArgs = (env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)

  let vigil: Vigil | undefined
  let client: Client | undefined
  const sql = postgres(dbUrl, { max: CONNECTIONS, onnotice: () => {} })
  try {
    // Vigil runs its migrations and creates the bootstrap admin before it listens.
    vigil = await startVigil(vigilEnv, nodeArgs)
    client = new Client(vigil.url, CONNECTIONS)
    const { access } = await client.json<{ access: string }>('POST', '/api/token/', {}, { username: 'bench-admin', password: adminPassword }, 200)
    const adminAuth = { authorization: `Bearer ${access}` }
    const { key } = await client.json<{ key: string }>('POST', '/api/ingest-keys/', adminAuth, { name: 'bench' }, 201)
    log(`Vigil pid ${vigil.pid} at ${vigil.url}, LOG_LEVEL=${vigilEnv.LOG_LEVEL}; ingest key created`)

    /** Runs one timed phase (or one round of it) and adds its wall time and the CPU each party spent. */
    const measure = async (phase: string, rows: number, run: () => Promise<unknown>, vs?: string, target?: number) => {
      const t0 = process.hrtime.bigint()
      const { cpu } = await cpuDuring(vigil?.pid, dbName, run)
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9
      const r = results.find((x) => x.phase === phase)
      if (!r) return void results.push({ phase, rows, seconds, vs, cpu, rounds: [rows / seconds], target })
      r.rows += rows
      r.seconds += seconds
      r.cpu = { vigil: r.cpu.vigil + cpu.vigil, pg: r.cpu.pg + cpu.pg, bench: r.cpu.bench + cpu.bench }
      r.rounds.push(rows / seconds)
    }
    const reset = async () => {
      await sql`truncate events, alerts, alert_history, event_keys, detection_hits, detection_marks, detection_buckets restart identity cascade`
      // Each phase starts from an empty table and without a pending checkpoint.
      await sql`checkpoint`
    }
    const verify = async (phase: string, events: number, alerts: number | undefined) => {
      // The events a correlation's firing raises (external_id correlation:...) are not what was sent.
      const [{ e, f }] = await sql<{ e: number; f: number }[]>`
        select count(*) filter (where external_id is null or external_id not like 'correlation:%')::int as e,
               count(*) filter (where external_id like 'correlation:%')::int as f
        from events`
      const [{ a }] = await sql<{ a: number }[]>`select count(*)::int as a from alerts`
      const ok = e === events && (alerts === undefined || a === alerts)
      const fired = f > 0 ? `, and ${f} correlation firings` : ''
      log(`  ${phase}: events ${e} (expected ${events})${fired}, alerts ${a}${alerts === undefined ? '' : ` (expected ${alerts})`} ${ok ? 'ok' : 'MISMATCH'}`)
      if (!ok) throw new Error(`${phase}: the database does not hold what was sent`)
    }

    // (e) The detection load, created inactive; the detection phases turn it on for their turn. A
    // probe event that the probe rule raises to Medium tells when Vigil runs what was switched.
    const detection = PHASES.has('detection')
    if (detection) {
      for (const m of benchModels()) await client.json('POST', '/api/models/', adminAuth, { ...m, is_active: false }, 201)
      log(`  detection: ${BENCH_RULES} rules and ${BENCH_CORRELATIONS} correlations created (inactive)`)
    }
    let probes = 0
    const setModels = async (active: boolean) => {
      await sql`update models set is_active = ${active}`
      const deadline = Date.now() + 30_000
      for (;;) {
        if (Date.now() > deadline) throw new Error(`detection: the models did not turn ${active ? 'on' : 'off'} within 30 s`)
        const probe = { source: 'bench-probe', event_type: 'malware', severity: 'Low', description: PROBE_TEXT, external_id: `probe-${runId}-${++probes}` }
        const e = await client!.json<{ severity: string }>('POST', '/api/events/', adminAuth, probe, 201)
        if ((e.severity === 'Medium') === active) return
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
    const WITH_RULES = `, ${BENCH_RULES} rules + ${BENCH_CORRELATIONS} correlations`

    const records = makeRecords(ROWS, `b${runId}`)
    const bulkRecords = records.slice(0, ROWS)
    const alertsOf = (rs: BenchRecord[]) => rs.filter((r) => isAlerting(r.severity)).length

    // (a) raw COPY and (b) the bulk endpoint, taking turns ------------------------------------------
    if (PHASES.has('copy') || PHASES.has('bulk')) {
      // psql's \copy from files written beforehand, so the timed part is the COPY alone: as many
      // psql processes as the bulk side has connections, each copying its share of the rows.
      const copy = async (chunks: ReturnType<typeof copyChunks>) => {
        const files = Array.from({ length: CONNECTIONS }, (_, i) => {
          const mine = chunks.filter((_, c) => c % CONNECTIONS === i)
          const file = join(work, `rows-${i}.copy`)
          writeFileSync(file, Buffer.concat(mine.map((c) => c.events)))
          writeFileSync(`${file}.keys`, Buffer.concat(mine.map((c) => c.keys)))
          return file
        })
        return () =>
          Promise.all(
            files.map((file) =>
              run(findBin('psql'), [
                viaSocket(dbUrl, socketDir), '-q', '-v', 'ON_ERROR_STOP=1',
                '-c', `\\copy event_keys (${COPY_KEY_COLUMNS}) from '${file}.keys'`,
                '-c', `\\copy events (${COPY_COLUMNS}) from '${file}'`
              ])
            )
          )
      }
      const plain = ndjsonBodies(bulkRecords, PER_REQUEST)
      const gzipped = gzipAll(plain)
      const wire = (bs: Buffer[]) => bs.reduce((n, b) => n + b.length, 0)
      log(`  bulk bodies: ${plain.length} x ${PER_REQUEST} records, ${(wire(plain) / MB).toFixed(1)} MiB plain, ${(wire(gzipped) / MB).toFixed(1)} MiB gzip`)
      /** Sends bodies[from..to) over CONNECTIONS connections; each reply must accept its whole body. */
      const bulk = async (bodies: Buffer[], gzip: boolean, from: number, to: number) => {
        const headers: Record<string, string> = {
          'content-type': 'application/x-ndjson',
          authorization: `Bearer ${key}`,
          ...(gzip ? { 'content-encoding': 'gzip' } : {})
        }
        return drive(to - from, CONNECTIONS, async (i) => {
          const reply = await client!.send('POST', '/api/events/bulk', headers, bodies[from + i])
          if (reply.status !== 200) throw new Error(`bulk: ${reply.status} ${reply.body.slice(0, 300)}`)
          const r = JSON.parse(reply.body) as { accepted: number; rejected: number; duplicates: number }
          const expected = Math.min(PER_REQUEST, bulkRecords.length - (from + i) * PER_REQUEST)
          if (r.accepted !== expected) throw new Error(`bulk: accepted ${r.accepted} of ${expected}: ${reply.body.slice(0, 300)}`)
        })
      }
      const variants = PHASES.has('bulk')
        ? ([
            ['plain', plain, false],
            ['gzip', gzipped, true]
          ] as const)
        : []
      // Warm-up, untimed: JIT, connection pools, the server's caches (and the detection engine's).
      if (detection && variants.length > 0) {
        await setModels(true)
        await reset()
        await bulk(plain, false, 0, Math.min(30, plain.length))
        await setModels(false)
      }
      await reset()
      await (await copy(copyChunks(bulkRecords.slice(0, 5000), 64 * 1024)))()
      for (const [, bodies, gzip] of variants) {
        await reset()
        // 30 requests: with 10, the first timed round still ran ~25 % slow.
        await bulk(bodies, gzip, 0, Math.min(30, bodies.length))
      }
      // Like the single-event phases, in ROUNDS turns over shares of the rows, so that COPY and the
      // endpoint meet the same drift in disk and CPU speed on a shared machine.
      const share = Math.ceil(plain.length / ROUNDS)
      for (let from = 0; from < plain.length; from += share) {
        const to = Math.min(plain.length, from + share)
        const rows = bulkRecords.slice(from * PER_REQUEST, to * PER_REQUEST)
        const copyRows = await copy(copyChunks(rows, 256 * 1024))
        await reset()
        await measure(`raw COPY (psql, ${CONNECTIONS} conns)`, rows.length, copyRows)
        await verify('raw COPY', rows.length, 0)
        for (const [name, bodies, gzip] of variants) {
          await reset()
          await measure(`bulk NDJSON ${name} (${CONNECTIONS} conns)`, rows.length, () => bulk(bodies, gzip, from, to), `raw COPY (psql, ${CONNECTIONS} conns)`)
          await verify(`bulk ${name}`, rows.length, alertsOf(rows))
        }
        if (detection && variants.length > 0) {
          await setModels(true)
          await reset()
          const plainPhase = `bulk NDJSON plain (${CONNECTIONS} conns)`
          await measure(`bulk NDJSON plain${WITH_RULES}`, rows.length, () => bulk(plain, false, from, to), plainPhase, 0.7)
          // The rules raise some severities, so the alerts are not those of the records as sent.
          await verify('bulk with detection', rows.length, undefined)
          await setModels(false)
        }
      }
    }

    // (c) single events: wrk against POST /api/events/, pgbench against the table -----------------
    if (PHASES.has('single')) {
      // One event a transaction, 10 % of them High or Critical with their alert in the same
      // transaction, as Vigil stores them; unique external ids, each claimed in event_keys.
      const pgbenchScript = join(work, 'single.sql')
      writeFileSync(
        pgbenchScript,
        [
          '\\set r random(1, 100)',
          '\\set n random(1, 1000000000000)',
          // As Vigil stores them: the key claimed, then the event only if it was, in one statement.
          '\\if :r <= 10',
          "WITH k AS (INSERT INTO event_keys (source, external_id, event_timestamp) VALUES ('host-' || (:n % 50), 'p-' || :n, now()) ON CONFLICT DO NOTHING RETURNING 1), e AS (INSERT INTO events (source, event_type, severity, description, external_id, attributes) SELECT 'host-' || (:n % 50), 'intrusion', 'High', 'bench event from pgbench', 'p-' || :n, '{\"host\": \"h\", \"shipper\": \"bench\"}' WHERE EXISTS (SELECT 1 FROM k) RETURNING id, \"timestamp\", severity, event_type, source) INSERT INTO alerts (event_id, event_timestamp, severity, event_type, source) SELECT id, \"timestamp\", severity, event_type, source FROM e;",
          '\\else',
          "WITH k AS (INSERT INTO event_keys (source, external_id, event_timestamp) VALUES ('host-' || (:n % 50), 'p-' || :n, now()) ON CONFLICT DO NOTHING RETURNING 1) INSERT INTO events (source, event_type, severity, description, external_id, attributes) SELECT 'host-' || (:n % 50), 'intrusion', 'Low', 'bench event from pgbench', 'p-' || :n, '{\"host\": \"h\", \"shipper\": \"bench\"}' WHERE EXISTS (SELECT 1 FROM k);",
          '\\endif',
          ''
        ].join('\n')
      )
      const u = new URL(dbUrl)
      const pgbench = async (seconds: number) => {
        const out = await run(findBin('pgbench'), [
          '-n', '-c', String(SINGLE_CONNECTIONS), '-j', '2', '-T', String(seconds), '-f', pgbenchScript,
          '-h', socketDir ?? u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres'), dbName
        ])
        return Number(/number of transactions actually processed: (\d+)/.exec(out)![1])
      }
      // wrk makes each body: a unique external id per thread and request, 10 % High or Critical.
      const wrkScript = join(work, 'single.lua')
      writeFileSync(
        wrkScript,
        `local threads = 0
setup = function(thread) thread:set("tid", threads); threads = threads + 1 end
local n = 0
request = function()
  n = n + 1
  local r = math.random(100)
  local severity = r <= 7 and "High" or (r <= 10 and "Critical" or (r <= 40 and "Medium" or "Low"))
  local body = string.format('{"source":"host-%d","event_type":"intrusion","severity":"%s","description":"bench event from wrk","external_id":"w${runId}-%d-%d-%d","attributes":{"host":"h","shipper":"bench"}}', n % 50, severity, tid, math.random(1000000000), n)
  return wrk.format("POST", "/api/events/", { ["content-type"] = "application/json", ["authorization"] = "${adminAuth.authorization}" }, body)
end
`
      )
      const wrk = async (seconds: number) => {
        const out = await run('wrk', ['-t2', `-c${SINGLE_CONNECTIONS}`, `-d${seconds}s`, '-s', wrkScript, vigil!.url])
        if (/Non-2xx or 3xx responses/.test(out)) throw new Error(`wrk saw error answers:\n${out}`)
        return Number(/(\d+) requests in/.exec(out)![1])
      }
      const [pgPhase, httpPhase] = [`raw INSERTs (pgbench, ${SINGLE_CONNECTIONS} clients)`, `POST /api/events/ (wrk, ${SINGLE_CONNECTIONS} conns)`]
      const rulesPhase = `POST /api/events/${WITH_RULES}`
      // V8 needs a few thousand requests to optimize Vigil's request path.
      const warm = Number(env.BENCH_WARM ?? 3)
      await reset()
      await pgbench(warm)
      await reset()
      await wrk(warm)
      // The sides take turns, ROUNDS times, for the same time each: on a shared machine the
      // commit latency drifts, and taking turns exposes both to the same drift.
      for (let round = 0; round < ROUNDS; round++) {
        const sides: [string, (seconds: number) => Promise<number>, string | undefined, number | undefined][] = [
          [pgPhase, pgbench, undefined, undefined],
          [httpPhase, wrk, pgPhase, undefined]
        ]
        // At most 15 % lost to detection: 0.85 of the same endpoint without models.
        if (detection) sides.push([rulesPhase, wrk, httpPhase, 0.85])
        for (const [phase, side, vs, target] of sides) {
          if (phase === rulesPhase) await setModels(true)
          await reset()
          // What the client counted as done in its time; the table holds those and any still in
          // flight when the time ran out.
          const { result: done, cpu } = await cpuDuring(vigil?.pid, dbName, () => side(SINGLE_SECONDS))
          const r = results.find((x) => x.phase === phase)
          if (phase === rulesPhase) await setModels(false)
          if (!r) results.push({ phase, rows: done, seconds: SINGLE_SECONDS, vs, cpu, rounds: [done / SINGLE_SECONDS], target })
          else {
            r.rows += done
            r.seconds += SINGLE_SECONDS
            r.cpu = { vigil: r.cpu.vigil + cpu.vigil, pg: r.cpu.pg + cpu.pg, bench: r.cpu.bench + cpu.bench }
            r.rounds.push(done / SINGLE_SECONDS)
          }
          const [{ e }] = await sql<{ e: number }[]>`select count(*)::int as e from events`
          log(`  ${phase}: ${done} done, ${e} events stored ${e >= done ? 'ok' : 'MISMATCH'}`)
          if (e < done) throw new Error(`${phase}: the database holds fewer events than were acknowledged`)
        }
      }
    }

    await vigil.stop()
    vigil = undefined
    client.close()
    client = undefined

    // (d) memory at the decompressed limit ---------------------------------------------------------
    if (PHASES.has('memory')) {
      // Each body goes to a fresh Vigil, so its RSS is not inflated by the heap grown earlier.
      for (const variant of [
        { name: '10k records of ~10 KB', messageBytes: 10_100, maxRecords: MAX_RECORDS },
        { name: 'small records (~280 B)', messageBytes: 0, maxRecords: 1_000_000 }
      ]) {
        const next = rng(7)
        const lines: Buffer[] = []
        let size = 0
        const base = Date.parse('2026-03-02T00:00:00.000Z')
        for (let i = 0; lines.length < variant.maxRecords; i++) {
          const line = Buffer.from(makeRecord(next, `m${runId}-${variant.messageBytes}`, i, base, variant.messageBytes).line + '\n')
          if (size + line.length > DECOMPRESSED_LIMIT) break
          lines.push(line)
          size += line.length
        }
        const body = gzipSync(Buffer.concat(lines))
        const count = lines.length
        lines.length = 0
        const notes: string[] = []
        const extra: Record<string, string> = {}
        if (variant.maxRecords > MAX_RECORDS) {
          extra.INGEST_MAX_RECORDS = String(variant.maxRecords)
          notes.push(`INGEST_MAX_RECORDS=${variant.maxRecords}`)
        }
        if (body.length > WIRE_LIMIT) {
          extra.INGEST_MAX_BODY_BYTES = String(Math.ceil(body.length / MB) * MB)
          notes.push(`INGEST_MAX_BODY_BYTES=${extra.INGEST_MAX_BODY_BYTES}`)
        }
        await reset()
        const v = await startVigil({ ...vigilEnv, ...extra }, nodeArgs)
        const c = new Client(v.url, 1)
        try {
          const idleRss = v.rss()
          const sampler = sampleRss(v.rss, 50)
          const t0 = process.hrtime.bigint()
          const reply = await c.send(
            'POST',
            '/api/events/bulk',
            { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip', authorization: `Bearer ${key}` },
            body
          )
          const seconds = Number(process.hrtime.bigint() - t0) / 1e9
          const { peak, samples } = sampler.stop()
          if (reply.status !== 200) throw new Error(`memory: ${reply.status} ${reply.body.slice(0, 300)}`)
          const r = JSON.parse(reply.body) as { accepted: number; duplicates: number; rejected: number }
          log(`  memory ${variant.name}: reply accepted ${r.accepted}, duplicates ${r.duplicates}, rejected ${r.rejected} of ${count} sent ${r.accepted === count ? 'ok' : 'MISMATCH'}`)
          if (r.accepted !== count) throw new Error('memory: the reply does not count every record sent')
          await verify(`memory ${variant.name}`, count, undefined)
          memory.push({
            phase: variant.name,
            records: count,
            bodyBytes: size,
            wireBytes: body.length,
            seconds,
            idleRss,
            peakRss: peak,
            hwm: v.peakRss(),
            samples,
            note: notes.join(', ') || 'default limits'
          })
        } finally {
          c.close()
          await v.stop()
        }
      }
    }
  } finally {
    client?.close()
    await vigil?.stop()
    await sql.end({ timeout: 5 })
    await scratch.drop()
    log(`dropped ${dbName}`)
    rmSync(work, { recursive: true, force: true })
  }
  report()
}

function report() {
  const pad = (s: string | number, n: number) => String(s).padEnd(n)
  const lpad = (s: string | number, n: number) => String(s).padStart(n)
  const byName = new Map(results.map((r) => [r.phase, r]))
  const ratioOf = (r: Result) => {
    const base = r.vs ? byName.get(r.vs) : undefined
    return base ? rate(r) / rate(base) : undefined
  }
  console.log(`\nVigil ingestion benchmark (${CONNECTIONS} connections, ${PER_REQUEST} records per bulk request; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')})`)
  if (results.length > 0) {
    console.log(`${pad('phase', 36)}${lpad('rows', 8)}${lpad('seconds', 9)}${lpad('rows/s', 9)}  ${pad('CPU us/row: vigil   pg bench', 30)}ratio`)
    for (const r of results) {
      const ratio = ratioOf(r)
      const us = (s: number) => lpad(((s / r.rows) * 1e6).toFixed(s / r.rows < 1e-5 ? 1 : 0), 5)
      console.log(
        `${pad(r.phase, 36)}${lpad(r.rows, 8)}${lpad(r.seconds.toFixed(2), 9)}${lpad(Math.round(rate(r)), 9)}  ` +
          `${pad(`           ${us(r.cpu.vigil)} ${us(r.cpu.pg)} ${us(r.cpu.bench)}`, 30)}${ratio === undefined ? '' : `${ratio.toFixed(2)} of ${r.vs}`}`
      )
    }
    console.log(
      [
        'CPU: of the Vigil process, of the PostgreSQL backends of the scratch database, and of this process (the bulk client; psql, pgbench and wrk are not counted).',
        `raw COPY: psql's \\copy of the same event rows (attributes = the original line), ${CONNECTIONS} processes: their keys copied into event_keys (its unique index maintained), no alerts.`,
        'raw INSERTs: pgbench, one event a transaction, 10 % High with its alert in the same transaction; unique external ids.',
        `${ROUNDS} rounds: COPY and bulk take turns (bulk from a raw keep-alive socket client), and so do pgbench and wrk (${SINGLE_SECONDS} s each).`
      ].join('\n')
    )
  }
  if (memory.length > 0) {
    console.log(`\nResident memory of the Vigil process while one gzip body at the decompressed limit is ingested`)
    console.log(`${pad('body', 26)}${lpad('records', 8)}${lpad('MiB', 7)}${lpad('wire MiB', 10)}${lpad('seconds', 9)}${lpad('idle RSS', 10)}${lpad('peak RSS', 10)}${lpad('VmHWM', 8)}   limits`)
    for (const m of memory) {
      const mib = (n: number) => (n / MB).toFixed(0)
      console.log(
        `${pad(m.phase, 26)}${lpad(m.records, 8)}${lpad((m.bodyBytes / MB).toFixed(1), 7)}${lpad((m.wireBytes / MB).toFixed(1), 10)}${lpad(m.seconds.toFixed(2), 9)}` +
          `${lpad(mib(m.idleRss), 10)}${lpad(mib(m.peakRss), 10)}${lpad(mib(m.hwm), 8)}   ${m.note}`
      )
    }
    console.log(`RSS in MiB: peak sampled every 50 ms from /proc/<pid>/status VmRSS; VmHWM is the kernel's high-water mark since start.`)
  }
  console.log('\nTargets')
  const verdict = (ok: boolean) => (ok ? 'ok' : 'MISSED')
  for (const r of results) {
    const ratio = ratioOf(r)
    if (ratio === undefined || r.phase.startsWith(' ')) continue
    const target = r.target ?? (r.phase.startsWith('bulk') ? 0.5 : 0.7)
    const base = byName.get(r.vs!)!
    const perRound = r.rounds.length > 1 && r.rounds.length === base.rounds.length ? r.rounds.map((x, i) => x / base.rounds[i]) : []
    const spread = perRound.length > 0 ? `; rounds ${perRound.map((x) => x.toFixed(2)).join(' ')}` : ''
    console.log(`  ${pad(r.phase, 34)} ${ratio.toFixed(2)} of ${r.vs} (target >= ${target.toFixed(2)})  ${verdict(ratio >= target)}${spread}`)
  }
  for (const m of memory) {
    const mb = Math.max(m.peakRss, m.hwm) / 1e6
    console.log(`  ${pad(`peak RSS, ${m.phase}`, 34)} ${mb.toFixed(0)} MB (target < 300 MB)  ${verdict(mb < 300)}`)
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
