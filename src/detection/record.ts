// The record view Sigma rules read (docs/detection-fields.md has the reference). A field is the
// record's own flat key, else its dotted path through nested objects, else a documented mapping:
// fields parsed from the message (syslog header, sshd/sudo/PAM/shadow-utils lines, auditd
// records, web access logs) and the names shippers use for the same thing (PROGRAM, programname,
// SYSLOG_IDENTIFIER, ... for process.name). Every rule of every model reads the view of every
// ingested event, so nothing is parsed until a rule asks for a field the record does not carry,
// the message is parsed at most once per view, and every mapped answer is remembered.
import {
  auditType, intOf, ipOf, looksLikeAudit, MAX_LINE, parseAccessLog, parseAudit, parseAuth, parseSyslogHeader, programBase,
  SHADOW_PROGRAMS, SSHD_PROGRAMS, syslogFacility, syslogSeverity, tagProgram, type Fields
} from './parsers.js'
import { isMap, type FieldSource, type Logsource } from './types.js'

export interface ViewOptions {
  /** The event's message/description text as Vigil mapped it (keywords match it first). */
  message?: string
  /** An explicit logsource (e.g. from the ingest key's defaults) used when the record has no `logsource` object. */
  logsource?: Logsource
}

type Rec = Record<string, unknown>

/** The value at a dotted path through nested objects; own properties only (never `constructor`, `__proto__`). */
function walk(doc: Rec, name: string): unknown {
  let v: unknown = doc
  let start = 0
  for (;;) {
    const dot = name.indexOf('.', start)
    const key = dot < 0 ? name.slice(start) : name.slice(start, dot)
    if (!isMap(v) || !Object.hasOwn(v, key)) return undefined
    v = v[key]
    if (dot < 0) return v
    start = dot + 1
  }
}

/** The record's own value for a name: the flat key, else the dotted path. */
function lookup(doc: Rec, name: string): unknown {
  if (Object.hasOwn(doc, name) && doc[name] !== undefined) return doc[name]
  return name.includes('.') ? walk(doc, name) : undefined
}

/** Where a record keeps its message, in the order they are read (the first text present is parsed). */
export const MESSAGE_KEYS = ['message', 'MESSAGE', 'msg', 'log', 'event.original', '_raw', 'Message', 'short_message', 'full_message', 'description']

// --- canonical fields, their aliases, and the record keys they fall back to -------------------

type Conv = (v: unknown) => unknown
const text: Conv = (v) => (typeof v === 'string' && v !== '' ? v : undefined)
/** A query may be present and empty (`/search?`). */
const query: Conv = (v) => (typeof v === 'string' ? v : undefined)
const pid: Conv = (v) => (typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? (intOf(v) ?? v) : undefined)
const int: Conv = (v) => (typeof v === 'number' && Number.isInteger(v) ? v : typeof v === 'string' ? intOf(v.trim()) : undefined)
const ip: Conv = (v) => (typeof v === 'string' ? ipOf(v) : undefined)
const port: Conv = (v) => {
  const n = int(v) as number | undefined
  return n !== undefined && n <= 65535 ? n : undefined
}
const tagProg: Conv = (v) => (typeof v === 'string' ? tagProgram(v)?.program : undefined)
const tagPid: Conv = (v) => (typeof v === 'string' ? tagProgram(v)?.pid : undefined)
const priOf = (v: unknown) => {
  const n = int(v) as number | undefined
  return n !== undefined && n <= 191 ? n : undefined
}
const facilityCode: Conv = (v) => syslogFacility(v)?.[0]
const facilityName: Conv = (v) => syslogFacility(v)?.[1]
const severityCode: Conv = (v) => syslogSeverity(v)?.[0]
const severityName: Conv = (v) => syslogSeverity(v)?.[1]
const priFacility = (i: 0 | 1): Conv => (v) => {
  const p = priOf(v)
  return p === undefined ? undefined : syslogFacility(p >> 3)?.[i]
}
const priSeverity = (i: 0 | 1): Conv => (v) => {
  const p = priOf(v)
  return p === undefined ? undefined : syslogSeverity(p & 7)?.[i]
}
const toW3cVersion: Conv = (v) => (typeof v === 'string' && v !== '' ? (v.startsWith('HTTP/') ? v : `HTTP/${v}`) : undefined)
const fromW3cVersion: Conv = (v) => (typeof v === 'string' && v.startsWith('HTTP/') ? v.slice(5) : undefined)
const number: Conv = (v) => (typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : undefined)

interface Canonical {
  /** Other names that mean this field (looked up case-insensitively). */
  aliases?: string[]
  /** Record keys holding it when the record has neither the field nor a message that gives it, in order. */
  from?: [string, Conv][]
}

const each = (keys: string[], conv: Conv): [string, Conv][] => keys.map((k) => [k, conv])
const FACILITY_KEYS = ['FACILITY', 'SYSLOG_FACILITY', 'facility', 'syslog.facility', 'syslogfacility', 'syslogfacility-text', 'log.syslog.facility.name', 'log.syslog.facility.code']
const SEVERITY_KEYS = ['PRIORITY', 'severity', 'syslog.severity', 'syslogseverity', 'syslogseverity-text', 'log.syslog.severity.name', 'log.syslog.severity.code']
const PRI_KEYS = ['PRI', 'pri', 'syslog.pri', 'log.syslog.priority']

/** A W3C name and its ECS twin: each falls back to the record's value of the other. */
const twins = (w3c: string, ecs: string, toEcs: Conv, toW3c: Conv, aliases: string[] = []): [string, Canonical][] => [
  [w3c, { aliases, from: [[ecs, toW3c]] }],
  [ecs, { from: [[w3c, toEcs]] }]
]

export const CANONICAL_FIELDS: readonly [string, Canonical][] = [
  // syslog
  ['host.name', { aliases: ['host', 'hostname', 'HOSTNAME', '_HOSTNAME', 'log.syslog.hostname', 'syslog.hostname'], from: each(['HOST', 'host', '_HOSTNAME', 'hostname', 'HOSTNAME', 'log.syslog.hostname', 'syslog.hostname'], text) }],
  ['process.name', {
    aliases: ['program', 'ProgramName', 'programname', 'SYSLOG_IDENTIFIER', 'appname', 'app_name', 'ident', 'log.syslog.appname', 'syslog.appname', 'syslog.program'],
    from: [...each(['PROGRAM', 'program', 'programname', 'SYSLOG_IDENTIFIER', 'ident', 'appname', 'app_name', 'APP_NAME', 'log.syslog.appname', 'syslog.appname', 'syslog.program'], text), ['tag', tagProg], ['syslogtag', tagProg], ['_COMM', text]]
  }],
  ['process.pid', {
    aliases: ['pid', 'procid', 'ProcessId', 'SYSLOG_PID', '_PID', 'log.syslog.procid', 'syslog.pid'],
    from: [...each(['PID', 'pid', 'SYSLOG_PID', '_PID', 'procid', 'log.syslog.procid', 'syslog.pid'], pid), ['tag', tagPid], ['syslogtag', tagPid]]
  }],
  ['message', { aliases: ['msg', 'Message'] }],
  ['log.syslog.priority', { aliases: ['pri'], from: each(PRI_KEYS, priOf) }],
  ['log.syslog.facility.code', { aliases: ['SYSLOG_FACILITY', 'syslogfacility'], from: [...each(FACILITY_KEYS, facilityCode), ...each(PRI_KEYS, priFacility(0))] }],
  ['log.syslog.facility.name', { aliases: ['facility', 'syslogfacility-text', 'syslog.facility'], from: [...each(FACILITY_KEYS, facilityName), ...each(PRI_KEYS, priFacility(1))] }],
  ['log.syslog.severity.code', { aliases: ['PRIORITY', 'syslogseverity'], from: [...each(SEVERITY_KEYS, severityCode), ...each(PRI_KEYS, priSeverity(0))] }],
  ['log.syslog.severity.name', { aliases: ['syslogseverity-text', 'syslog.severity'], from: [...each(SEVERITY_KEYS, severityName), ...each(PRI_KEYS, priSeverity(1))] }],
  // auth lines (and the address and user of any record)
  ['source.ip', { aliases: ['src_ip', 'src', 'srcip', 'source_ip', 'SourceIp'], from: each(['src_ip', 'srcip', 'src', 'SourceIp', 'c-ip', 'client.ip'], ip) }],
  ['source.port', { aliases: ['src_port', 'srcport', 'source_port', 'SourcePort'], from: each(['src_port', 'source_port', 'srcport', 'SourcePort'], port) }],
  ['user.name', { aliases: ['user', 'username', 'User'], from: each(['user', 'username', 'User', 'UserName', 'cs-username'], text) }],
  ['user.id', {}],
  ['user.effective.name', {}],
  ['group.name', {}],
  ['group.id', {}],
  ['event.action', {}],
  ['event.outcome', {}],
  ['event.reason', {}],
  ['process.command_line', {}],
  ['process.working_directory', {}],
  ['ssh.method', {}],
  ['ssh.event', {}],
  // auditd, in ECS terms (the auditd names themselves are parsed fields)
  ['process.executable', {}],
  ['process.parent.pid', {}],
  ['process.args', {}],
  ['user.audit.id', {}],
  ['user.effective.id', {}],
  // web access logs
  ['c-ip', { from: each(['source.ip', 'client.ip'], text) }],
  ['cs-username', { from: each(['user.name'], text) }],
  ...twins('cs-method', 'http.request.method', text, text),
  ...twins('cs-uri', 'url.original', text, text),
  ...twins('cs-uri-stem', 'url.path', text, text),
  ...twins('cs-uri-query', 'url.query', query, query),
  ...twins('cs-version', 'http.version', fromW3cVersion, toW3cVersion),
  ...twins('sc-status', 'http.response.status_code', number, number),
  ...twins('sc-bytes', 'http.response.body.bytes', number, number),
  ...twins('cs-bytes', 'http.request.bytes', number, number),
  ...twins('cs-user-agent', 'user_agent.original', text, text, ['cs(User-Agent)']),
  ...twins('cs-referer', 'http.request.referrer', text, text, ['cs(Referer)'])
]

/** Name (exact, and lower case) -> canonical name. */
const CANONICAL = new Map<string, string>()
const FALLBACKS = new Map<string, [string, Conv][]>()
for (const [name, c] of CANONICAL_FIELDS) {
  for (const n of [name, ...(c.aliases ?? [])]) {
    if (!CANONICAL.has(n)) CANONICAL.set(n, name)
    if (!CANONICAL.has(n.toLowerCase())) CANONICAL.set(n.toLowerCase(), name)
  }
  if (c.from) FALLBACKS.set(name, [...(FALLBACKS.get(name) ?? []), ...c.from])
}

// --- logsource --------------------------------------------------------------------------------

/** Syslog programs whose records carry a Sigma service of their own; any other program is `syslog`. */
export const PROGRAM_SERVICES: Readonly<Record<string, string>> = (() => {
  const out: Record<string, string> = { sudo: 'sudo', cron: 'cron', crond: 'cron', anacron: 'cron', vsftpd: 'vsftpd', guacd: 'guacamole' }
  for (const p of SSHD_PROGRAMS) out[p] = 'sshd'
  for (const p of [...SHADOW_PROGRAMS, 'su', 'login', 'passwd', 'chpasswd', 'chage', 'chsh', 'chfn', 'newusers', 'systemd-logind', 'polkitd', 'pkexec', 'unix_chkpwd']) out[p] = 'auth'
  for (const p of ['auditd', 'audispd', 'audisp-syslog', 'audit']) out[p] = 'auditd'
  for (const p of ['clamd', 'freshclam', 'clamscan']) out[p] = 'clamav'
  return out
})()
/** Web servers whose access lines also name a product. */
export const WEB_PRODUCTS: Readonly<Record<string, string>> = { nginx: 'nginx', apache: 'apache', apache2: 'apache', httpd: 'apache' }

const LOGSOURCE_KEYS = ['category', 'product', 'service'] as const

/** The non-empty text fields of a logsource-like object, or null when it has none. */
function logsourceOf(v: unknown): Logsource | null {
  if (!isMap(v)) return null
  const out: Logsource = {}
  for (const k of LOGSOURCE_KEYS) {
    const x = v[k]
    if (typeof x === 'string' && x !== '') out[k] = x
  }
  return Object.keys(out).length ? out : null
}

/** A rule's logsource applies when every field the rule names equals (case-insensitively) the record's. A rule naming a field the record lacks does not apply. */
export function logsourceApplies(rule: Logsource, record: Logsource): boolean {
  for (const k of LOGSOURCE_KEYS) {
    const want = rule[k]
    if (typeof want !== 'string' || want === '') continue
    const have = record[k]
    if (typeof have !== 'string' || (have !== want && have.toLowerCase() !== want.toLowerCase())) return false
  }
  return true
}

// --- parsing one record -----------------------------------------------------------------------

type Kind = 'auditd' | 'auth' | 'web'
interface Parsed {
  kind?: Kind
  /** The program that wrote the record (its syslog header, else the record's program field). */
  program?: string
  /** Fields parsed from the message or the record's auditd form, under their documented names. */
  fields: Fields
}
const NOTHING: Parsed = { fields: new Map() }

/** Sets a field the map does not have yet; an empty text counts as none (for normalised values). */
const put = (out: Fields, key: string, v: unknown) => {
  if (v !== undefined && v !== null && v !== '' && !out.has(key)) out.set(key, v)
}
/** Adds a parser's fields to those not set yet; an empty value is what the line says (`?` with no query), null is none. */
function merge(out: Fields, from: Fields) {
  for (const [k, v] of from) if (v !== undefined && v !== null && !out.has(k)) out.set(k, v)
}

/** The auditd fields' ECS names (process.*, user.*), for rules written against ECS. */
function auditEcs(get: (k: string) => unknown, out: Fields) {
  const str = (k: string) => {
    const v = get(k)
    return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined
  }
  // The audited process, not the program that forwarded the line (audisp-syslog): it wins over the header.
  const set = (key: string, v: unknown) => {
    if (v !== undefined) out.set(key, v)
  }
  set('process.name', str('comm'))
  set('process.executable', str('exe'))
  set('process.pid', intOf(str('pid')))
  set('process.parent.pid', intOf(str('ppid')))
  set('process.working_directory', str('cwd'))
  set('user.id', str('uid'))
  set('user.audit.id', str('auid'))
  set('user.effective.id', str('euid'))
  put(out, 'user.name', str('acct'))
  put(out, 'source.ip', ipOf(str('addr')))
  put(out, 'host.name', str('node'))
  const success = str('success') ?? str('res')
  if (success) {
    const s = success.toLowerCase()
    put(out, 'event.outcome', s === 'yes' || s === 'success' ? 'success' : s === 'no' || s === 'failed' || s === 'fail' ? 'failure' : undefined)
  }
  const type = get('type')
  if (type === 'EXECVE' || (Array.isArray(type) && type.includes('EXECVE'))) {
    const args: unknown[] = []
    for (let i = 0; i < 4096; i++) {
      const a = get(`a${i}`)
      if (typeof a !== 'string') break
      args.push(a)
    }
    if (args.length) put(out, 'process.args', args)
  }
}

const AUDIT_TYPE_TEXT = /^(?:[A-Z][A-Z0-9_]{1,31}|\d{4})$/

/** An auditd record sent as JSON: auditbeat / Filebeat's auditd module, journald's audit transport, or a flat object of auditd fields. */
function auditFromJson(doc: Rec): Fields | null {
  const auditd = doc.auditd
  if (isMap(auditd)) {
    const out: Fields = new Map()
    const types: string[] = []
    const log = isMap(auditd.log) ? auditd.log : undefined
    const data = isMap(auditd.data) ? auditd.data : undefined
    const mt = auditd.message_type ?? log?.record_type
    if (typeof mt === 'string' && mt !== '') types.push(auditType(mt.toUpperCase()))
    // auditbeat merges an event's records; its EXECVE arguments are process.args (the a0..a3 of
    // auditd.data are the syscall's, in hex), and the EXECVE names are what rules mean by aN.
    const args = walk(doc, 'process.args')
    if (Array.isArray(args)) {
      args.forEach((a, i) => out.set(`a${i}`, a))
      out.set('argc', String(args.length))
      if (!types.includes('EXECVE')) types.push('EXECVE')
    }
    for (const src of [log, data]) {
      if (!src) continue
      for (const [k, v] of Object.entries(src)) if (k !== 'record_type' && v !== null && typeof v !== 'object') put(out, k, v)
    }
    if (types.length) out.set('type', types.length === 1 ? types[0] : types)
    const ecs: [string, string][] = [
      ['exe', 'process.executable'], ['comm', 'process.name'], ['pid', 'process.pid'], ['ppid', 'process.parent.pid'], ['ppid', 'process.ppid'],
      ['cwd', 'process.working_directory'], ['proctitle', 'process.title'], ['uid', 'user.id'], ['auid', 'user.audit.id'], ['euid', 'user.effective.id']
    ]
    for (const [name, path] of ecs) {
      const v = walk(doc, path)
      put(out, name, typeof v === 'number' ? String(v) : typeof v === 'string' ? v : undefined)
    }
    const result = auditd.result
    if (result === 'success' || result === 'fail') put(out, 'success', result === 'success' ? 'yes' : 'no')
    return out
  }
  const journald = doc._AUDIT_TYPE_NAME ?? (doc._TRANSPORT === 'audit' ? doc._AUDIT_TYPE : undefined)
  if (typeof journald === 'string' || typeof journald === 'number') {
    const type = String(journald)
    let message = typeof doc.MESSAGE === 'string' ? doc.MESSAGE : ''
    if (message.startsWith(`${type} `)) message = message.slice(type.length + 1)
    const out = parseAudit(message, type) ?? new Map<string, unknown>([['type', auditType(type)]])
    auditEcs((k) => out.get(k), out)
    return out
  }
  const type = doc.type
  if (typeof type === 'string' && AUDIT_TYPE_TEXT.test(type)) {
    const m = doc.msg
    const audit = ['a0', 'argc', 'syscall', 'auid'].some((k) => Object.hasOwn(doc, k)) || (typeof m === 'string' && m.startsWith('audit('))
    if (!audit) return null
    // The fields are the record's own keys (read as they are); only their ECS names are added.
    const out: Fields = new Map()
    auditEcs((k) => (k === 'type' ? auditType(type) : lookup(doc, k)), out)
    return out
  }
  return null
}

/** The text parsed for fields: the record's first message-like text, else the mapped message. */
function messageText(doc: Rec, options: ViewOptions): string | undefined {
  for (const k of MESSAGE_KEYS) {
    const v = lookup(doc, k)
    if (typeof v === 'string' && v !== '') return v
  }
  return typeof options.message === 'string' && options.message !== '' ? options.message : undefined
}

function fallback(doc: Rec, canonical: string): unknown {
  const from = FALLBACKS.get(canonical)
  if (!from) return undefined
  for (const [key, conv] of from) {
    const v = lookup(doc, key)
    if (v === undefined || v === null) continue
    const c = conv(v)
    if (c !== undefined) return c
  }
  return undefined
}

function parseRecord(doc: Rec, options: ViewOptions, explicit: Logsource | null): Parsed {
  const fields: Fields = new Map()
  let kind: Kind | undefined
  const audit = auditFromJson(doc)
  let program: string | undefined
  let body: string | undefined
  if (!audit) {
    const raw = messageText(doc, options)
    if (raw !== undefined && raw.length <= MAX_LINE) body = raw.trim()
  }
  if (body !== undefined) {
    const header = parseSyslogHeader(body)
    if (header) {
      // A shipper that forwards a whole line (a file input, no parsing) names itself as the host:
      // the line's own header names the host and program that wrote it, so it wins.
      body = header.body
      put(fields, 'host.name', header.host)
      put(fields, 'process.name', header.program)
      put(fields, 'process.pid', header.pid)
      program = header.program
      if (header.pri !== undefined) {
        fields.set('log.syslog.priority', header.pri)
        const f = syslogFacility(header.pri >> 3)
        if (f) {
          fields.set('log.syslog.facility.code', f[0])
          fields.set('log.syslog.facility.name', f[1])
        }
        const s = syslogSeverity(header.pri & 7)!
        fields.set('log.syslog.severity.code', s[0])
        fields.set('log.syslog.severity.name', s[1])
      }
    }
    fields.set('message', body)
  }
  if (program === undefined) {
    const own = lookup(doc, 'process.name')
    const named = typeof own === 'string' && own !== '' ? own : fallback(doc, 'process.name')
    program = typeof named === 'string' && named !== '' ? named : undefined
  }
  if (audit) {
    kind = 'auditd'
    for (const [k, v] of audit) fields.set(k, v)
  } else if (body !== undefined && body !== '') {
    if (looksLikeAudit(body)) {
      const a = parseAudit(body)
      if (a) {
        kind = 'auditd'
        merge(fields, a)
        auditEcs((k) => a.get(k), fields)
      }
    }
    if (!kind) {
      // Without a program, an explicit logsource's service says whose lines these are.
      const writer = program ?? explicit?.service
      const auth = parseAuth(writer, body)
      if (auth) {
        kind = 'auth'
        merge(fields, auth)
      } else {
        const base = writer === undefined ? undefined : programBase(writer)
        const authProgram = base !== undefined && (SSHD_PROGRAMS.has(base) || base === 'sudo' || SHADOW_PROGRAMS.has(base))
        const web = authProgram ? null : parseAccessLog(body)
        if (web) {
          kind = 'web'
          merge(fields, web)
        }
      }
    }
  }
  return { kind, program, fields }
}

function derivedLogsource(p: Parsed): Logsource {
  if (p.kind === 'auditd') return { product: 'linux', service: 'auditd' }
  const base = p.program === undefined ? undefined : programBase(p.program)
  if (p.kind === 'web') {
    const product = base === undefined ? undefined : WEB_PRODUCTS[base]
    return product ? { category: 'webserver', product } : { category: 'webserver' }
  }
  // A syslog program is taken to run on Linux; a record from elsewhere names its own logsource.
  if (base !== undefined) return { product: 'linux', service: Object.hasOwn(PROGRAM_SERVICES, base) ? PROGRAM_SERVICES[base] : 'syslog' }
  return {}
}

// --- the view ---------------------------------------------------------------------------------

class RecordView implements FieldSource {
  private parsed: Parsed | undefined
  private mappedCache: Map<string, unknown> | undefined
  private keywordList: readonly string[] | undefined
  private source: Logsource | undefined

  constructor(
    private readonly doc: Rec,
    private readonly options: ViewOptions
  ) {}

  get(name: string): unknown {
    if (typeof name !== 'string') return undefined
    const doc = this.doc
    let seenNull = false
    if (Object.hasOwn(doc, name)) {
      const v = doc[name]
      if (v !== undefined && v !== null) return v
      seenNull ||= v === null
    }
    if (name.includes('.')) {
      const v = walk(doc, name)
      if (v !== undefined && v !== null) return v
      seenNull ||= v === null
    }
    const v = this.mapped(name)
    // A field the record sends as null is null, not absent, unless a mapping gives it a value.
    return v === undefined && seenNull ? null : v
  }

  keywords(): readonly string[] {
    if (this.keywordList) return this.keywordList
    const out: string[] = []
    const add = (s: unknown) => {
      if (typeof s === 'string' && s !== '' && !out.includes(s)) out.push(s)
    }
    add(this.options.message)
    for (const k of MESSAGE_KEYS) add(lookup(this.doc, k))
    return (this.keywordList = Object.freeze(out))
  }

  get logsource(): Logsource {
    if (this.source) return this.source
    const ls = this.explicit() ?? derivedLogsource(this.parse())
    return (this.source = Object.freeze(ls))
  }

  private explicit(): Logsource | null {
    return logsourceOf(this.doc.logsource) ?? logsourceOf(this.options.logsource)
  }

  private parse(): Parsed {
    if (this.parsed) return this.parsed
    try {
      this.parsed = parseRecord(this.doc, this.options, this.explicit())
    } catch {
      // The parsers do not throw; should one ever, the record keeps its own fields and is still evaluated.
      this.parsed = NOTHING
    }
    return this.parsed
  }

  private mapped(name: string): unknown {
    const cache = (this.mappedCache ??= new Map())
    if (cache.has(name)) return cache.get(name)
    const v = this.resolve(name)
    cache.set(name, v)
    return v
  }

  private resolve(name: string): unknown {
    const p = this.parse()
    const direct = p.fields.get(name)
    if (direct !== undefined) return direct
    const canonical = CANONICAL.get(name) ?? CANONICAL.get(name.toLowerCase())
    if (canonical === undefined) return undefined
    if (canonical !== name) {
      // An alias means exactly its canonical field: the record's own value, then the parsed one.
      const own = lookup(this.doc, canonical)
      if (own !== undefined && own !== null) return own
      const parsed = p.fields.get(canonical)
      if (parsed !== undefined) return parsed
    }
    try {
      return fallback(this.doc, canonical)
    } catch {
      return undefined
    }
  }
}

/** What a rule sees of one record (the interface is FieldSource in ./types.ts). */
export function recordView(doc: Record<string, unknown>, options: ViewOptions = {}): FieldSource {
  return new RecordView(isMap(doc) ? doc : {}, isMap(options) ? options : {})
}
