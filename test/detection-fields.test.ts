// The record view Sigma rules read (src/detection/record.ts, docs/detection-fields.md): flat keys,
// dotted paths, and the documented mappings of what shippers really send — syslog names, the
// sshd/sudo/PAM/shadow-utils lines, auditd records, web access logs — with the logsource each
// record gets. Pure functions, no database.
//
// test/fixtures/detection/*.jsonl are requests real shippers sent (copied from the captures in
// test/fixtures/shippers, one or two requests per shape). They go through the real splitter,
// adapters and field mapping, so the views here are the ones ingestion hands to the models. The
// Fluent Bit, Vector, journald and ECS records are built from those tools' documented shapes
// (they are not installable here).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { makeAdapter, type Format } from '../src/ingest/formats.js'
import { mapRecord, RecordSplitter } from '../src/ingest/index.js'
import { parseAccessLog, parseAudit, parseAuth, parseSyslogHeader } from '../src/detection/parsers.js'
import { logsourceApplies, recordView, type ViewOptions } from '../src/detection/record.js'
import type { FieldSource, Logsource } from '../src/detection/types.js'

type Rec = Record<string, unknown>
const FIXTURES = join(import.meta.dirname, 'fixtures', 'detection')

/** The named fields of a view, leaving out the absent ones (so `t.same` also proves absence). */
function fieldsOf(view: FieldSource, names: string[]): Rec {
  const out: Rec = {}
  for (const n of names) {
    const v = view.get(n)
    if (v !== undefined) out[n] = v
  }
  return out
}

/** Asserts exactly these fields (others named in `absent` must be undefined) and the logsource. */
function expectView(t: Test, view: FieldSource, want: Rec, logsource: Logsource | undefined, name: string, absent: string[] = []) {
  t.same(fieldsOf(view, [...Object.keys(want), ...absent]), want, `${name}: fields`)
  if (logsource) t.same({ ...view.logsource }, logsource, `${name}: logsource`)
}

// --- real captures, through the real ingestion path ------------------------------------------

interface Captured {
  url: string
  body: string
}

/** The views ingestion builds for one captured request: splitter, adapter, mapRecord. */
function viewsOf(req: Captured): FieldSource[] {
  const format: Format = req.url.includes('_bulk') ? 'es' : req.url.startsWith('/services/collector') ? 'hec' : 'bulk'
  const adapter = makeAdapter(format)
  const splitter = new RecordSplitter(1024 * 1024)
  const views: FieldSource[] = []
  const detect = {
    active: true,
    evaluate(record: FieldSource) {
      views.push(record)
      return null
    }
  }
  for (const seg of [...splitter.push(Buffer.from(req.body)), ...splitter.end()]) {
    for (const item of adapter.items(seg)) {
      if (!item.record) continue
      const row = mapRecord(item.record, { defaults: { source: 'capture', severity: 'Low', event_type: 'intrusion' }, maxAttributesBytes: 1 << 20, detect })
      if (typeof row === 'string') throw new Error(row)
    }
  }
  return views
}

const captures = (file: string): Captured[] =>
  readFileSync(join(FIXTURES, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Captured)

t.test('real shipper captures: what the rules see', async (t) => {
  const SSH = ['host.name', 'process.name', 'process.pid', 'source.ip', 'source.port', 'user.name', 'event.action', 'event.outcome', 'ssh.event', 'ssh.method']
  const cases: [string, (v: FieldSource, i: number) => [Rec, Logsource]][] = [
    // syslog-ng http() NDJSON: {ts, msg, host}; msg is the whole line read from a file, so its header names the writer.
    ['syslog-ng-ndjson.jsonl', (v) => {
      const ip = String(v.get('source.ip'))
      t.match(ip, /^10\.0\.0\.\d$/)
      return [{ 'host.name': 'host01', 'process.name': 'sshd', 'process.pid': 123, 'source.ip': ip, 'source.port': 22, 'user.name': 'admin', 'event.action': 'ssh_login', 'event.outcome': 'failure', 'ssh.event': 'Failed', 'ssh.method': 'password' }, { product: 'linux', service: 'sshd' }]
    }],
    // syslog-ng JSON arrays of its own macros: {SOURCE, MESSAGE, ISODATE, HOST_FROM, HOST, FILE_NAME}.
    ['syslog-ng-default-and-array.jsonl', (v, i) => {
      t.equal(v.get('HOST'), 'vm', 'the flat key wins for its own name')
      return [{ 'host.name': 'host01', 'process.name': 'sshd', 'process.pid': 123, 'source.ip': `10.0.0.${i + 1}`, 'source.port': 22, 'user.name': 'admin', 'event.action': 'ssh_login', 'event.outcome': 'failure', 'ssh.event': 'Failed', 'ssh.method': 'password' }, { product: 'linux', service: 'sshd' }]
    }],
    // The batch lines have no port: `Failed password for root from 10.0.4.4 id=TP-4`.
    ['syslog-ng-batch.jsonl', (v) => [{ 'host.name': 'host01', 'process.name': 'sshd', 'process.pid': 1, 'source.ip': v.get('source.ip'), 'user.name': 'root', 'event.action': 'ssh_login', 'event.outcome': 'failure', 'ssh.event': 'Failed', 'ssh.method': 'password' }, { product: 'linux', service: 'sshd' }]],
    // rsyslog omelasticsearch: {@timestamp, host, tag, message}; the tag is imfile's, the line's header names the kernel on fw01.
    ['rsyslog-omelasticsearch-es8.jsonl', () => [{ 'host.name': 'fw01', 'process.name': 'kernel' }, { product: 'linux', service: 'syslog' }]],
    // pino: {level, time, pid, hostname, src_ip, event, id, msg}: no program, so no logsource of its own.
    ['pino-elasticsearch.jsonl', (v) => [{ 'host.name': 'vm', 'process.pid': 11953, 'source.ip': v.get('src_ip'), message: 'failed login' }, {}]],
    ['pino-http-send.jsonl', (v) => [{ 'host.name': 'vm', 'process.pid': v.get('pid'), 'source.ip': v.get('src_ip'), message: 'failed login' }, {}]],
    // winston {id, level, message, src_ip}; Splunk HEC (the envelope's host is host.name; its `source: sshd` is an app name, not a program).
    ['winston-http-and-splunk-hec.jsonl', (v) => (v.get('sourcetype') !== undefined || v.get('host') === 'host01'
      ? [{ 'host.name': 'host01', 'source.ip': v.get('src_ip') }, {}]
      : [{ 'source.ip': v.get('src_ip'), message: 'failed login' }, {}])],
    ['elasticsearch-js-bulk-gzip.jsonl', (v) => [{ 'source.ip': v.get('src_ip') }, {}]]
  ]
  for (const [file, expect] of cases) {
    let n = 0
    for (const req of captures(file)) {
      const views = viewsOf(req)
      t.ok(views.length > 0, `${file} ${req.url}: records`)
      views.forEach((v, i) => {
        const [want, ls] = expect(v, i)
        t.ok(want['source.ip'] === undefined || typeof want['source.ip'] === 'string', 'an address')
        expectView(t, v, want, ls, `${file} ${req.url} record ${i}`, SSH.filter((k) => !(k in want)))
        n++
      })
    }
    t.ok(n > 0, `${file}: ${n} records checked`)
  }
})

// --- syslog: the shapes shippers send ---------------------------------------------------------

const SYSLOG = ['host.name', 'process.name', 'process.pid', 'message', 'log.syslog.priority', 'log.syslog.facility.code', 'log.syslog.facility.name', 'log.syslog.severity.code', 'log.syslog.severity.name']
const SSH_FAIL = { 'source.ip': '203.0.113.9', 'source.port': 52144, 'user.name': 'root', 'event.action': 'ssh_login', 'event.outcome': 'failure' }
const LINE = 'Failed password for root from 203.0.113.9 port 52144 ssh2'

t.test('syslog records: canonical fields from every shipper shape', async (t) => {
  const cases: [string, Rec, Rec, Logsource, ViewOptions?][] = [
    ['syslog-ng format-json (rfc5424 scope): MESSAGE, PROGRAM, HOST, PID, FACILITY, PRIORITY',
      { MESSAGE: LINE, PROGRAM: 'sshd', HOST: 'bastion-01', PID: '4242', FACILITY: 'authpriv', PRIORITY: 'info', DATE: 'Oct 10 13:55:36' },
      { 'host.name': 'bastion-01', 'process.name': 'sshd', 'process.pid': 4242, message: LINE, 'log.syslog.facility.code': 10, 'log.syslog.facility.name': 'authpriv', 'log.syslog.severity.code': 6, 'log.syslog.severity.name': 'info', ...SSH_FAIL },
      { product: 'linux', service: 'sshd' }],
    ["Vigil's syslog-ng configuration (docs/shippers.md): host, program, severity, message",
      { host: 'bastion-01', program: 'sshd', severity: 'notice', message: LINE, ts: '2026-10-10T13:55:36+00:00', id: 'u1' },
      { 'host.name': 'bastion-01', 'process.name': 'sshd', message: LINE, 'log.syslog.severity.code': 5, 'log.syslog.severity.name': 'notice', ...SSH_FAIL },
      { product: 'linux', service: 'sshd' }],
    ['rsyslog omelasticsearch: message (with its leading space), programname, hostname, syslogfacility-text',
      { '@timestamp': '2026-10-10T13:55:36Z', message: ` ${LINE}`, programname: 'sshd', hostname: 'bastion-01', 'syslogfacility-text': 'auth', 'syslogseverity-text': 'info', procid: '77' },
      { 'host.name': 'bastion-01', 'process.name': 'sshd', 'process.pid': 77, message: LINE, 'log.syslog.facility.code': 4, 'log.syslog.facility.name': 'auth', 'log.syslog.severity.code': 6, 'log.syslog.severity.name': 'info', ...SSH_FAIL },
      { product: 'linux', service: 'sshd' }],
    ["rsyslog's plain template: tag `sshd[77]:` gives the program and pid",
      { host: 'bastion-01', tag: 'sshd[77]:', message: ` ${LINE}` },
      { 'host.name': 'bastion-01', 'process.name': 'sshd', 'process.pid': 77, message: LINE, ...SSH_FAIL },
      { product: 'linux', service: 'sshd' }],
    ['ECS (Filebeat / Elastic Agent system module): nested process.name, host.name, log.syslog',
      { '@timestamp': '2026-10-10T13:55:36Z', message: LINE, process: { name: 'sshd', pid: 812 }, host: { name: 'bastion-01' }, log: { syslog: { facility: { code: 10, name: 'authpriv' }, severity: { code: 6, name: 'Informational' }, appname: 'sshd' } } },
      { 'host.name': 'bastion-01', 'process.name': 'sshd', 'process.pid': 812, message: LINE, 'log.syslog.facility.code': 10, 'log.syslog.facility.name': 'authpriv', 'log.syslog.severity.code': 6, 'log.syslog.severity.name': 'Informational', ...SSH_FAIL },
      { product: 'linux', service: 'sshd' }],
    ['journald (journalctl -o json, Fluent Bit systemd input): MESSAGE, SYSLOG_IDENTIFIER, _HOSTNAME, _PID, PRIORITY, SYSLOG_FACILITY',
      { MESSAGE: LINE, SYSLOG_IDENTIFIER: 'sshd', SYSLOG_PID: '4242', _PID: '4242', _HOSTNAME: 'bastion-01', _COMM: 'sshd', PRIORITY: '6', SYSLOG_FACILITY: '10', _TRANSPORT: 'syslog', __REALTIME_TIMESTAMP: '1791640536000000' },
      { 'host.name': 'bastion-01', 'process.name': 'sshd', 'process.pid': 4242, message: LINE, 'log.syslog.facility.code': 10, 'log.syslog.facility.name': 'authpriv', 'log.syslog.severity.code': 6, 'log.syslog.severity.name': 'info', ...SSH_FAIL },
      { product: 'linux', service: 'sshd' }],
    ['Fluent Bit tail (and Docker json-file): log is the whole line, newline included',
      { log: `Oct 10 13:55:36 bastion-01 sshd[4242]: ${LINE}\n`, stream: 'stdout', time: '2026-10-10T13:55:36.1Z' },
      { 'host.name': 'bastion-01', 'process.name': 'sshd', 'process.pid': 4242, message: LINE, ...SSH_FAIL },
      { product: 'linux', service: 'sshd' }],
    ['Fluent Bit syslog-rfc3164 parser: pri, host, ident, pid, message',
      { pri: '38', time: 'Oct 10 13:55:36', host: 'bastion-01', ident: 'sshd', pid: '4242', message: LINE },
      { 'host.name': 'bastion-01', 'process.name': 'sshd', 'process.pid': 4242, message: LINE, 'log.syslog.priority': 38, 'log.syslog.facility.code': 4, 'log.syslog.facility.name': 'auth', 'log.syslog.severity.code': 6, 'log.syslog.severity.name': 'info', ...SSH_FAIL },
      { product: 'linux', service: 'sshd' }],
    ['Vector syslog source: appname, procid, hostname, facility, severity, message (source_ip is the relay, not source.ip)',
      { appname: 'sshd', procid: 4242, hostname: 'bastion-01', host: '10.9.9.9', facility: 'auth', severity: 'info', message: LINE, source_ip: '10.9.9.9', source_type: 'syslog', timestamp: '2026-10-10T13:55:36Z' },
      { 'host.name': '10.9.9.9', 'process.name': 'sshd', 'process.pid': 4242, message: LINE, 'log.syslog.facility.code': 4, 'log.syslog.facility.name': 'auth', 'log.syslog.severity.code': 6, 'log.syslog.severity.name': 'info', ...SSH_FAIL },
      { product: 'linux', service: 'sshd' }],
    ['Vector file source: message is the whole line (ISO time, as rsyslog writes files)',
      { message: `2026-10-10T13:55:36.105+00:00 bastion-01 sshd[4242]: ${LINE}`, file: '/var/log/auth.log', host: 'collector', source_type: 'file' },
      { 'host.name': 'bastion-01', 'process.name': 'sshd', 'process.pid': 4242, message: LINE, ...SSH_FAIL },
      { product: 'linux', service: 'sshd' }],
    ['a raw RFC 3164 line with PRI (syslog-ng default raw body, or a plain line): facility and severity from PRI; a one-digit day',
      { message: `<86>Mar  1 09:05:00 bastion-01 sshd[9]: ${LINE}` },
      { 'host.name': 'bastion-01', 'process.name': 'sshd', 'process.pid': 9, message: LINE, 'log.syslog.priority': 86, 'log.syslog.facility.code': 10, 'log.syslog.facility.name': 'authpriv', 'log.syslog.severity.code': 6, 'log.syslog.severity.name': 'info', ...SSH_FAIL },
      { product: 'linux', service: 'sshd' }],
    ['a raw RFC 5424 line with structured data and a BOM',
      { message: `<38>1 2026-10-10T13:55:36.003Z bastion-01 sshd 4242 - [meta sequenceId="1" note="a \\"]\\" b"] \ufeff${LINE}` },
      { 'host.name': 'bastion-01', 'process.name': 'sshd', 'process.pid': 4242, message: LINE, 'log.syslog.priority': 38, 'log.syslog.facility.code': 4, 'log.syslog.facility.name': 'auth', 'log.syslog.severity.code': 6, 'log.syslog.severity.name': 'info', ...SSH_FAIL },
      { product: 'linux', service: 'sshd' }],
    ['RFC 5424 with nil values: no host, no pid',
      { message: '<13>1 - - cron - - - (root) CMD (run-parts /etc/cron.hourly)' },
      { 'process.name': 'cron', message: '(root) CMD (run-parts /etc/cron.hourly)', 'log.syslog.priority': 13, 'log.syslog.facility.code': 1, 'log.syslog.facility.name': 'user', 'log.syslog.severity.code': 5, 'log.syslog.severity.name': 'notice' },
      { product: 'linux', service: 'cron' }],
    ['a header without a host (local syslog): the first word after the time is the tag',
      { message: `Oct 10 13:55:36 sshd[5]: ${LINE}` },
      { 'process.name': 'sshd', 'process.pid': 5, message: LINE, ...SSH_FAIL },
      { product: 'linux', service: 'sshd' }],
    ['a bare `prog[pid]:` line (no time): the pid makes it a tag',
      { message: `sshd-session[5]: ${LINE}` },
      { 'process.name': 'sshd-session', 'process.pid': 5, message: LINE, ...SSH_FAIL },
      { product: 'linux', service: 'sshd' }],
    ['IPv6 host and a program path',
      { message: 'Oct 10 13:55:36 2001:db8::7 /usr/sbin/cron[88]: (root) CMD (true)' },
      { 'host.name': '2001:db8::7', 'process.name': '/usr/sbin/cron', 'process.pid': 88, message: '(root) CMD (true)' },
      { product: 'linux', service: 'cron' }],
    ['a message body is not guessed at: `error: ...` has no pid, so no header',
      { MESSAGE: 'error: PAM: Authentication failure for root from 203.0.113.9', SYSLOG_IDENTIFIER: 'sshd' },
      { 'process.name': 'sshd', message: 'error: PAM: Authentication failure for root from 203.0.113.9' },
      { product: 'linux', service: 'sshd' }],
    ['any other program is linux / syslog',
      { MESSAGE: 'Started Daily apt upgrade.', PROGRAM: 'systemd', HOST: 'h1' },
      { 'host.name': 'h1', 'process.name': 'systemd', message: 'Started Daily apt upgrade.' },
      { product: 'linux', service: 'syslog' }],
    ['Vigil severities are not syslog severities: "High" gives none',
      { message: 'x', severity: 'High', source: 'api' },
      { message: 'x' },
      {}],
    ['options.message is parsed when the record has no message field (native events: description)',
      { source: 'bastion-01', severity: 'Low', event_type: 'intrusion', program: 'sshd' },
      { 'process.name': 'sshd', message: LINE, ...SSH_FAIL },
      { product: 'linux', service: 'sshd' },
      { message: LINE }]
  ]
  for (const [name, doc, want, ls, options] of cases) {
    // `message` is the body after the header, unless the record has a `message` key of its own (flat keys win).
    if (typeof doc.message === 'string' && 'message' in want) want.message = doc.message
    expectView(t, recordView(doc, options), want, ls, name, [...SYSLOG, 'source.ip', 'source.port', 'user.name', 'event.action', 'event.outcome'].filter((k) => !(k in want)))
  }
})

t.test('aliases resolve to their canonical field, case-insensitively; the record\'s own key always wins', async (t) => {
  const doc = { MESSAGE: `<86>Oct 10 13:55:36 bastion-01 sshd[4242]: ${LINE}` }
  const v = recordView(doc)
  const aliases: [string, unknown][] = [
    ['program', 'sshd'], ['ProgramName', 'sshd'], ['programname', 'sshd'], ['PROGRAM', 'sshd'], ['SYSLOG_IDENTIFIER', 'sshd'], ['appname', 'sshd'],
    ['app_name', 'sshd'], ['ident', 'sshd'], ['log.syslog.appname', 'sshd'], ['syslog.appname', 'sshd'],
    ['host', 'bastion-01'], ['hostname', 'bastion-01'], ['HOST', 'bastion-01'], ['HOSTNAME', 'bastion-01'], ['_HOSTNAME', 'bastion-01'], ['log.syslog.hostname', 'bastion-01'],
    ['pid', 4242], ['PID', 4242], ['_PID', 4242], ['SYSLOG_PID', 4242], ['procid', 4242], ['ProcessId', 4242], ['log.syslog.procid', 4242],
    ['msg', LINE], ['Message', LINE],
    ['pri', 86], ['PRI', 86],
    ['facility', 'authpriv'], ['FACILITY', 'authpriv'], ['syslog.facility', 'authpriv'], ['SYSLOG_FACILITY', 10],
    ['PRIORITY', 6], ['priority', 6], ['syslog.severity', 'info'], ['syslogseverity-text', 'info'],
    ['src_ip', '203.0.113.9'], ['SourceIp', '203.0.113.9'], ['src', '203.0.113.9'], ['src_port', 52144], ['SourcePort', 52144],
    ['user', 'root'], ['User', 'root'], ['username', 'root'],
    ['no.such.field', undefined], ['Process.Name', 'sshd'], ['Program', 'sshd']
  ]
  for (const [alias, want] of aliases) t.same(v.get(alias), want, `${alias}`)
  const own = recordView({ ...doc, program: 'my-own', pid: 'x', host: { name: 'ecs-host' } })
  t.equal(own.get('program'), 'my-own', 'a flat key is the record\'s own')
  t.equal(own.get('pid'), 'x')
  t.same(own.get('host'), { name: 'ecs-host' }, 'an object is returned as it is')
  t.equal(own.get('host.name'), 'ecs-host', 'a dotted path beats the parsed header')
  t.equal(own.get('hostname'), 'ecs-host', 'and so does its alias: an alias means exactly its canonical field')
})

t.test('flat key, then dotted path, then mappings; null, prototype names, odd inputs', async (t) => {
  const v = recordView({ 'process.name': 'flat', process: { name: 'nested', parent: { pid: 7 } }, a: null, 'user.name': null, MESSAGE: `sshd[1]: ${LINE}` })
  t.equal(v.get('process.name'), 'flat', 'the flat key first')
  t.equal(v.get('process.parent.pid'), 7, 'the dotted path through nested objects')
  t.equal(v.get('user.name'), 'root', 'a null flat key gives way to a mapping that has a value')
  t.equal(v.get('a'), null, 'a field sent as null is null')
  t.equal(v.get('missing'), undefined, 'an absent field is undefined')
  for (const name of ['constructor', '__proto__', 'toString', 'process.constructor', 'hasOwnProperty', 'process.name.length']) {
    t.equal(v.get(name), undefined, `${name}: own properties only`)
  }
  t.same(v.get('process'), { name: 'nested', parent: { pid: 7 } })
  const odd = recordView(null as unknown as Rec, null as unknown as ViewOptions)
  t.equal(odd.get('x'), undefined, 'a non-object record is empty')
  t.same(odd.keywords(), [])
  t.same({ ...odd.logsource }, {})
  const arr = recordView([1, 2] as unknown as Rec)
  t.equal(arr.get('0'), undefined)
  const structured = recordView({ message: { event: 'auth_fail' }, program: 'sshd' })
  t.same(structured.get('msg'), { event: 'auth_fail' }, 'an alias is its canonical field, an object too')
  t.equal(structured.get('event.action'), undefined, 'a structured message is not text to parse')
})

// --- auth lines -------------------------------------------------------------------------------

t.test('sshd, sudo, PAM and shadow-utils lines into ECS fields', async (t) => {
  const AUTH = ['source.ip', 'source.port', 'user.name', 'user.id', 'user.effective.name', 'group.name', 'group.id', 'event.action', 'event.outcome', 'event.reason', 'process.command_line', 'process.working_directory', 'ssh.event', 'ssh.method']
  const cases: [string, string, Rec, string?][] = [
    // sshd
    ['sshd', 'Failed password for root from 203.0.113.9 port 52144 ssh2', { ...SSH_FAIL, 'ssh.event': 'Failed', 'ssh.method': 'password' }],
    ['sshd', 'Failed password for invalid user admin from 203.0.113.9 port 52144 ssh2', { ...SSH_FAIL, 'user.name': 'admin', 'ssh.event': 'Failed', 'ssh.method': 'password' }],
    ['sshd', 'Accepted password for alice from 203.0.113.9 port 52144 ssh2', { ...SSH_FAIL, 'user.name': 'alice', 'event.outcome': 'success', 'ssh.event': 'Accepted', 'ssh.method': 'password' }],
    ['sshd', 'Accepted publickey for alice from 2001:db8::9 port 50122 ssh2: ED25519 SHA256:abc', { 'source.ip': '2001:db8::9', 'source.port': 50122, 'user.name': 'alice', 'event.action': 'ssh_login', 'event.outcome': 'success', 'ssh.event': 'Accepted', 'ssh.method': 'publickey' }],
    ['sshd', 'Failed keyboard-interactive/pam for invalid user oracle from 203.0.113.9 port 52144 ssh2', { ...SSH_FAIL, 'user.name': 'oracle', 'ssh.event': 'Failed', 'ssh.method': 'keyboard-interactive/pam' }],
    ['sshd', 'Invalid user bob from 203.0.113.9 port 52144', { ...SSH_FAIL, 'user.name': 'bob', 'ssh.event': 'Invalid' }],
    ['sshd', 'Invalid user bob from 203.0.113.9', { 'source.ip': '203.0.113.9', 'user.name': 'bob', 'event.action': 'ssh_login', 'event.outcome': 'failure', 'ssh.event': 'Invalid' }],
    ['sshd', 'Invalid user  from 203.0.113.9 port 52144', { ...SSH_FAIL, 'user.name': '', 'ssh.event': 'Invalid' }, 'an empty user name'],
    ['sshd', 'Failed password for invalid user x from 6.6.6.6 port 1 ssh2 from 203.0.113.9 port 52144 ssh2', { ...SSH_FAIL, 'user.name': 'x from 6.6.6.6 port 1 ssh2', 'ssh.event': 'Failed', 'ssh.method': 'password' }, 'a user name forging an address: the last `from` is sshd\'s'],
    ['sshd', 'Failed password for root from attacker.example.net port 52144 ssh2', { 'source.port': 52144, 'user.name': 'root', 'event.action': 'ssh_login', 'event.outcome': 'failure', 'ssh.event': 'Failed', 'ssh.method': 'password' }, 'a host name (UseDNS) is not a source.ip'],
    ['sshd-session', 'Failed password for root from 203.0.113.9 port 52144 ssh2', { ...SSH_FAIL, 'ssh.event': 'Failed', 'ssh.method': 'password' }, 'OpenSSH 9.8+ logs as sshd-session'],
    ['sshd', 'message repeated 3 times: [ Failed password for root from 203.0.113.9 port 52144 ssh2]', { ...SSH_FAIL, 'ssh.event': 'Failed', 'ssh.method': 'password' }, "rsyslog's repeated-message form"],
    ['sshd', 'pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root', { 'source.ip': '203.0.113.9', 'user.name': 'root', 'event.action': 'pam_auth', 'event.outcome': 'failure' }],
    ['sshd', 'Connection closed by authenticating user root 203.0.113.9 port 52144 [preauth]', {}, 'not a login outcome'],
    ['sshd', 'Failed password for root', {}, 'no address: not parsed'],
    ['sshd', 'Server listening on 0.0.0.0 port 22.', {}],
    // sudo
    ['sudo', 'pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=alice', { 'user.name': 'alice', 'event.action': 'sudo_auth', 'event.outcome': 'failure' }],
    ['sudo', 'alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash', { 'user.name': 'alice', 'user.effective.name': 'root', 'event.action': 'sudo_auth', 'event.outcome': 'failure', 'event.reason': '3 incorrect password attempts', 'process.command_line': '/bin/bash', 'process.working_directory': '/home/alice' }],
    ['sudo', '   alice : 1 incorrect password attempt ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id', { 'user.name': 'alice', 'user.effective.name': 'root', 'event.action': 'sudo_auth', 'event.outcome': 'failure', 'event.reason': '1 incorrect password attempt', 'process.command_line': '/usr/bin/id', 'process.working_directory': '/home/alice' }, 'sudo pads the user with spaces'],
    ['sudo', 'alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/sh -c echo a ; echo b', { 'user.name': 'alice', 'user.effective.name': 'root', 'event.action': 'sudo_command', 'event.outcome': 'success', 'process.command_line': '/bin/sh -c echo a ; echo b', 'process.working_directory': '/home/alice' }, 'COMMAND runs to the end, even over " ; "'],
    ['sudo', 'mallory : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/cat /etc/shadow', { 'user.name': 'mallory', 'user.effective.name': 'root', 'event.action': 'sudo_command', 'event.outcome': 'failure', 'event.reason': 'user NOT in sudoers', 'process.command_line': '/bin/cat /etc/shadow', 'process.working_directory': '/tmp' }],
    ['sudo', 'bob : a password is required ; TTY=unknown ; PWD=/ ; USER=root ; COMMAND=/bin/true', { 'user.name': 'bob', 'user.effective.name': 'root', 'event.action': 'sudo_auth', 'event.outcome': 'failure', 'event.reason': 'a password is required', 'process.command_line': '/bin/true', 'process.working_directory': '/' }],
    ['sudo', 'pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)', {}, 'a session line is not an outcome'],
    ['sudo', 'unable to resolve host web01: Name or service not known', {}],
    // shadow-utils
    ['useradd', 'new user: name=eve, UID=1001, GID=1001, home=/home/eve, shell=/bin/bash, from=/dev/pts/0', { 'user.name': 'eve', 'user.id': '1001', 'group.id': '1001', 'event.action': 'user_created', 'event.outcome': 'success' }],
    ['useradd', 'new group: name=eve, GID=1001', { 'group.name': 'eve', 'group.id': '1001', 'event.action': 'group_created', 'event.outcome': 'success' }],
    ['groupadd', 'new group: name=ops, GID=1002', { 'group.name': 'ops', 'group.id': '1002', 'event.action': 'group_created', 'event.outcome': 'success' }],
    ['groupadd', 'group added to /etc/group: name=ops, GID=1002', {}, 'the file lines repeat the creation'],
    ['userdel', "delete user 'eve'", { 'user.name': 'eve', 'event.action': 'user_deleted', 'event.outcome': 'success' }],
    ['userdel', "removed group 'eve' owned by 'eve'", { 'group.name': 'eve', 'user.name': 'eve', 'event.action': 'group_deleted', 'event.outcome': 'success' }],
    ['groupdel', "group 'ops' removed", { 'group.name': 'ops', 'event.action': 'group_deleted', 'event.outcome': 'success' }],
    ['groupdel', "group 'ops' removed from /etc/group", {}],
    ['usermod', "add 'eve' to group 'sudo'", { 'user.name': 'eve', 'group.name': 'sudo', 'event.action': 'group_member_added', 'event.outcome': 'success' }],
    ['usermod', "add 'eve' to shadow group 'sudo'", {}],
    ['gpasswd', 'user eve added by root to group sudo', { 'user.name': 'eve', 'group.name': 'sudo', 'event.action': 'group_member_added', 'event.outcome': 'success' }],
    // a program Vigil does not parse
    ['cron', 'Failed password for root from 203.0.113.9 port 52144 ssh2', {}, 'only sshd lines are read as sshd lines']
  ]
  for (const [program, line, want, note] of cases) {
    const name = `${program}: ${note ?? line}`
    // The same line three ways: a journald record, a raw syslog line, and an ingest key's logsource naming the service.
    expectView(t, recordView({ MESSAGE: line, SYSLOG_IDENTIFIER: program, _HOSTNAME: 'h' }), want, undefined, `${name} (journald)`, AUTH.filter((k) => !(k in want)))
    expectView(t, recordView({ message: `<86>Oct 10 13:55:36 h ${program}[99]: ${line}` }), want, undefined, `${name} (raw line)`, AUTH.filter((k) => !(k in want)))
    const service = program.startsWith('sshd') ? 'sshd' : program === 'sudo' ? 'sudo' : undefined
    if (service) expectView(t, recordView({ message: line }, { logsource: { product: 'linux', service } }), want, { product: 'linux', service }, `${name} (key logsource)`, AUTH.filter((k) => !(k in want)))
  }
})

// --- auditd -----------------------------------------------------------------------------------

t.test('auditd records: raw lines and JSON forms', async (t) => {
  const AUDITD: Logsource = { product: 'linux', service: 'auditd' }
  const execve = 'type=EXECVE msg=audit(1700000000.123:456): argc=3 a0="curl" a1="-o" a2="/tmp/x"'
  const syscall = 'type=SYSCALL msg=audit(1700000000.123:456): arch=c000003e syscall=59 success=yes exit=0 a0=55d0c1e2f3a0 a1=55d0c1e2f400 a2=55d0c1e2f460 a3=8 items=2 ppid=1200 pid=1234 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="curl" exe="/usr/bin/curl" subj=unconfined key="susp"'
  const cases: [string, Rec, Rec][] = [
    ['EXECVE, quoted arguments', { message: execve }, { type: 'EXECVE', argc: '3', a0: 'curl', a1: '-o', a2: '/tmp/x', 'process.args': ['curl', '-o', '/tmp/x'] }],
    ['EXECVE, hex-encoded arguments (auditd encodes values with spaces)', { message: 'type=EXECVE msg=audit(1700000000.123:457): argc=3 a0="sh" a1="-c" a2=6375726C202D6F202F746D702F782068747470' },
      { type: 'EXECVE', argc: '3', a0: 'sh', a1: '-c', a2: 'curl -o /tmp/x http', 'process.args': ['sh', '-c', 'curl -o /tmp/x http'] }],
    ['EXECVE, the brief\'s a1=2F746D702F78', { message: 'type=EXECVE msg=audit(1700000000.123:458): argc=2 a0="cat" a1=2F746D702F78' }, { type: 'EXECVE', a0: 'cat', a1: '/tmp/x' }],
    ['EXECVE, a long argument in pieces', { message: 'type=EXECVE msg=audit(1700000000.123:459): argc=2 a0="echo" a1_len=6 a1[1]=646566 a1[0]=616263' }, { type: 'EXECVE', a0: 'echo', a1: 'abcdef', a1_len: '6' }],
    ['EXECVE, an empty argument keeps the ones after it', { message: 'type=EXECVE msg=audit(1700000000.123:460): argc=3 a0="printf" a1="" a2="x"' }, { a1: '', 'process.args': ['printf', '', 'x'] }],
    ['SYSCALL: exe, comm, key, uid, auid, syscall, success, pid, ppid; its a0..a3 are hex numbers, not text',
      { message: syscall },
      { type: 'SYSCALL', syscall: '59', success: 'yes', exit: '0', a0: '55d0c1e2f3a0', a3: '8', pid: '1234', ppid: '1200', uid: '1000', auid: '1000', euid: '1000', tty: 'pts0', comm: 'curl', exe: '/usr/bin/curl', key: 'susp',
        'process.name': 'curl', 'process.executable': '/usr/bin/curl', 'process.pid': 1234, 'process.parent.pid': 1200, 'user.id': '1000', 'user.audit.id': '1000', 'event.outcome': 'success' }],
    ['SYSCALL with hex exe, (null) key, several keys', { message: 'type=SYSCALL msg=audit(1.2:3): syscall=2 success=no comm=6D7920746F6F6C exe=2F6F70742F6D7920746F6F6C key=(null) pid=5' },
      { comm: 'my tool', exe: '/opt/my tool', success: 'no', 'event.outcome': 'failure' }],
    ['multiple rule keys joined by 0x01', { message: 'type=SYSCALL msg=audit(1.2:3): syscall=59 key=7375737001657865' }, { key: ['susp', 'exe'] }],
    ['PROCTITLE: NULs between arguments become spaces', { message: 'type=PROCTITLE msg=audit(1.2:3): proctitle=6375726C002D6F002F746D702F78' }, { type: 'PROCTITLE', proctitle: 'curl -o /tmp/x' }],
    ['PATH', { message: 'type=PATH msg=audit(1.2:3): item=0 name="/etc/shadow" inode=131 dev=08:01 mode=0100640 ouid=0 ogid=42 rdev=00:00 nametype=NORMAL' }, { type: 'PATH', name: '/etc/shadow', nametype: 'NORMAL', mode: '0100640' }],
    ["USER_LOGIN: the pairs of msg='...'", { message: "type=USER_LOGIN msg=audit(1.2:3): pid=812 uid=0 auid=4294967295 ses=4294967295 msg='op=login acct=\"root\" exe=\"/usr/sbin/sshd\" hostname=? addr=203.0.113.9 terminal=ssh res=failed'" },
      { type: 'USER_LOGIN', pid: '812', op: 'login', acct: 'root', exe: '/usr/sbin/sshd', addr: '203.0.113.9', terminal: 'ssh', res: 'failed', 'user.name': 'root', 'source.ip': '203.0.113.9', 'event.outcome': 'failure' }],
    ['node= prefix (multi-host dispatch)', { message: `node=web01 ${execve}` }, { node: 'web01', type: 'EXECVE', a0: 'curl', 'host.name': 'web01' }],
    ['ENRICHED format: the fields after 0x1d under their upper-case names', { message: `${syscall}\x1dARCH=x86_64 SYSCALL=execve AUID="alice" UID="alice"` }, { syscall: '59', SYSCALL: 'execve', AUID: 'alice', UID: 'alice', uid: '1000' }],
    ['the kernel\'s form through syslog: numeric type', { message: '<4>Oct 10 13:55:36 h kernel: [ 1234.567] audit: type=1400 audit(1700000000.123:456): apparmor="DENIED" operation="open" profile="/usr/sbin/cupsd" name="/etc/shadow" pid=981 comm="cupsd"' },
      { type: 'AVC', apparmor: 'DENIED', operation: 'open', name: '/etc/shadow', comm: 'cupsd', 'host.name': 'h' }],
    ['through audisp-syslog, in a syslog-ng record', { MESSAGE: `Oct 10 13:55:36 h audisp-syslog: ${execve}`, HOST: 'collector' }, { type: 'EXECVE', a0: 'curl', 'host.name': 'h' }],
    ['a flat JSON object of auditd fields (read as sent)', { type: 'SYSCALL', syscall: '59', comm: 'curl', exe: '/usr/bin/curl', pid: 1234, auid: '1000', key: 'susp', success: 'yes' },
      { type: 'SYSCALL', comm: 'curl', exe: '/usr/bin/curl', key: 'susp', 'process.name': 'curl', 'process.executable': '/usr/bin/curl', 'process.pid': 1234, 'user.audit.id': '1000', 'event.outcome': 'success' }],
    ['a flat EXECVE object', { type: 'EXECVE', argc: 2, a0: 'nc', a1: '-lvp' }, { type: 'EXECVE', a0: 'nc', 'process.args': ['nc', '-lvp'] }],
    ['auditbeat: auditd.data.*, process.args as a0..aN, the merged record types', {
      '@timestamp': '2026-10-10T13:55:36Z', event: { module: 'auditd', action: 'executed', outcome: 'success' },
      auditd: { message_type: 'syscall', sequence: 456, result: 'success', data: { syscall: 'execve', a0: '55d0c1e2f3a0', a1: '55d0c1e2f400', exit: '0', tty: 'pts0', arch: 'x86_64' } },
      process: { pid: 1234, ppid: 1200, name: 'curl', executable: '/usr/bin/curl', args: ['curl', '-o', '/tmp/x'], working_directory: '/root' },
      user: { id: '0', audit: { id: '1000' } }, tags: ['susp']
    }, { type: ['SYSCALL', 'EXECVE'], syscall: 'execve', a0: 'curl', a1: '-o', a2: '/tmp/x', argc: '3', exe: '/usr/bin/curl', comm: 'curl', pid: '1234', ppid: '1200', cwd: '/root', uid: '0', auid: '1000', success: 'yes', tty: 'pts0', 'event.outcome': 'success' }],
    ['Filebeat auditd module: auditd.log.*', { auditd: { log: { record_type: 'EXECVE', sequence: 456, a0: 'wget', a1: 'http://x/y', argc: '2' } }, event: { module: 'auditd' } }, { type: 'EXECVE', a0: 'wget', a1: 'http://x/y', argc: '2' }],
    ["journald's audit transport", { _TRANSPORT: 'audit', _AUDIT_TYPE: '1309', _AUDIT_TYPE_NAME: 'EXECVE', _AUDIT_ID: '456', MESSAGE: 'EXECVE argc=2 a0="id" a1=2D75', _HOSTNAME: 'h' }, { type: 'EXECVE', a0: 'id', a1: '-u', 'process.args': ['id', '-u'], 'host.name': 'h' }]
  ]
  for (const [name, doc, want] of cases) expectView(t, recordView(doc), want, AUDITD, name)
  // Malformed: an unterminated quote ends the scan; what came before stays.
  const broken = recordView({ message: 'type=EXECVE msg=audit(1.2:3): argc=3 a0="curl" a1="-o a2="/tmp/x' })
  t.same(fieldsOf(broken, ['type', 'a0', 'a1', 'a2']), { type: 'EXECVE', a0: 'curl', a1: '-o a2=' }, 'a quote closes at the next quote')
  const open = recordView({ message: 'type=EXECVE msg=audit(1.2:3): argc=2 a0="curl a1=x' })
  t.same(fieldsOf(open, ['type', 'a0', 'a1']), { type: 'EXECVE' }, 'an unclosed quote: the field and the rest are absent')
  t.same({ ...open.logsource }, AUDITD)
  t.equal(recordView({ message: 'typo=EXECVE a0="curl"' }).get('a0'), undefined, 'not an auditd record')
  t.same({ ...recordView({ type: 'login', a0: 'x' }).logsource }, {}, 'a lower-case type is not auditd\'s')
})

// --- web access logs --------------------------------------------------------------------------

t.test('web access logs (combined log format) into W3C and ECS names', async (t) => {
  const W3C = ['c-ip', 'cs-username', 'cs-method', 'cs-uri', 'cs-uri-stem', 'cs-uri-query', 'cs-version', 'sc-status', 'sc-bytes', 'cs-bytes', 'cs-referer', 'cs-user-agent']
  const ECS = ['source.ip', 'user.name', 'http.request.method', 'url.original', 'url.path', 'url.query', 'http.version', 'http.response.status_code', 'http.response.body.bytes', 'http.request.bytes', 'http.request.referrer', 'user_agent.original']
  const sqlmap = '203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "GET /index.php?id=1%27%20OR%201=1 HTTP/1.1" 404 153 "-" "sqlmap/1.7"'
  const both = (w3c: Rec): Rec => {
    const out: Rec = { ...w3c }
    W3C.forEach((k, i) => {
      if (k in w3c && !(k === 'c-ip' && !/^[\d.:a-f]+$/.test(String(w3c[k])))) out[ECS[i]] = k === 'cs-version' ? String(w3c[k]).slice(5) : w3c[k]
    })
    return out
  }
  const SQLMAP = both({ 'c-ip': '203.0.113.9', 'cs-method': 'GET', 'cs-uri': '/index.php?id=1%27%20OR%201=1', 'cs-uri-stem': '/index.php', 'cs-uri-query': 'id=1%27%20OR%201=1', 'cs-version': 'HTTP/1.1', 'sc-status': 404, 'sc-bytes': 153, 'cs-user-agent': 'sqlmap/1.7' })
  const cases: [string, Rec, Rec, Logsource][] = [
    ['a plain line (Fluent Bit tail, Docker log)', { log: `${sqlmap}\n` }, SQLMAP, { category: 'webserver' }],
    ['nginx through syslog: product nginx', { message: `<190>Oct 10 13:55:36 web01 nginx: ${sqlmap}` }, { ...SQLMAP, 'host.name': 'web01', 'process.name': 'nginx' }, { category: 'webserver', product: 'nginx' }],
    ['apache through syslog-ng (PROGRAM httpd): product apache', { MESSAGE: sqlmap, PROGRAM: 'httpd', HOST: 'web02' }, { ...SQLMAP, 'host.name': 'web02' }, { category: 'webserver', product: 'apache' }],
    ['apache2 tag in an rsyslog record', { message: ` ${sqlmap}`, programname: 'apache2' }, SQLMAP, { category: 'webserver', product: 'apache' }],
    ['a custom tag is still a web server line', { message: sqlmap, program: 'www-access' }, SQLMAP, { category: 'webserver' }],
    ['common log format (no referer, no user agent), a user, bytes "-" is 0, no query',
      { message: '198.51.100.4 - alice [10/Oct/2026:13:55:36 -0700] "POST /login HTTP/1.0" 302 - ' },
      both({ 'c-ip': '198.51.100.4', 'cs-username': 'alice', 'cs-method': 'POST', 'cs-uri': '/login', 'cs-uri-stem': '/login', 'cs-version': 'HTTP/1.0', 'sc-status': 302, 'sc-bytes': 0 }), { category: 'webserver' }],
    ['an empty query is present and empty; a referer; escaped quotes in the user agent (Apache \\", nginx \\x22)',
      { message: '2001:db8::5 - - [10/Oct/2026:13:55:36 +0000] "GET /search? HTTP/2.0" 200 5120 "https://example.org/a?b=c" "Mozilla/5.0 \\"x\\" \\x22y\\x22"' },
      both({ 'c-ip': '2001:db8::5', 'cs-method': 'GET', 'cs-uri': '/search?', 'cs-uri-stem': '/search', 'cs-uri-query': '', 'cs-version': 'HTTP/2.0', 'sc-status': 200, 'sc-bytes': 5120, 'cs-referer': 'https://example.org/a?b=c', 'cs-user-agent': 'Mozilla/5.0 "x" "y"' }), { category: 'webserver' }],
    ['a host name client (HostnameLookups): c-ip only, no source.ip; a traversal path',
      { message: 'scanner.example.net - - [10/Oct/2026:13:55:36 +0000] "GET /../../etc/passwd HTTP/1.1" 400 0 "-" "-"' },
      both({ 'c-ip': 'scanner.example.net', 'cs-method': 'GET', 'cs-uri': '/../../etc/passwd', 'cs-uri-stem': '/../../etc/passwd', 'cs-version': 'HTTP/1.1', 'sc-status': 400, 'sc-bytes': 0 }), { category: 'webserver' }],
    ['a request that is not one (TLS bytes on the HTTP port): only status and size',
      { message: '203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03" 400 157 "-" "-"' },
      both({ 'c-ip': '203.0.113.9', 'sc-status': 400, 'sc-bytes': 157 }), { category: 'webserver' }],
    ['HTTP/0.9 style request without a version; a user name with a space',
      { message: '203.0.113.9 - bob smith [10/Oct/2026:13:55:36 +0000] "GET /" 200 12' },
      both({ 'c-ip': '203.0.113.9', 'cs-username': 'bob smith', 'cs-method': 'GET', 'cs-uri': '/', 'cs-uri-stem': '/', 'sc-status': 200, 'sc-bytes': 12 }), { category: 'webserver' }],
    ['an absolute-form target (a proxy request) and nginx extras after the user agent',
      { message: '203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "GET http://example.org/a?x=1 HTTP/1.1" 200 1 "-" "curl/8.5.0" "-" rt=0.001' },
      both({ 'c-ip': '203.0.113.9', 'cs-method': 'GET', 'cs-uri': 'http://example.org/a?x=1', 'cs-uri-stem': 'http://example.org/a', 'cs-uri-query': 'x=1', 'cs-version': 'HTTP/1.1', 'sc-status': 200, 'sc-bytes': 1, 'cs-user-agent': 'curl/8.5.0' }), { category: 'webserver' }],
    ["Apache's combinedio: %I is cs-bytes",
      { message: '203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "PUT /upload HTTP/1.1" 201 0 "-" "curl/8" 10240 312' },
      both({ 'c-ip': '203.0.113.9', 'cs-method': 'PUT', 'cs-uri': '/upload', 'cs-uri-stem': '/upload', 'cs-version': 'HTTP/1.1', 'sc-status': 201, 'sc-bytes': 0, 'cs-bytes': 10240, 'cs-user-agent': 'curl/8' }), { category: 'webserver' }]
  ]
  for (const [name, doc, want, ls] of cases) expectView(t, recordView(doc), want, ls, name, [...W3C, ...ECS].filter((k) => !(k in want)))

  const cs = recordView({ log: sqlmap })
  t.equal(cs.get('cs(User-Agent)'), 'sqlmap/1.7', 'the IIS-style name of the user agent')
  t.equal(cs.get('CS-URI-QUERY'), 'id=1%27%20OR%201=1', 'W3C names are case-insensitive')
  t.equal(typeof cs.get('sc-status'), 'number', 'sc-status is a number')

  // Records already in ECS (Filebeat's nginx module) or in W3C names (IIS as JSON) get the other names too.
  const ecs = recordView({ source: { ip: '203.0.113.9' }, url: { original: '/a?b', path: '/a', query: 'b' }, http: { request: { method: 'GET' }, response: { status_code: 404, body: { bytes: 9 } }, version: '1.1' }, user_agent: { original: 'ua' } })
  t.same(fieldsOf(ecs, W3C), { 'c-ip': '203.0.113.9', 'cs-method': 'GET', 'cs-uri': '/a?b', 'cs-uri-stem': '/a', 'cs-uri-query': 'b', 'cs-version': 'HTTP/1.1', 'sc-status': 404, 'sc-bytes': 9, 'cs-user-agent': 'ua' }, 'ECS -> W3C')
  const iis = recordView({ 'c-ip': '203.0.113.9', 'cs-method': 'GET', 'cs-uri-stem': '/a', 'cs-uri-query': 'b', 'sc-status': '404', 'cs-version': 'HTTP/1.1', 'cs(User-Agent)': 'ua' })
  t.same(fieldsOf(iis, ['source.ip', 'http.request.method', 'url.path', 'url.query', 'http.response.status_code', 'http.version']), { 'source.ip': '203.0.113.9', 'http.request.method': 'GET', 'url.path': '/a', 'url.query': 'b', 'http.response.status_code': 404, 'http.version': '1.1' }, 'W3C -> ECS')

  // Not access-log lines.
  for (const line of [
    '203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1 200 12',
    '203.0.113.9 - - [10/Oct/2026:13:55:36 +0000 "GET / HTTP/1.1" 200 12',
    '203.0.113.9 - - [not a time] "GET / HTTP/1.1" 200 12',
    '203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" OK 12',
    '2026/10/10 13:55:36 [error] 123#0: *1 open() "/var/www/x" failed (2: No such file or directory)'
  ]) {
    const v = recordView({ message: line, program: 'nginx' })
    t.same(fieldsOf(v, [...W3C, ...ECS]), {}, `not parsed: ${line.slice(0, 60)}`)
    t.same({ ...v.logsource }, { product: 'linux', service: 'syslog' })
  }
})

// --- logsource --------------------------------------------------------------------------------

t.test('the logsource of a view: its own, the key default, or derived', async (t) => {
  const cases: [string, Rec, Logsource, ViewOptions?][] = [
    ['the record\'s own logsource object wins', { logsource: { category: 'process_creation', product: 'windows' }, MESSAGE: LINE, PROGRAM: 'sshd' }, { category: 'process_creation', product: 'windows' }, { logsource: { product: 'linux', service: 'sudo' } }],
    ['an empty or invalid logsource object is none', { logsource: { product: '', service: 7 }, PROGRAM: 'sudo' }, { product: 'linux', service: 'sudo' }],
    ['then the ingest key\'s default', { MESSAGE: LINE, PROGRAM: 'sshd' }, { product: 'firewall' }, { logsource: { product: 'firewall' } }],
    ['sshd', { PROGRAM: 'sshd' }, { product: 'linux', service: 'sshd' }],
    ['sshd-session and sshd-auth are sshd', { program: 'sshd-auth' }, { product: 'linux', service: 'sshd' }],
    ['sudo', { SYSLOG_IDENTIFIER: 'sudo' }, { product: 'linux', service: 'sudo' }],
    ['CRON', { message: 'Oct 10 13:55:36 h CRON[1]: (root) CMD (true)' }, { product: 'linux', service: 'cron' }],
    ['useradd is auth', { programname: 'useradd' }, { product: 'linux', service: 'auth' }],
    ['groupadd is auth', { programname: 'groupadd' }, { product: 'linux', service: 'auth' }],
    ['su is auth', { programname: 'su' }, { product: 'linux', service: 'auth' }],
    ['systemd-logind is auth', { programname: 'systemd-logind' }, { product: 'linux', service: 'auth' }],
    ['vsftpd', { appname: 'vsftpd' }, { product: 'linux', service: 'vsftpd' }],
    ['clamd', { appname: 'clamd' }, { product: 'linux', service: 'clamav' }],
    ['auditd\'s own daemon messages', { PROGRAM: 'auditd', MESSAGE: 'Audit daemon rotating log files' }, { product: 'linux', service: 'auditd' }],
    ['any other program: linux, syslog', { PROGRAM: 'kernel' }, { product: 'linux', service: 'syslog' }],
    ['an auditd record', { message: 'type=EXECVE msg=audit(1.2:3): argc=1 a0="id"' }, { product: 'linux', service: 'auditd' }],
    ['an access-log line', { message: '203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 1' }, { category: 'webserver' }],
    ['nginx access-log line', { message: '203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 1', program: 'nginx' }, { category: 'webserver', product: 'nginx' }],
    ['a record with no program and nothing recognised: none', { msg: 'failed login', src_ip: '10.0.0.1' }, {}]
  ]
  for (const [name, doc, want, options] of cases) {
    const v = recordView(doc, options)
    t.same({ ...v.logsource }, want, name)
    t.equal(v.logsource, v.logsource, `${name}: computed once`)
    t.ok(Object.isFrozen(v.logsource), `${name}: frozen`)
  }
  const given = { product: 'linux', service: 'sshd' }
  t.same({ ...recordView({}, { logsource: given }).logsource }, given)
  t.notOk(Object.isFrozen(given), 'the caller\'s logsource object is not frozen')
})

t.test('logsourceApplies: every field the rule names, case-insensitively', async (t) => {
  const cases: [Logsource, Logsource, boolean][] = [
    [{}, {}, true],
    [{}, { product: 'linux', service: 'sshd' }, true],
    [{ product: 'linux' }, { product: 'linux', service: 'sshd' }, true],
    [{ product: 'Linux', service: 'SSHD' }, { product: 'linux', service: 'sshd' }, true],
    [{ product: 'linux', service: 'sshd' }, { product: 'LINUX', service: 'sshd' }, true],
    [{ product: 'linux', service: 'sudo' }, { product: 'linux', service: 'sshd' }, false],
    [{ product: 'linux', service: 'sshd' }, { product: 'linux' }, false],
    [{ category: 'webserver' }, { category: 'webserver', product: 'nginx' }, true],
    [{ category: 'webserver', product: 'apache' }, { category: 'webserver', product: 'nginx' }, false],
    [{ category: 'webserver' }, {}, false],
    [{ product: 'windows' }, { category: 'process_creation' }, false],
    [{ product: '' }, { category: 'x' }, true]
  ]
  for (const [rule, record, want] of cases) t.equal(logsourceApplies(rule, record), want, `${JSON.stringify(rule)} on ${JSON.stringify(record)}`)
})

// --- keywords ---------------------------------------------------------------------------------

t.test('keywords: the message first, then the record\'s message-like texts, deduplicated, frozen and stable', async (t) => {
  const cases: [string, Rec, ViewOptions | undefined, string[]][] = [
    ['options.message first, then the record\'s', { MESSAGE: 'full line', msg: 'short' }, { message: 'mapped' }, ['mapped', 'full line', 'short']],
    ['deduplicated', { message: 'same', MESSAGE: 'same', log: 'same' }, { message: 'same' }, ['same']],
    ['message-like keys: message, MESSAGE, msg, log, event.original, _raw, Message, short_message, full_message, description', { _raw: 'r', event: { original: 'o' }, full_message: 'f', short_message: 's', description: 'd', Message: 'M' }, undefined, ['o', 'r', 'M', 's', 'f', 'd']],
    ['empty and non-text values are left out', { message: '', MESSAGE: { a: 1 }, msg: 5, log: { file: { path: '/x' } } }, { message: '' }, []],
    ['other fields are not keywords', { user: 'root', CommandLine: 'mimikatz' }, undefined, []]
  ]
  for (const [name, doc, options, want] of cases) {
    const v = recordView(doc, options)
    t.same(v.keywords(), want, name)
    t.equal(v.keywords(), v.keywords(), `${name}: the same array each time`)
    t.ok(Object.isFrozen(v.keywords()), `${name}: frozen`)
  }
})

// --- cost: lazy, once per view ----------------------------------------------------------------

t.test('parsing is lazy and happens once per view', async (t) => {
  let reads = 0
  const doc: Rec = { HOST: 'h', PROGRAM: 'sshd' }
  Object.defineProperty(doc, 'MESSAGE', { enumerable: true, get: () => (reads++, LINE) })
  const v = recordView(doc, { logsource: { product: 'linux', service: 'sshd' } })
  t.equal(v.get('HOST'), 'h')
  t.same({ ...v.logsource }, { product: 'linux', service: 'sshd' })
  t.equal(reads, 0, 'a present field and an explicit logsource read no message')
  t.equal(v.get('source.ip'), '203.0.113.9')
  const afterFirst = reads
  t.ok(afterFirst > 0, 'the first mapped field parses the message')
  for (let i = 0; i < 1000; i++) {
    v.get('source.ip')
    v.get('user.name')
    v.get('event.outcome')
    v.get('no.such.field')
    v.get('cs-uri-query')
  }
  t.equal(reads, afterFirst, 'later gets read nothing again: the parse and each answer are remembered')

  // Without an explicit logsource, reading it parses (once) to derive it.
  let reads2 = 0
  const doc2: Rec = {}
  Object.defineProperty(doc2, 'message', { enumerable: true, get: () => (reads2++, `Oct 10 13:55:36 h sshd[1]: ${LINE}`) })
  const v2 = recordView(doc2)
  t.equal(reads2, 0, 'making a view reads nothing')
  t.same({ ...v2.logsource }, { product: 'linux', service: 'sshd' })
  const n = reads2
  v2.get('source.ip')
  v2.get('user.name')
  t.equal(reads2, n, 'the logsource and the fields share one parse')

  // A rough bound, so a regression to per-get parsing shows: 20,000 views, ten fields each.
  const start = process.hrtime.bigint()
  for (let i = 0; i < 20_000; i++) {
    const w = recordView({ MESSAGE: `2026-11-23T20:01:15.105Z host01 sshd[123]: Failed password for invalid user u${i} from 10.0.${i & 255}.1 port 22 ssh2`, HOST: 'vm' })
    if (!logsourceApplies({ product: 'linux', service: 'sshd' }, w.logsource)) throw new Error('logsource')
    for (const f of ['event.action', 'event.outcome', 'source.ip', 'user.name', 'host.name', 'process.name', 'cs-uri-query', 'sc-status', 'type', 'a0']) w.get(f)
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  t.ok(ms < 5000, `20,000 views in ${ms.toFixed(0)} ms`)
})

// --- hostile input ----------------------------------------------------------------------------

t.test('hostile input: absent fields, never a throw, bounded time', async (t) => {
  const big = 'A'.repeat(1 << 20)
  const near = 60 * 1024
  const hostile: [string, string][] = [
    ['a 1 MiB line', big],
    ['a 1 MiB sshd line (over 64 KiB: not parsed)', `Oct 10 13:55:36 h sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2 ${big}`],
    ['just over 64 KiB of access log', `203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "GET /${'a'.repeat(64 * 1024)} HTTP/1.1" 200 1`],
    ['many " from "', `Oct 10 13:55:36 h sshd[1]: Failed password for ${' from '.repeat(near / 6)}`],
    ['many " : " for sudo', `Oct 10 13:55:36 h sudo[1]: ${' : '.repeat(near / 3)}`],
    ['many " ; " for sudo', `Oct 10 13:55:36 h sudo[1]: alice : ${'x ; '.repeat(near / 4)}`],
    ['sudo with an unterminated everything', 'Oct 10 13:55:36 h sudo[1]: alice : TTY=pts/0 ; PWD="/home ; USER=[root'],
    ['an unterminated RFC 5424 structured data', `<38>1 2026-10-10T13:55:36Z h sshd 1 - [meta a="${'\\"'.repeat(near / 2)}`],
    ['RFC 5424 with many brackets', `<38>1 2026-10-10T13:55:36Z h sshd 1 - ${'[x]'.repeat(near / 3)}`],
    ['a PRI that never closes', `<${'9'.repeat(near)}`],
    ['a tag that never closes', `Oct 10 13:55:36 h sshd[${'1'.repeat(near)}`],
    ['a long tag', `Oct 10 13:55:36 h ${'p'.repeat(near)}: x`],
    ['an access log with an unterminated request quote', `203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "GET /${'\\"'.repeat(near / 2)}`],
    ['an access log with an unterminated bracket', `203.0.113.9 - - [10/Oct/2026:13:55:36 +0000 "GET / HTTP/1.1" 200 1 ${'['.repeat(near)}`],
    ['an access log of many " ["', `203.0.113.9 - ${' ['.repeat(near / 2)}`],
    ['an access log of escapes', `203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "${'\\x'.repeat(near / 2)}" 200 1 "${'\\'.repeat(1000)}`],
    ['auditd with an unterminated quote', `type=EXECVE msg=audit(1.2:3): argc=2 a0="${'x'.repeat(near)}`],
    ['auditd with many pieces of one argument', `type=EXECVE msg=audit(1.2:3): argc=2 ${Array.from({ length: 4000 }, (_, i) => `a1[${99999 - i}]=41`).join(' ')}`],
    ['auditd with many pieces of many arguments', `type=EXECVE msg=audit(1.2:3): ${Array.from({ length: 4000 }, (_, i) => `a${i}[99999]=41`).join(' ')}`],
    ['auditd of many "="', `type=${'='.repeat(near)}`],
    ['auditd of many keys without values', `type=SYSCALL ${'k '.repeat(near / 2)}`],
    ['auditd hex of invalid UTF-8 and NULs', 'type=EXECVE msg=audit(1.2:3): argc=1 a0=FF00FE00C3'],
    ['a nested msg= quote that never closes', `type=USER_LOGIN msg=audit(1.2:3): pid=1 msg='op=login acct="${'x'.repeat(near)}`],
    ['NUL bytes and lone surrogates', `Oct 10 13:55:36 h\u0000 sshd[1]: Failed password for \ud800 from 203.0.113.9\u0000 port 22 ssh2`],
    ['control characters only', '\u0001\u0002\u0003\u001d\u001b[31m'],
    ['only spaces', ' '.repeat(near)],
    ['useradd with many commas', `Oct 10 13:55:36 h useradd[1]: new user: ${', '.repeat(near / 2)}`],
    ['pam with a huge key=value list', `Oct 10 13:55:36 h sudo[1]: pam_unix(sudo:auth): authentication failure; ${'a= '.repeat(near / 3)}`],
    ['message repeated without its bracket', `Oct 10 13:55:36 h sshd[1]: message repeated 3 times: [ ${'x'.repeat(near)}`]
  ]
  const FIELDS = ['host.name', 'process.name', 'source.ip', 'source.port', 'user.name', 'event.action', 'event.outcome', 'group.name', 'type', 'a0', 'a1', 'argc', 'c-ip', 'cs-method', 'cs-uri', 'cs-uri-stem', 'cs-uri-query', 'sc-status', 'cs-user-agent', 'message']
  let slowest = 0
  for (const [name, line] of hostile) {
    for (const doc of [{ message: line }, { MESSAGE: line, PROGRAM: 'sshd' }, { log: line, programname: 'sudo' }] as Rec[]) {
      const start = process.hrtime.bigint()
      let v: FieldSource
      try {
        v = recordView(doc, { message: line })
        for (const f of FIELDS) v.get(f)
        void v.logsource
        v.keywords()
      } catch (err) {
        t.fail(`${name}: threw ${String(err)}`)
        continue
      }
      slowest = Math.max(slowest, Number(process.hrtime.bigint() - start) / 1e6)
    }
  }
  t.ok(slowest < 500, `the slowest hostile record took ${slowest.toFixed(1)} ms`)

  // What the hostile lines leave: nothing, or only what a well-formed prefix said.
  const none = (line: string, names: string[]) => t.same(fieldsOf(recordView({ message: line }), names), {}, `absent: ${line.slice(0, 50)}`)
  const NOT_MESSAGE = FIELDS.filter((f) => f !== 'message')
  none(big, NOT_MESSAGE)
  none(hostile[1][1], NOT_MESSAGE)
  none(hostile[2][1], NOT_MESSAGE)
  none(hostile[7][1], NOT_MESSAGE)
  none(hostile[12][1], NOT_MESSAGE)
  none(hostile[13][1], NOT_MESSAGE)
  none('203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "GET /x?q=1 HTTP/1.1', ['c-ip', 'cs-uri-query', 'sc-status'])
  none('<38>1 2026-10-10T13:55:36Z h sshd 1 - [meta a="b" Failed password for root from 203.0.113.9', ['host.name', 'process.name', 'source.ip'])
  t.equal(recordView({ message: hostile[17][1] }).get('a1'), 'A'.repeat(4000), 'pieces join in index order, however large the index')
  t.equal(typeof recordView({ message: hostile[21][1] }).get('a0'), 'string', 'invalid UTF-8 decodes to replacement characters')
  t.equal(recordView({ message: `Oct 10 13:55:36 h sshd[1]: Failed password for root from 203.0.113.9 port 99999 ssh2` }).get('source.port'), undefined, 'a port out of range')

  // The parsers on their own, on garbage of every shape: null, never a throw.
  const garbage = ['', ' ', '"', '[', ']', '<', '<>', '<999>', '=', 'type=', 'type="', "msg='", '\\', '\\x', '- - [', ']"', 'a b [c] "d', '0 0 [01/Jan/2000:00:00:00] "" 000 0']
  for (const g of garbage) {
    t.doesNotThrow(() => {
      parseSyslogHeader(g)
      parseAuth('sshd', g)
      parseAuth('sudo', g)
      parseAuth('useradd', g)
      parseAudit(g)
      parseAccessLog(g)
    }, `parsers on ${JSON.stringify(g)}`)
  }
})
