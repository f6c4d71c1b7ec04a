// The detection pack (src/detection/pack/*.yml), imported as a team would import it, on realistic
// log lines in the shapes real shippers send them (test/fixtures/shippers): syslog-ng NDJSON to
// the native bulk endpoint, rsyslog to Elasticsearch _bulk, Splunk HEC. Each rule raises what it
// is for, once, and benign traffic raises nothing.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { PROJECT_ROOT } from '../src/paths.js'
import { build, eventually, inject, makeRoles, type TestUser } from './helper.js'
import { makeIngestKey } from './ingest-helper.js'

const PACK = join(PROJECT_ROOT, 'src', 'detection', 'pack')
const ndjson = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n'
const BAD_RANGE = '198.51.100.0/24'

/** Rule ids of the pack, by name. */
const ID = {
  bruteForce: '4a6c1f0e-8f51-4c55-9e1b-7a0c2f3d5e03',
  spraying: '4a6c1f0e-8f51-4c55-9e1b-7a0c2f3d5e04',
  successAfterFailures: '4a6c1f0e-8f51-4c55-9e1b-7a0c2f3d5e05',
  sudoFailure: '4a6c1f0e-8f51-4c55-9e1b-7a0c2f3d5e06',
  sudoRepeated: '4a6c1f0e-8f51-4c55-9e1b-7a0c2f3d5e07',
  newUser: '4a6c1f0e-8f51-4c55-9e1b-7a0c2f3d5e08',
  sqli: '7b1d2e3f-6a5c-4b8e-9f01-2c3d4e5f6a01',
  traversal: '7b1d2e3f-6a5c-4b8e-9f01-2c3d4e5f6a02',
  scanning: '7b1d2e3f-6a5c-4b8e-9f01-2c3d4e5f6a04',
  knownBad: '9c2e3f40-7b6d-4c9f-a012-3d4e5f6a7b01'
}

let clock = Date.now() - 60_000
/** A syslog line as syslog-ng's http() destination sends it (test/fixtures/shippers/syslog-ng-ndjson.jsonl). */
const syslogNg = (host: string, program: string, text: string) => {
  const at = new Date((clock += 100)).toISOString()
  return { ts: at, msg: `${at} ${host} ${program}: ${text}`, host: 'relay-01' }
}
/** An access log line in combined log format. */
const access = (ip: string, request: string, status: number, agent = 'Mozilla/5.0') =>
  `${ip} - - [03/Dec/2026:10:00:00 +0000] "${request} HTTP/1.1" ${status} 512 "-" "${agent}"`

async function alertsOfRule(app: FastifyInstance, who: TestUser, ruleId: string) {
  const r = await inject(app, { method: 'GET', url: `/api/alerts/?rule_id=${ruleId}&page_size=100`, headers: who.auth })
  return r.body.results as { id: number; event: number; severity: string; detections: { rule_id: string; count?: number; group?: Record<string, string> }[] }[]
}

t.test('the detection pack on realistic lines through the shippers', async (t) => {
  const app = await build(t, { DETECTION_KNOWN_BAD_ADDRESSES: `${BAD_RANGE}, 2001:db8:bad::/48` })
  const { admin, analyst } = await makeRoles(app)

  // Imported as shipped.
  let created = 0
  for (const file of readdirSync(PACK).filter((f) => f.endsWith('.yml')).sort()) {
    const r = await inject(app, { method: 'POST', url: '/api/models/import', headers: { ...analyst.auth, 'content-type': 'application/yaml' }, payload: readFileSync(join(PACK, file)) })
    t.equal(r.status, 200, `${file} imports`)
    t.same(r.body.errors, [], `${file}: every rule compiles`)
    created += r.body.created.length
  }
  await eventually(async () => app.detector.models.length === created, 5000)
  t.equal(app.detector.models.length, created, 'every imported model runs')

  const { key } = await makeIngestKey(app, admin, { source: 'relay-01', event_type: 'intrusion', severity: 'Low' })
  const bulk = (lines: unknown[]) =>
    inject(app, { method: 'POST', url: '/api/events/bulk', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' }, payload: ndjson(lines) })
  const esBulk = (docs: unknown[]) =>
    inject(app, {
      method: 'POST',
      url: '/_bulk',
      headers: { authorization: `Basic ${Buffer.from(`ingest:${key}`).toString('base64')}`, 'content-type': 'application/json; charset=utf-8' },
      payload: ndjson(docs.flatMap((d) => [{ index: { _index: 'security-events' } }, d]))
    })
  const hec = (events: unknown[]) =>
    inject(app, { method: 'POST', url: '/services/collector/event', headers: { authorization: `Splunk ${key}` }, payload: events.map((e) => JSON.stringify({ event: e })).join('') })

  await t.test('SSH brute force: ten failures from one address, one alert', async (t) => {
    const lines = Array.from({ length: 14 }, (_, i) => syslogNg('bastion-01', `sshd[${2000 + i}]`, `Failed password for root from 203.0.113.9 port ${50000 + i} ssh2`))
    const r = await bulk(lines)
    t.equal(r.body.accepted, 14)
    await eventually(async () => (await alertsOfRule(app, analyst, ID.bruteForce)).length > 0, 5000)
    const fired = await alertsOfRule(app, analyst, ID.bruteForce)
    t.equal(fired.length, 1, 'once for the window, not once per failure past ten')
    t.match(fired[0], { severity: 'High', detections: [{ count: 10, group: { 'source.ip': '203.0.113.9' } }] })
  })

  await t.test('password spraying: one address, five users (rsyslog to _bulk)', async (t) => {
    const users = ['admin', 'oracle', 'postgres', 'ubuntu', 'deploy']
    const docs = users.map((u, i) => {
      const at = new Date((clock += 100)).toISOString()
      return { '@timestamp': at, host: 'vm', tag: 'sshd[3001]:', message: `${at} bastion-02 sshd[${3001 + i}]: Failed password for invalid user ${u} from 203.0.113.20 port ${40000 + i} ssh2` }
    })
    const r = await esBulk(docs)
    t.equal(r.body.errors, false)
    await eventually(async () => (await alertsOfRule(app, analyst, ID.spraying)).length > 0, 5000)
    const fired = await alertsOfRule(app, analyst, ID.spraying)
    t.equal(fired.length, 1)
    t.match(fired[0].detections[0], { count: 5, group: { 'source.ip': '203.0.113.20' } })
    t.equal((await alertsOfRule(app, analyst, ID.bruteForce)).length, 1, 'five failures are no brute force')
  })

  await t.test('a success after repeated failures is critical', async (t) => {
    const failures = Array.from({ length: 10 }, (_, i) => syslogNg('bastion-03', `sshd[${4000 + i}]`, `Failed password for root from 203.0.113.30 port ${41000 + i} ssh2`))
    await bulk(failures)
    await bulk([syslogNg('bastion-03', 'sshd[4100]', 'Accepted password for root from 203.0.113.30 port 41999 ssh2')])
    await eventually(async () => (await alertsOfRule(app, analyst, ID.successAfterFailures)).length > 0, 5000)
    const fired = await alertsOfRule(app, analyst, ID.successAfterFailures)
    t.equal(fired.length, 1)
    t.match(fired[0], { severity: 'Critical', detections: [{ group: { 'source.ip': '203.0.113.30' } }] })
    // A success from an address that never failed raises nothing.
    await bulk([syslogNg('bastion-03', 'sshd[4200]', 'Accepted publickey for alice from 10.20.0.4 port 52000 ssh2: ED25519 SHA256:abc')])
    t.equal((await alertsOfRule(app, analyst, ID.successAfterFailures)).length, 1)
  })

  await t.test('sudo authentication failures (Splunk HEC): a detection each, an alert for three', async (t) => {
    const line = (i: number) => syslogNg('web-01', `sudo[${5000 + i}]`, 'pam_unix(sudo:auth): authentication failure; logname=mallory uid=1003 euid=0 tty=/dev/pts/2 ruser=mallory rhost=  user=mallory')
    let r = await hec([line(0)])
    t.equal(r.status, 200)
    const list = await inject(app, { method: 'GET', url: `/api/events/?source=relay-01&page_size=1`, headers: admin.auth })
    t.match(list.body.results[0], { severity: 'Medium', detections: [{ rule_id: ID.sudoFailure, level: 'medium' }] }, 'one failure: a Medium event with its detection, no alert')
    t.equal((await alertsOfRule(app, analyst, ID.sudoFailure)).length, 0)
    r = await hec([line(1), line(2)])
    await eventually(async () => (await alertsOfRule(app, analyst, ID.sudoRepeated)).length > 0, 5000)
    const fired = await alertsOfRule(app, analyst, ID.sudoRepeated)
    t.equal(fired.length, 1)
    t.match(fired[0].detections[0], { count: 3, group: { 'host.name': 'web-01', 'user.name': 'mallory' } })
  })

  await t.test('a new user or group', async (t) => {
    await bulk([
      syslogNg('db-01', 'useradd[812]', 'new user: name=backdoor, UID=1005, GID=1005, home=/home/backdoor, shell=/bin/bash, from=/dev/pts/1'),
      syslogNg('db-01', 'groupadd[813]', 'new group: name=wheel2, GID=1006')
    ])
    const fired = await alertsOfRule(app, analyst, ID.newUser)
    t.equal(fired.length, 2, 'one alert for each')
    t.ok(fired.every((a) => a.severity === 'High'))
  })

  await t.test('web scanning: twenty 404s from one client in a minute', async (t) => {
    const paths = ['/admin', '/wp-login.php', '/.env', '/.git/config', '/phpmyadmin', '/backup.zip', '/config.php', '/server-status', '/xmlrpc.php', '/shell.php']
    const lines = Array.from({ length: 24 }, (_, i) => syslogNg('web-02', 'nginx', access('192.0.2.50', `GET ${paths[i % paths.length]}?${i}`, 404, 'gobuster/3.6')))
    await bulk(lines)
    await eventually(async () => (await alertsOfRule(app, analyst, ID.scanning)).length > 0, 5000)
    const fired = await alertsOfRule(app, analyst, ID.scanning)
    t.equal(fired.length, 1)
    t.match(fired[0].detections[0], { count: 20, group: { 'c-ip': '192.0.2.50' } })
  })

  await t.test('SQL injection and path traversal in requests', async (t) => {
    await bulk([
      syslogNg('web-02', 'nginx', access('192.0.2.60', 'GET /products.php?id=1%27%20OR%201=1--', 200, 'sqlmap/1.7.2#stable')),
      syslogNg('web-02', 'nginx', access('192.0.2.61', 'GET /search?q=1+UNION+SELECT+username,password+FROM+users', 200)),
      syslogNg('web-02', 'apache2', access('192.0.2.62', 'GET /download.php?file=../../../../etc/passwd', 200)),
      syslogNg('web-02', 'nginx', access('192.0.2.63', 'GET /static/..%2f..%2f..%2fetc/shadow', 400))
    ])
    t.equal((await alertsOfRule(app, analyst, ID.sqli)).length, 2)
    t.equal((await alertsOfRule(app, analyst, ID.traversal)).length, 2)
  })

  await t.test('a known-bad address, from the configured list', async (t) => {
    await bulk([
      syslogNg('bastion-04', 'sshd[6000]', 'Connection closed by authenticating user root 198.51.100.23 port 61000 [preauth]'),
      syslogNg('web-03', 'nginx', access('198.51.100.77', 'GET /', 200)),
      { message: 'flow', 'source.ip': '2001:db8:bad::17', 'destination.ip': '10.0.0.1' }
    ])
    const fired = await alertsOfRule(app, analyst, ID.knownBad)
    t.equal(fired.length, 2, 'the web client and the IPv6 flow (the sshd line names no parsed address)')
  })

  await t.test('benign traffic raises nothing', async (t) => {
    const before = (await inject(app, { method: 'GET', url: '/api/alerts/?page_size=1', headers: analyst.auth })).body.count
    await bulk([
      syslogNg('bastion-01', 'sshd[7000]', 'Accepted publickey for deploy from 10.20.0.9 port 50022 ssh2: ED25519 SHA256:xyz'),
      syslogNg('bastion-01', 'sshd[7001]', 'Failed password for deploy from 10.20.0.9 port 50023 ssh2'),
      syslogNg('web-02', 'nginx', access('10.20.0.10', 'GET /index.html', 200)),
      syslogNg('web-02', 'nginx', access('10.20.0.10', 'GET /favicon.ico', 404)),
      syslogNg('db-01', 'sudo', 'alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx'),
      syslogNg('db-01', 'CRON[9000]', '(root) CMD (run-parts /etc/cron.hourly)')
    ])
    const after = (await inject(app, { method: 'GET', url: '/api/alerts/?page_size=1', headers: analyst.auth })).body.count
    t.equal(after, before)
  })
})

t.test('the known-bad rule is refused while no list is configured', async (t) => {
  const app = await build(t)
  const { analyst } = await makeRoles(app)
  const r = await inject(app, { method: 'POST', url: '/api/models/import', headers: { ...analyst.auth, 'content-type': 'application/yaml' }, payload: readFileSync(join(PACK, 'network.yml')) })
  t.equal(r.status, 200)
  t.same(r.body.created, [])
  t.match(r.body.errors, [{ title: 'Traffic from or to a known-bad address', detail: /vigil_known_bad_addresses.*DETECTION_PLACEHOLDERS/ }])
})
