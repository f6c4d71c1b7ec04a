// Real shippers against a listening Vigil that is busy, then free: each is run unmodified (rsyslog
// and syslog-ng as processes, with the configurations docs/shippers.md prints, copied in
// test/fixtures/configs; the Elasticsearch client and splunk-logging in-process), and every
// record it was given must be stored exactly once.
//
// "Busy" is real: INGEST_MAX_CONCURRENCY=1, and the one slot is held by a request whose body
// has not arrived (a raw socket). It is freed by sending that body.
//
// Databases: the Elasticsearch client case runs on both. The process cases (rsyslog, syslog-ng,
// splunk-logging) and the database-down case run on PostgreSQL only (TEST_DATABASE_URL set):
// they test the shippers against Vigil's HTTP answers, which do not depend on the database, and
// a closed PGlite is not a database that went down and comes back.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { connect, type AddressInfo } from 'node:net'
import { tmpdir, hostname } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@elastic/elasticsearch'
import { like } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { events } from '../src/db/schema.js'
import { build, eventually, inject, makeUser, onPostgres, type Overrides } from './helper.js'
import { startPrivateCluster } from './support/pg-cluster.js'
import { makeIngestKey } from './ingest-helper.js'

const require = createRequire(import.meta.url)
// splunk-logging ships no types.
const { Logger: SplunkLogger } = require('splunk-logging') as {
  Logger: new (config: Record<string, unknown>) => {
    send(payload: unknown, cb: (err: Error | null, resp: { statusCode: number } | undefined, body: unknown) => void): void
    error: (err: Error) => void
  }
}

const here = dirname(fileURLToPath(import.meta.url))
const fixture = (name: string) => readFileSync(join(here, 'fixtures', 'configs', name), 'utf8')

/** The shipper binaries, installed by .ci/run (rsyslog unpacked beside syslog-ng: the packages conflict). */
const RSYSLOG_ROOTS = ['/', '/opt/vigil-ci/rsyslog']
const libArch = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu'
function findRsyslog(): { bin: string; modules: string } {
  for (const root of RSYSLOG_ROOTS) {
    const bin = join(root, 'usr/sbin/rsyslogd')
    const modules = join(root, 'usr/lib', libArch, 'rsyslog')
    if (existsSync(bin) && existsSync(join(modules, 'omelasticsearch.so'))) return { bin, modules }
  }
  throw new Error('rsyslogd with omelasticsearch not found: run the install step of .ci/run')
}
function findSyslogNg(): string {
  if (existsSync('/usr/sbin/syslog-ng') && existsSync('/usr/lib/syslog-ng/3.38/libhttp.so')) return '/usr/sbin/syslog-ng'
  throw new Error('syslog-ng with its http() module not found: run the install step of .ci/run')
}

/** `text` with each [from, to] replaced once; a missing `from` is an error (the docs changed). */
function substitute(text: string, pairs: [string, string][]): string {
  for (const [from, to] of pairs) {
    if (!text.includes(from)) throw new Error(`the configuration no longer contains ${from}`)
    text = text.replace(from, to)
  }
  return text
}

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-shipper-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A child process killed (and awaited) at the end of the test; its output is kept for failures. */
function run(t: Test, bin: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  })
  return { child, output: () => out }
}

interface Vigil {
  app: FastifyInstance
  port: number
  key: string
  /** URLs of the requests Vigil received, in order. */
  requests: string[]
}

/** A listening Vigil with one ingest slot, and an ingest key whose defaults the shippers rely on. */
async function listening(t: Test, overrides: Overrides = {}): Promise<Vigil> {
  const requests: string[] = []
  const logStream = {
    write(line: string) {
      try {
        const entry = JSON.parse(line)
        if (entry.msg === 'incoming request' && entry.req?.url) requests.push(entry.req.url)
      } catch {
        // not a log entry of ours
      }
    }
  }
  // The event-loop check is off: on a loaded machine a lag spike would turn away the holder itself.
  const app = await build(t, { INGEST_MAX_CONCURRENCY: 1, INGEST_QUEUE_TIMEOUT_MS: 0, INGEST_MAX_EVENT_LOOP_DELAY_MS: 0, LOG_LEVEL: 'info', ...overrides }, logStream)
  const admin = await makeUser(app, 'admin')
  // docs/shippers.md: the rsyslog and syslog-ng documents carry no event_type; the key supplies it.
  const { key } = await makeIngestKey(app, admin, { event_type: 'intrusion' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, port: (app.server.address() as AddressInfo).port, key, requests }
}

/** Takes Vigil's only ingest slot with a request whose body is held back; `release` sends it. */
async function holdSlot(t: Test, vigil: Vigil) {
  const body = '{"host":"holder","message":"holder","id":"holder-1","severity":"low"}\n'
  const socket = connect(vigil.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  let reply = ''
  socket.on('data', (d: Buffer) => (reply += d.toString()))
  const closed = new Promise((resolve) => socket.on('close', resolve))
  socket.write(
    `POST /api/events/bulk HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${vigil.key}\r\nContent-Type: application/x-ndjson\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`
  )
  // HEC's health probe reports a full gate (503 code 18).
  const full = async () => (await inject(vigil.app, { method: 'GET', url: '/services/collector/health' })).status === 503
  t.ok(await eventually(full, 10_000), 'the only ingest slot is held')
  return {
    async release() {
      socket.write(body)
      await closed
      t.match(reply, /^HTTP\/1\.1 200 /, 'the held request is served once its body arrives')
    }
  }
}

/** Waits until Vigil has received `n` more requests to `path` than it had at `from`. */
async function requestsTo(vigil: Vigil, path: string, from: number, n: number, ms = 20_000) {
  return eventually(async () => vigil.requests.slice(from).filter((u) => u.startsWith(path)).length >= n, ms)
}

async function stored(app: FastifyInstance, prefix: string): Promise<{ description: string; externalId: string | null }[]> {
  return app.db
    .select({ description: events.description, externalId: events.externalId })
    .from(events)
    .where(like(events.description, `${prefix}%`))
}

/** Every one of `expected` is stored once: nothing lost, nothing twice. */
async function exactlyOnce(t: Test, app: FastifyInstance, prefix: string, expected: string[], ms = 30_000) {
  const arrived = await eventually(async () => (await stored(app, prefix)).length >= expected.length, ms)
  t.ok(arrived, `all ${expected.length} records arrived`)
  const rows = await stored(app, prefix)
  t.same(rows.map((r) => r.description).sort(), [...expected].sort(), 'each record stored exactly once')
  t.equal(new Set(rows.map((r) => r.externalId)).size, rows.length, 'each with its own id')
}

/** The docs' rsyslog configuration, pointed at `vigil`, reading `dir`/in.log. */
function writeRsyslogConf(dir: string, vigil: Vigil) {
  const conf =
    substitute(fixture('rsyslog-vigil.conf'), [
      ['workDirectory="/var/spool/rsyslog"', `workDirectory="${dir}"`],
      ['server="vigil.example.org" serverport="443" usehttps="on"', `server="127.0.0.1" serverport="${vigil.port}" usehttps="off"`],
      ['pwd="vgl_..."', `pwd="${vigil.key}"`],
      ['/var/log/rsyslog-vigil-refused.log', join(dir, 'refused.log')],
      ['/var/log/rsyslog-vigil-errors.json', join(dir, 'errors.json')]
    ]) +
    // The test's input: a file, read from its start, into the docs' ruleset.
    `\nmodule(load="imfile")\ninput(type="imfile" file="${join(dir, 'in.log')}" tag="vigiltest:" ruleset="vigil" freshStartTail="off")\n`
  writeFileSync(join(dir, 'rsyslog.conf'), conf)
}

const lines = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix} ${String(i).padStart(4, '0')} DROP SRC=10.0.0.${i % 250}`)

t.test('@elastic/elasticsearch 9.4.3 bulk helper: busy _bulk items (429) are retried until stored', async (t) => {
  const vigil = await listening(t)
  const held = await holdSlot(t, vigil)
  const docs = lines('es-client', 300).map((message, i) => ({ id: `es-${i}`, message, host: 'es-client', severity: 'low' }))
  const client = new Client({ node: `http://127.0.0.1:${vigil.port}`, auth: { apiKey: Buffer.from(`any:${vigil.key}`).toString('base64') } })
  t.teardown(() => client.close())
  const from = vigil.requests.length
  const dropped: unknown[] = []
  const result = client.helpers.bulk({
    datasource: docs,
    onDocument: (doc) => ({ create: { _index: 'logs', _id: doc.id } }),
    onDrop: (d) => dropped.push(d),
    retries: 200,
    wait: 50
  })
  t.ok(await requestsTo(vigil, '/_bulk', from, 2), 'the helper sent the batch and retried it while Vigil was busy')
  t.same(await stored(vigil.app, 'es-client'), [], 'nothing stored while busy')
  await held.release()
  const stats = await result
  t.same([stats.successful, stats.failed], [300, 0])
  t.same(dropped, [], 'no document dropped')
  await exactlyOnce(t, vigil.app, 'es-client', docs.map((d) => d.message))
})

if (onPostgres) {
  t.test('rsyslog 8.2302 omelasticsearch, the docs configuration: busy items are retried, nothing lost', async (t) => {
    const { bin, modules } = findRsyslog()
    const vigil = await listening(t)
    const dir = tempDir(t)
    const input = lines('rsyslog-line', 300)
    writeFileSync(join(dir, 'in.log'), input.join('\n') + '\n')
    writeRsyslogConf(dir, vigil)
    const held = await holdSlot(t, vigil)
    const from = vigil.requests.length
    const rsyslog = run(t, bin, ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid'), '-M', modules])
    if (!t.ok(await requestsTo(vigil, '/_bulk', from, 2), 'rsyslog sent and re-sent while Vigil was busy')) t.comment(rsyslog.output())
    t.same(await stored(vigil.app, 'rsyslog-line'), [], 'nothing stored while busy')
    await held.release()
    await exactlyOnce(t, vigil.app, 'rsyslog-line', input)
    const rows = await vigil.app.db.select({ source: events.source, severity: events.severity, eventType: events.eventType }).from(events).where(like(events.description, 'rsyslog-line%')).limit(1)
    t.same(rows, [{ source: hostname(), severity: 'Low', eventType: 'intrusion' }], "source from the host, severity from syslog's, event_type from the key")
    t.notOk(existsSync(join(dir, 'refused.log')), 'no record refused for good')
  })

  t.test('rsyslog 8.2302, the docs configuration: the database down and back, nothing lost', async (t) => {
    const { bin, modules } = findRsyslog()
    const cluster = await startPrivateCluster()
    t.teardown(() => cluster.destroy())
    const vigil = await listening(t, { DATABASE_URL: cluster.url, DB_TIMEOUT_MS: 1000, DB_POOL_MAX: 4 })
    const dir = tempDir(t)
    const input = lines('rsyslog-down', 300)
    writeFileSync(join(dir, 'in.log'), input.join('\n') + '\n')
    writeRsyslogConf(dir, vigil)
    await cluster.stop('fast')
    const from = vigil.requests.length
    const rsyslog = run(t, bin, ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid'), '-M', modules])
    if (!t.ok(await requestsTo(vigil, '/_bulk', from, 2), 'rsyslog sent and re-sent while the database was down')) t.comment(rsyslog.output())
    await cluster.start()
    await exactlyOnce(t, vigil.app, 'rsyslog-down', input)
    t.notOk(existsSync(join(dir, 'refused.log')), 'no record refused for good')
  })

  t.test('syslog-ng 3.38 http(), the docs configuration: a busy 503 is retried, nothing lost', async (t) => {
    const bin = findSyslogNg()
    const vigil = await listening(t)
    const dir = tempDir(t)
    const input = lines('syslog-ng-line', 300)
    writeFileSync(join(dir, 'in.log'), input.join('\n') + '\n')
    const conf = substitute(fixture('syslog-ng-vigil.conf'), [
      ['@version: 3.38\n', `@version: 3.38\nsource s_src { file("${join(dir, 'in.log')}" follow-freq(0.2) flags(no-parse)); };\n`],
      ['time-reopen(10)', 'time-reopen(1)'],
      ['https://vigil.example.org/api/events/bulk', `http://127.0.0.1:${vigil.port}/api/events/bulk`],
      ['Authorization: Bearer vgl_...', `Authorization: Bearer ${vigil.key}`]
    ])
    writeFileSync(join(dir, 'syslog-ng.conf'), conf)
    const held = await holdSlot(t, vigil)
    const from = vigil.requests.length
    const ng = run(t, bin, ['-F', '--no-caps', '-f', join(dir, 'syslog-ng.conf'), '-R', join(dir, 'persist'), '-p', join(dir, 'pid'), '-c', join(dir, 'ctl')])
    if (!t.ok(await requestsTo(vigil, '/api/events/bulk', from, 2), 'syslog-ng sent and re-sent while Vigil was busy')) t.comment(ng.output())
    t.same(await stored(vigil.app, 'syslog-ng-line'), [], 'nothing stored while busy')
    await held.release()
    await exactlyOnce(t, vigil.app, 'syslog-ng-line', input)
  })

  t.test('splunk-logging 0.11.1: a busy 503 (HEC code 9) is reported to the application, not retried', async (t) => {
    const vigil = await listening(t)
    const held = await holdSlot(t, vigil)
    const errors: Error[] = []
    const logger = new SplunkLogger({ token: vigil.key, url: `http://127.0.0.1:${vigil.port}`, maxRetries: 3 })
    logger.error = (err) => errors.push(err)
    const send = (message: string) =>
      new Promise<{ status?: number; body: unknown }>((resolve, reject) =>
        logger.send({ message, severity: 'info', metadata: { host: 'splunk-app' } }, (err, resp, body) =>
          err ? reject(err) : resolve({ status: resp?.statusCode, body })
        )
      )
    const from = vigil.requests.length
    const busy = await send('splunk-logging busy')
    t.same(busy, { status: 503, body: { text: 'Server is busy', code: 9, vigil_code: 'ingest_busy', detail: 'Vigil is busy ingesting; retry later.' } })
    t.equal(vigil.requests.slice(from).length, 1, 'sent once: maxRetries covers network errors only')
    t.match(errors, [{ message: 'Server is busy', code: 9 }], "the logger's error handler is told: the application must send it again")
    await held.release()
    const again = await send('splunk-logging busy')
    t.same(again, { status: 200, body: { text: 'Success', code: 0 } })
    await exactlyOnce(t, vigil.app, 'splunk-logging', ['splunk-logging busy'])
  })

  t.test('_bulk with the database down: 200, every item 429, as Elasticsearch with a full write queue', async (t) => {
    const app = await build(t, { INGEST_MAX_EVENT_LOOP_DELAY_MS: 0 })
    const admin = await makeUser(app, 'admin')
    const { key } = await makeIngestKey(app, admin, { event_type: 'intrusion', severity: 'Low' })
    const headers = { 'x-api-key': key }
    const body = '{"create":{"_index":"logs","_id":"down-1"}}\n{"host":"h","message":"a"}\n{"index":{}}\n{"host":"h","message":"b"}\n'
    const before = await inject(app, { method: 'POST', url: '/_bulk', headers, payload: body })
    t.match(before.body, { errors: false }, 'the key works while the database answers')
    await app.database.close()
    const down = await inject(app, { method: 'POST', url: '/_bulk', headers, payload: body })
    t.equal(down.status, 200)
    t.equal(down.headers['x-elastic-product'], 'Elasticsearch')
    const rejected = { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'The database is unavailable; retry later.' } }
    t.match(down.body, {
      errors: true,
      items: [{ create: { _index: 'logs', _id: 'down-1', ...rejected } }, { index: { _index: 'events', _id: null, ...rejected } }]
    })
    const native = await inject(app, { method: 'POST', url: '/api/events/bulk', headers, payload: '{"message":"c"}' })
    t.same([native.status, native.body.detail], [503, 'The database is unavailable; retry later.'])
    t.ok(native.headers['retry-after'], 'native bulk: 503 with Retry-After, which syslog-ng, Fluent Bit, Vector and Logstash retry')
    const hec = await inject(app, { method: 'POST', url: '/services/collector/event', headers: { authorization: `Splunk ${key}` }, payload: '{"event":"x"}' })
    t.match(hec, { status: 503, body: { text: 'Server is busy', code: 9 } })
    t.ok(hec.headers['retry-after'])
  })
}

t.test('docs/shippers.md prints the configurations these tests run', async (t) => {
  const docs = readFileSync(join(here, '..', 'docs', 'shippers.md'), 'utf8')
  for (const name of ['rsyslog-vigil.conf', 'syslog-ng-vigil.conf']) {
    t.ok(docs.includes('\n' + fixture(name).trimEnd() + '\n```'), `${name} is in the docs as run`)
  }
})
