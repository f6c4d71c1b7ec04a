// List benchmark (npm run bench:list). On a scratch database of its own (created here, migrated by
// Vigil itself, dropped at the end), it loads BENCH_EVENTS events (1,000,000; a quarter High or
// Critical, so 250,000 alerts) through POST /api/events/bulk, then measures, at 16 connections:
//   - GET /api/alerts/                         the first page
//   - GET /api/alerts/?severity=High&status=Open  a filtered first page
//   - GET /api/alerts/?cursor=...              a page 100,000 alerts deep (reached by walking `next`)
//   - GET /api/alerts/stats/                   the dashboard counts (the alerts spread over the last
//                                              24 hours first, the closed hours counted)
//   - GET /api/alerts/?source=host-7&severity=Critical  a list within the exact-count bound
// each with wrk against Vigil and, beside it, pgbench at 16 clients running the raw SQL, the two
// taking turns in rounds: for a list, Vigil's own page (same filters, order, index, limit) as one
// plain statement, selecting the table's columns as stored (Vigil's selects the columns its items
// show, under their API names, and wraps the page to keep one plan for its prepared statement,
// src/pagination.ts; written out with its values, as pgbench sends it, the plain statement is the
// faster one); for stats, both statements Vigil runs, captured as it sends them. Prints requests/s,
// p50 and p99 of both sides, the CPU each side cost per request (Vigil's process and its
// PostgreSQL backends; the raw query's backends), the ratio over all rounds and each round's; the
// targets are >= 0.3 of the raw throughput, the deep page's p50 within 1.5 x the first page's, and
// the lists' p99 <= 20 ms. Needs wrk and pgbench on PATH or in /usr/lib/postgresql/*/bin. Not
// part of npm test.
//
// Each side first runs the same load for BENCH_WARMUP seconds, unmeasured: Vigil's JIT reaches its
// steady state over its first seconds of load (a cold first run read a quarter lower), and both
// sides then meet a warm cache. Both sides reach PostgreSQL the same way: through its Unix socket
// when it runs on this machine (as a local deployment would, and as pgbench does by default),
// else over TCP.
//
// Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_EVENTS
// (1000000), BENCH_SECONDS (5 per side, query and round), BENCH_ROUNDS (3), BENCH_WARMUP (5),
// BENCH_SOCKET_DIR (the local server's socket directory, /var/run/postgresql; "none" for TCP),
// BENCH_CONNECTIONS (16), BENCH_NODE_ARGS (extra node options for Vigil, e.g. "--cpu-prof
// --cpu-prof-dir=/tmp/prof" to profile it), BENCH_ONLY (run only the requests whose name contains
// this), BENCH_WORKERS (Vigil's WORKERS, 1), BENCH_VIGIL_ENV (extra Vigil settings, e.g.
// "DB_POOL_MAX=4").
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { promisify } from 'node:util'
import { join } from 'node:path'
import { getTableColumns } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import * as schema from '../src/db/schema.js'
import type { Db } from '../src/db/index.js'
import { alertStats, countAlertHours } from '../src/services/alert-stats.js'
import { plainPageQueryText } from '../src/pagination.js'
import { alertList, type AlertFilter } from '../src/services/alerts.js'
import { cpuDuring } from './cpu.js'
import { Client, drive } from './http.js'
import { findBin, localSocketDir, scratchDatabase, viaSocket } from './pg.js'
import { extraVigilEnv, startVigil } from './server.js'

const env = process.env
const BASE_URL = env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const EVENTS = Number(env.BENCH_EVENTS ?? 1_000_000)
const SECONDS = Number(env.BENCH_SECONDS ?? 5)
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3)
const WARMUP = Number(env.BENCH_WARMUP ?? 5)
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 16)
// Vigil's WORKERS: one server process by default. On our 2-core machines, shared with PostgreSQL
// and the load generator, two gave no more throughput and a longer tail (README, List speed).
const WORKERS = Number(env.BENCH_WORKERS ?? 1)
const PER_REQUEST = 10_000
const DEPTH = 100_000
const log = (msg: string) => process.stderr.write(`${msg}\n`)

// A quarter of the events alert (High 17%, Critical 8%), from 50 sources.
const SEVERITY_CUTS: [number, string][] = [[0.5, 'Low'], [0.75, 'Medium'], [0.92, 'High'], [1, 'Critical']]
function body(request: number): string {
  let s = ''
  for (let i = 0; i < PER_REQUEST; i++) {
    const n = request * PER_REQUEST + i
    const r = ((n * 2654435761) % 1000) / 1000
    const severity = SEVERITY_CUTS.find(([cut]) => r < cut)![1]
    const source = `host-${n % 50}`
    const eventType = ['intrusion', 'malware', 'anomaly'][n % 3]
    s += `${JSON.stringify({ source, host: source, event_type: eventType, severity, message: `bench event ${n} from ${source}` })}\n`
  }
  return s
}

interface Side {
  rps: number
  p50: number
  p99: number
  /** Every request's latency: how many took each number of µs (what p50 and p99 are read from). */
  latency: Map<number, number>
  /** CPU per request (µs): of the Vigil process (0 for the raw side) and of the scratch database's backends. */
  node?: number
  pg?: number
}

/** Counts `count` more requests that took `us` µs. */
function add(latency: Map<number, number>, us: number, count: number): void {
  latency.set(us, (latency.get(us) ?? 0) + count)
}

/** A side's throughput and latency histogram, with its p50 and p99 (ms) read in one pass. */
function side(rps: number, latency: Map<number, number>): Side {
  const sorted = [...latency].sort(([a], [b]) => a - b)
  const total = sorted.reduce((n, [, count]) => n + count, 0)
  const at = (p: number) => {
    let seen = 0
    for (const [us, count] of sorted) {
      seen += count
      if (seen >= (p / 100) * total) return us / 1000
    }
    return 0
  }
  return { rps, latency, p50: at(50), p99: at(99) }
}

const execFileAsync = promisify(execFile)

// wrk prints its latency histogram when done (each latency in µs that some request took, and how
// many did), so rounds can be merged into one histogram rather than their percentiles averaged.
const WRK_HISTOGRAM = `done = function(summary, latency, requests)
  for i = 1, #latency do
    local us, count = latency(i)
    io.write(string.format("latency %d %d\\n", us, count))
  end
end
`

/** wrk at `url`, reporting its histogram through `script` (WRK_HISTOGRAM, written once per run). */
async function runWrk(url: string, token: string, script: string, seconds = SECONDS): Promise<Side> {
  const { stdout: out } = await execFileAsync('wrk', ['-t2', `-c${CONNECTIONS}`, `-d${seconds}s`, '-s', script, '-H', `authorization: Bearer ${token}`, url], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024
  })
  if (/Non-2xx or 3xx responses/.test(out)) throw new Error(`wrk saw error answers:\n${out.slice(0, 2000)}`)
  const latency = new Map<number, number>()
  for (const [, us, count] of out.matchAll(/^latency (\d+) (\d+)$/gm)) add(latency, Number(us), Number(count))
  return side(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]), latency)
}

/**
 * A side over its rounds: the mean throughput (the rounds are equally long), the CPU per request
 * over all their requests, and p50 and p99 of all their requests' latencies.
 */
function overRounds(rounds: Side[]): Side {
  const sum = (pick: (s: Side) => number) => rounds.reduce((total, s) => total + pick(s), 0)
  const requests = sum((s) => s.rps)
  const perRequest = (pick: (s: Side) => number | undefined) => sum((s) => (pick(s) ?? 0) * s.rps) / requests
  const latency = new Map<number, number>()
  for (const r of rounds) for (const [us, count] of r.latency) add(latency, us, count)
  return { ...side(requests / rounds.length, latency), node: perRequest((s) => s.node), pg: perRequest((s) => s.pg) }
}

async function runPgbench(dbUrl: string, sqlText: string, seconds = SECONDS): Promise<Side> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-list-'))
  try {
    const script = join(dir, 'q.sql')
    writeFileSync(script, sqlText)
    const u = new URL(dbUrl)
    const { stdout: out } = await execFileAsync(
      findBin('pgbench'),
      ['-n', '-c', String(CONNECTIONS), '-j', '2', '-T', String(seconds), '-f', script, '-l', `--log-prefix=${join(dir, 'log')}`,
        '-h', socketDir ?? u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres'), u.pathname.slice(1)],
      { encoding: 'utf8', cwd: dir }
    )
    const rps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out)![1])
    // pgbench's per-transaction log: the third field is the latency in µs.
    const latency = new Map<number, number>()
    for (const f of readdirSync(dir).filter((f) => f.startsWith('log'))) {
      for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
        const fields = line.split(' ')
        if (fields.length >= 3) add(latency, Number(fields[2]), 1)
      }
    }
    return side(rps, latency)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A literal for pgbench's script: the statement Vigil sends, with its parameters written in. */
function literal(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint') return String(v)
  if (v instanceof Date) return `'${v.toISOString()}'`
  if (typeof v === 'string') return `'${v.replace(/'/g, "''")}'`
  throw new Error(`no literal for ${typeof v}`)
}
const inline = (q: { query: string; params: unknown[] }) =>
  q.query.replace(/\$(\d+)/g, (_, n: string) => literal(q.params[Number(n) - 1])).replace(/\s+/g, ' ') + ';\n'

const socketDir = localSocketDir(BASE_URL)

async function main() {
  const scriptDir = mkdtempSync(join(tmpdir(), 'vigil-bench-list-'))
  const wrkScript = join(scriptDir, 'histogram.lua')
  writeFileSync(wrkScript, WRK_HISTOGRAM)
  const scratch = await scratchDatabase(BASE_URL, 'vigil_bench_list')
  const { dbUrl } = scratch
  const password = randomBytes(18).toString('base64url')
  const vigil = await startVigil({
    NODE_ENV: 'production',
    DATABASE_URL: viaSocket(dbUrl, socketDir),
    JWT_SECRET: randomBytes(48).toString('base64url'),
    LOG_LEVEL: 'warn',
    ADMIN_USERNAME: 'bench-admin',
    ADMIN_PASSWORD: password,
    ACCESS_TOKEN_TTL: '3600',
    WORKERS: String(WORKERS),
    ...extraVigilEnv()
  }, (env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean))
  const client = postgres(dbUrl, { max: 2, onnotice: () => {} })
  try {
    const http = new Client(vigil.url, 4)
    const { access } = await http.json<{ access: string }>('POST', '/api/token/', {}, { username: 'bench-admin', password }, 200)
    const auth = { authorization: `Bearer ${access}`, 'content-type': 'application/x-ndjson' }
    log(`loading ${EVENTS} events through the bulk endpoint`)
    const requests = Math.ceil(EVENTS / PER_REQUEST)
    const loadSeconds = await drive(requests, 4, async (i) => {
      const reply = await http.send('POST', '/api/events/bulk', auth, body(i))
      if (reply.status !== 200) throw new Error(`bulk: ${reply.status} ${reply.body.slice(0, 200)}`)
    })
    // The alerts as a day of them would be: spread over the last 24 hours in the order they came,
    // and the closed hours counted, as Vigil's maintenance rounds would have counted them.
    await client`update alerts set created_at = now() - (1 - id::float8 / (select max(id) from alerts)) * interval '24 hours'`
    const counting = drizzle(client, { schema }) as unknown as Db
    while ((await countAlertHours(counting)) > 0);
    await client`vacuum analyze`
    // Written out now, not by a checkpoint in the middle of a measured side.
    await client`checkpoint`
    const [{ events, alerts }] = await client`select (select count(*) from events)::int as events, (select count(*) from alerts)::int as alerts`
    log(`loaded ${events} events, ${alerts} alerts in ${loadSeconds.toFixed(1)} s`)

    // The deep page, reached as a client would: by following next links.
    // (A smaller load, for trying the bench out, goes half way down.)
    const depth = Math.min(DEPTH, Math.floor(alerts / 200) * 100)
    let next = '/api/alerts/?page_size=100'
    for (let walked = 0; walked < depth; walked += 100) {
      const reply = await http.send('GET', next, { authorization: `Bearer ${access}` })
      const page = JSON.parse(reply.body) as { next: string }
      next = new URL(page.next).pathname + new URL(page.next).search
    }
    const deepPath = next.replace('page_size=100&', '')
    http.close()

    // The SQL Vigil runs, from its own query builders, captured as it is sent.
    const captured: { query: string; params: unknown[] }[] = []
    const db = drizzle(client, { schema, logger: { logQuery: (query, params) => void captured.push({ query, params }) } }) as unknown as Db
    const pageSql = (q: AlertFilter) => {
      const { sql, params } = plainPageQueryText(db, { ...alertList(q), select: getTableColumns(schema.alerts) }, { ...q, page_size: 20 })
      return inline({ query: sql, params })
    }
    const cursor = new URL(deepPath, 'http://x').searchParams.get('cursor')!
    const cases = [
      { name: 'first page', path: '/api/alerts/', sql: pageSql({}) },
      { name: 'High + Open', path: '/api/alerts/?severity=High&status=Open', sql: pageSql({ severity: 'High', status: 'Open' }) },
      { name: `page ${depth} deep`, path: deepPath, sql: pageSql({ cursor }) },
      {
        name: 'stats (24 h)',
        path: '/api/alerts/stats/',
        sql: await (async () => {
          captured.length = 0
          await alertStats(db, {})
          return captured.map(inline).join('')
        })()
      },
      // Within the count bound (about 1,600 alerts): Vigil counts them exactly on every request,
      // beside the page. The raw side runs the page alone, as for the other lists.
      { name: 'host-7 + Critical (exact count)', path: '/api/alerts/?source=host-7&severity=Critical', sql: pageSql({ source: 'host-7', severity: 'Critical' }) }
    ]
    // CPU per request of each side, from /proc (bench/cpu.ts): the throughput of either side is
    // bounded by the CPU the two cores give it, so this says where a ratio comes from, and it
    // varies less between runs than throughput does. With WORKERS > 1 the workers are not counted.
    const withCpu = async (measure: () => Promise<Side>): Promise<Side> => {
      const { result: side, cpu } = await cpuDuring(vigil.pid, scratch.dbName, measure)
      const requests = side.rps * SECONDS
      return { ...side, node: (cpu.vigil * 1e6) / requests, pg: (cpu.pg * 1e6) / requests }
    }
    const rows: { name: string; vigil: Side; raw: Side; ratios: number[] }[] = []
    for (const c of cases.filter((c) => !env.BENCH_ONLY || c.name.includes(env.BENCH_ONLY))) {
      log(`${c.name}: wrk and pgbench ${WARMUP} s each unmeasured, then ${ROUNDS} rounds of wrk ${SECONDS} s and pgbench ${SECONDS} s`)
      if (WARMUP > 0) {
        await runWrk(vigil.url + c.path, access, wrkScript, WARMUP)
        await runPgbench(dbUrl, c.sql, WARMUP)
      }
      // In rounds, the two sides taking turns: this machine's speed drifts over a run (other
      // machines share its host), and a ratio of two sides measured seconds apart drifts less than
      // one of two sides measured a minute apart.
      const vigilRounds: Side[] = []
      const rawRounds: Side[] = []
      for (let round = 0; round < ROUNDS; round++) {
        vigilRounds.push(await withCpu(() => runWrk(vigil.url + c.path, access, wrkScript)))
        rawRounds.push(await withCpu(() => runPgbench(dbUrl, c.sql)))
      }
      rows.push({ name: c.name, vigil: overRounds(vigilRounds), raw: overRounds(rawRounds), ratios: vigilRounds.map((v, i) => v.rps / rawRounds[i].rps) })
    }

    const f = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(2))
    console.log(`\n${events} events, ${alerts} alerts; ${CONNECTIONS} connections, ${ROUNDS} rounds of ${SECONDS} s a side, Vigil WORKERS=${WORKERS}, ${socketDir ? `both through ${socketDir}` : 'both over TCP'} (PostgreSQL 15, wrk and pgbench)`)
    console.log('| request | Vigil req/s | p50 ms | p99 ms | CPU µs/req: node | pg | raw SQL tx/s | p50 ms | p99 ms | CPU µs/tx: pg | ratio | rounds |')
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|')
    const us = (n: number | undefined) => (n === undefined ? '' : n.toFixed(0))
    for (const r of rows) {
      console.log(`| ${r.name} | ${f(r.vigil.rps)} | ${f(r.vigil.p50)} | ${f(r.vigil.p99)} | ${us(r.vigil.node)} | ${us(r.vigil.pg)} | ` +
        `${f(r.raw.rps)} | ${f(r.raw.p50)} | ${f(r.raw.p99)} | ${us(r.raw.pg)} | ${(r.vigil.rps / r.raw.rps).toFixed(2)} | ${r.ratios.map((x) => x.toFixed(2)).join(' ')} |`)
    }
    if (rows.length < cases.length) return
    const lists = rows.slice(0, 3)
    const deepRatio = rows[2].vigil.p50 / rows[0].vigil.p50
    console.log(`\ntargets: lists >= 0.3 of raw: ${lists.every((r) => r.vigil.rps / r.raw.rps >= 0.3) ? 'met' : 'NOT met'}; ` +
      `deep page p50 ${deepRatio.toFixed(2)} x the first page's (<= 1.5: ${deepRatio <= 1.5 ? 'met' : 'NOT met'}); ` +
      // The lists' p99: stats' own SQL takes longer than that at this size (its raw p50 above).
      `lists' p99 <= 20 ms: ${lists.every((r) => r.vigil.p99 <= 20) ? 'met' : 'NOT met'}`)
  } finally {
    await client.end()
    await vigil.stop()
    await scratch.drop()
    rmSync(scriptDir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
