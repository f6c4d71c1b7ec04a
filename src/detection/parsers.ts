// Parsers for the text shippers forward as a record's message: the syslog header, the auth lines
// of sshd, sudo, PAM and shadow-utils, auditd records, and web access logs in combined log format.
// They run on every ingested event that a rule asks about, on text an attacker may write (a user
// name, a URL, a user agent), so each one scans its input once, left to right, with indexOf and
// fixed-length sticky regexes only: no backtracking pattern, no work beyond the text's length.
// Texts longer than MAX_LINE are not parsed at all. A parser returns null for anything it does not
// recognise and never throws. docs/detection-fields.md documents the fields they produce.
import { parseAddress } from './sigma/values.js'

/** Longer texts are not parsed (their fields are absent); keywords still see them whole. */
export const MAX_LINE = 64 * 1024

export type Fields = Map<string, unknown>

const isDigit = (c: number) => c >= 48 && c <= 57

/** Digits only (at most 10), as a number; anything else is undefined. */
export function intOf(s: string | undefined): number | undefined {
  if (s === undefined || s.length === 0 || s.length > 10) return undefined
  for (let i = 0; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return undefined
  return Number(s)
}

/** An IPv4 or IPv6 address as written, or undefined (a host name is not a source.ip). */
export function ipOf(s: string | undefined): string | undefined {
  return s !== undefined && s.length > 0 && s.length <= 64 && parseAddress(s) !== null ? s : undefined
}

// --- syslog -----------------------------------------------------------------------------------

export const FACILITIES = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp', 'ntp', 'security',
  'console', 'solaris-cron', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'
]
export const SEVERITIES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug']
/** Other spellings shippers use for the syslog severities (rsyslog, syslog-ng, Vector, journald tools). */
const SEVERITY_SYNONYMS: Record<string, number> = {
  emergency: 0, panic: 0, critical: 2, error: 3, warn: 4, informational: 6, information: 6
}

/** A syslog severity (0-7, or a name) as [code, canonical name]; undefined when it is not one. */
export function syslogSeverity(v: unknown): [number, string] | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? intOf(v.trim()) : undefined
  if (n !== undefined) return Number.isInteger(n) && n >= 0 && n <= 7 ? [n, SEVERITIES[n]] : undefined
  if (typeof v !== 'string') return undefined
  const name = v.trim().toLowerCase()
  const code = SEVERITIES.indexOf(name)
  if (code >= 0) return [code, name]
  const syn = SEVERITY_SYNONYMS[name]
  return syn === undefined ? undefined : [syn, SEVERITIES[syn]]
}

/** A syslog facility (0-23, or a name, `LOG_AUTH` too) as [code, name]; a name Vigil does not know keeps no code. */
export function syslogFacility(v: unknown): [number | undefined, string] | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? intOf(v.trim()) : undefined
  if (n !== undefined) return Number.isInteger(n) && n >= 0 && n < FACILITIES.length ? [n, FACILITIES[n]] : undefined
  if (typeof v !== 'string') return undefined
  let name = v.trim().toLowerCase()
  if (name.startsWith('log_')) name = name.slice(4)
  if (name === '' || name.length > 32) return undefined
  const code = FACILITIES.indexOf(name)
  return [code >= 0 ? code : undefined, name]
}

export interface SyslogHeader {
  pri?: number
  host?: string
  program?: string
  pid?: number | string
  /** The message after the header. */
  body: string
}

const MONTHS = new Set(['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'])
// Fixed-shape timestamps, tried at one position (sticky): no repetition can backtrack.
const BSD_TIME = /[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d(?:\.\d{1,9})? /y
const ISO_TIME = /\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)? /y

function timestampEnd(text: string, at: number): number {
  BSD_TIME.lastIndex = at
  if (BSD_TIME.test(text) && MONTHS.has(text.slice(at, at + 3))) return BSD_TIME.lastIndex
  ISO_TIME.lastIndex = at
  if (ISO_TIME.test(text)) return ISO_TIME.lastIndex
  return -1
}

interface Tag {
  program: string
  pid?: number | string
  end: number
}

/** A syslog tag at `at`: `name:` or `name[pid]:`, then a space or the end. */
function tagAt(text: string, at: number): Tag | null {
  let i = at
  const limit = Math.min(text.length, at + 128)
  while (i < limit) {
    const c = text.charCodeAt(i)
    if (c === 32 || c === 58 /* : */ || c === 91 /* [ */ || c < 32) break
    i++
  }
  if (i === at || i >= text.length) return null
  const program = text.slice(at, i)
  let pid: number | string | undefined
  if (text.charCodeAt(i) === 91) {
    const close = text.indexOf(']', i + 1)
    if (close < 0 || close - i > 33) return null
    const raw = text.slice(i + 1, close)
    if (raw.includes(' ')) return null
    pid = intOf(raw) ?? (raw === '' ? undefined : raw)
    i = close + 1
  }
  if (text.charCodeAt(i) !== 58) return null
  i++
  if (i < text.length && text.charCodeAt(i) !== 32) return null
  return { program, pid, end: i < text.length ? i + 1 : i }
}

/** The next space-delimited token from `at` (at most `max` characters), or null. */
function tokenAt(text: string, at: number, max: number): { token: string; end: number } | null {
  let end = text.indexOf(' ', at)
  if (end < 0) end = text.length
  if (end === at || end - at > max) return null
  return { token: text.slice(at, end), end: end < text.length ? end + 1 : end }
}

/** RFC 5424 structured data (`-` or `[id k="v"]...`) from `at`: the index after it, or -1 when it is malformed. */
function structuredDataEnd(text: string, at: number): number {
  if (text.charCodeAt(at) === 45 /* - */) return at + 1
  let i = at
  while (text.charCodeAt(i) === 91 /* [ */) {
    let quoted = false
    i++
    for (;;) {
      if (i >= text.length) return -1
      const c = text.charCodeAt(i)
      if (c === 92 /* \ */) i += 2
      else {
        if (c === 34 /* " */) quoted = !quoted
        else if (c === 93 /* ] */ && !quoted) break
        i++
      }
    }
    i++
  }
  return i === at ? -1 : i
}

const nil = (s: string) => (s === '-' ? undefined : s)

function rfc5424(text: string, at: number, pri: number): SyslogHeader | null {
  const fields: string[] = []
  let i = at
  for (let k = 0; k < 5; k++) {
    const t = tokenAt(text, i, k === 0 ? 64 : 255)
    if (!t) return null
    fields.push(t.token)
    i = t.end
  }
  const sdEnd = structuredDataEnd(text, i)
  if (sdEnd < 0) return null
  let body = text.slice(text.charCodeAt(sdEnd) === 32 ? sdEnd + 1 : sdEnd)
  if (body.charCodeAt(0) === 0xfeff) body = body.slice(1)
  const [, host, app, procid] = fields
  const pid = nil(procid)
  return { pri, host: nil(host), program: nil(app), pid: pid === undefined ? undefined : (intOf(pid) ?? pid), body }
}

/**
 * The syslog header at the start of a line: `<PRI>` then RFC 5424, or a BSD (`Mmm dd hh:mm:ss`)
 * or ISO 8601 time, an optional host and a tag (`prog[pid]:`); or a bare `prog[pid]:`. A line
 * that does not start with one of these has no header (null): a message body is not guessed at.
 */
export function parseSyslogHeader(text: string): SyslogHeader | null {
  if (text.length > MAX_LINE) return null
  let i = 0
  let pri: number | undefined
  if (text.charCodeAt(0) === 60 /* < */) {
    let j = 1
    let v = 0
    while (j < 5 && isDigit(text.charCodeAt(j))) v = v * 10 + text.charCodeAt(j++) - 48
    if (j === 1 || j === 5 || text.charCodeAt(j) !== 62 /* > */ || v > 191) return null
    pri = v
    i = j + 1
    // RFC 5424: a version number and a space right after the PRI.
    if (isDigit(text.charCodeAt(i))) {
      let k = i
      while (k < i + 3 && isDigit(text.charCodeAt(k))) k++
      if (text.charCodeAt(k) === 32) return rfc5424(text, k + 1, pri)
    }
  }
  const tsEnd = timestampEnd(text, i)
  if (tsEnd < 0) {
    // No time: `<PRI>prog: msg`, or a bare `prog[pid]: msg` (the pid makes it unmistakable).
    const tag = tagAt(text, i)
    if (!tag || (pri === undefined && tag.pid === undefined)) return null
    return { pri, program: tag.program, pid: tag.pid, body: text.slice(tag.end) }
  }
  i = tsEnd
  const first = tagAt(text, i)
  if (first) return { pri, program: first.program, pid: first.pid, body: text.slice(first.end) }
  const host = tokenAt(text, i, 255)
  if (!host) return null
  const tag = tagAt(text, host.end)
  if (!tag) return null
  return { pri, host: host.token, program: tag.program, pid: tag.pid, body: text.slice(tag.end) }
}

/** The program of a syslog tag field (rsyslog's `tag`, `syslogtag`: `sshd[123]:`). */
export function tagProgram(tag: string): { program: string; pid?: number | string } | undefined {
  const t = tagAt(tag.endsWith(':') ? tag : `${tag}:`, 0)
  return t ? { program: t.program, pid: t.pid } : undefined
}

/** A program's base name, lower case: `/usr/sbin/sshd` -> `sshd`, `CRON` -> `cron`. */
export function programBase(program: string): string {
  const slash = program.lastIndexOf('/')
  return (slash >= 0 ? program.slice(slash + 1) : program).toLowerCase()
}

// --- auth lines: sshd, sudo, PAM, shadow-utils -------------------------------------------------

export const SSHD_PROGRAMS = new Set(['sshd', 'sshd-session', 'sshd-auth'])
export const SHADOW_PROGRAMS = new Set(['useradd', 'userdel', 'usermod', 'groupadd', 'groupdel', 'groupmod', 'gpasswd', 'adduser', 'deluser', 'addgroup', 'delgroup'])

/** `a from IP[ port N]...`, read from the last ` from ` (what precedes it may be a user name an attacker chose). */
function fromTail(text: string, out: Fields): string | null {
  const at = text.lastIndexOf(' from ')
  if (at < 0) return null
  const rest = text.slice(at + 6)
  const sp = rest.indexOf(' ')
  const addr = sp < 0 ? rest : rest.slice(0, sp)
  const ip = ipOf(addr)
  if (ip) out.set('source.ip', ip)
  if (sp >= 0 && rest.startsWith('port ', sp + 1)) {
    const after = rest.slice(sp + 6)
    const end = after.indexOf(' ')
    const port = intOf(end < 0 ? after : after.slice(0, end))
    if (port !== undefined && port <= 65535) out.set('source.port', port)
  }
  return text.slice(0, at)
}

function parseSshd(body: string, out: Fields): boolean {
  const event = body.startsWith('Failed ') ? 'Failed' : body.startsWith('Accepted ') ? 'Accepted' : body.startsWith('Invalid user ') ? 'Invalid' : null
  if (!event) return false
  const head = fromTail(body, out)
  if (head === null) return false
  let user: string
  if (event === 'Invalid') user = head.slice('Invalid user '.length)
  else {
    // `Failed <method> for [invalid user ]<user>`
    const start = event.length + 1
    const sp = head.indexOf(' ', start)
    if (sp < 0 || !head.startsWith('for ', sp + 1)) return false
    out.set('ssh.method', head.slice(start, sp))
    user = head.slice(sp + 5)
    if (user.startsWith('invalid user ')) user = user.slice(13)
  }
  out.set('ssh.event', event)
  out.set('event.action', 'ssh_login')
  out.set('event.outcome', event === 'Accepted' ? 'success' : 'failure')
  out.set('user.name', user)
  return true
}

/** PAM's `pam_unix(sudo:auth): authentication failure; logname=... rhost=... user=...`. */
function parsePam(body: string, out: Fields): boolean {
  const open = body.indexOf('(')
  const close = body.indexOf('):', open)
  if (open < 0 || close < 0 || close > 64) return false
  const [service] = body.slice(open + 1, close).split(':')
  const text = body.slice(close + 2).trimStart()
  if (!text.startsWith('authentication failure;')) return false
  const kv = new Map<string, string>()
  for (const part of text.slice(23).split(' ')) {
    const eq = part.indexOf('=')
    if (eq > 0) kv.set(part.slice(0, eq), part.slice(eq + 1))
  }
  out.set('event.action', service === 'sudo' ? 'sudo_auth' : 'pam_auth')
  out.set('event.outcome', 'failure')
  const user = kv.get('user') || kv.get('ruser') || undefined
  if (user) out.set('user.name', user)
  const ip = ipOf(kv.get('rhost'))
  if (ip) out.set('source.ip', ip)
  return true
}

const SUDO_KEYS: Record<string, string> = { PWD: 'process.working_directory', USER: 'user.effective.name' }

/** sudo's `alice : [status ; ]TTY=pts/0 ; PWD=... ; USER=root ; COMMAND=...`. */
function parseSudo(line: string, out: Fields): boolean {
  const body = line.trimStart()
  const colon = body.indexOf(' : ')
  if (colon <= 0 || colon > 64) return false
  const user = body.slice(0, colon)
  if (user.includes(' ')) return false
  let rest = body.slice(colon + 3)
  let status: string | undefined
  let known = false
  for (let first = true; rest !== ''; first = false) {
    // COMMAND is last and may itself contain ' ; '.
    if (rest.startsWith('COMMAND=')) {
      out.set('process.command_line', rest.slice(8))
      known = true
      break
    }
    const sep = rest.indexOf(' ; ')
    const part = sep < 0 ? rest : rest.slice(0, sep)
    rest = sep < 0 ? '' : rest.slice(sep + 3)
    const eq = part.indexOf('=')
    const key = eq > 0 ? part.slice(0, eq) : ''
    if (/^[A-Z]+$/.test(key)) {
      known = true
      if (SUDO_KEYS[key]) out.set(SUDO_KEYS[key], part.slice(eq + 1))
    } else if (first) status = part.trim()
  }
  if (!known) return false
  out.set('user.name', user)
  if (status === undefined) {
    out.set('event.action', 'sudo_command')
    out.set('event.outcome', 'success')
    return true
  }
  out.set('event.reason', status)
  const s = status.toLowerCase()
  if (s.includes('incorrect password attempt') || s.includes('password is required')) {
    out.set('event.action', 'sudo_auth')
    out.set('event.outcome', 'failure')
  } else {
    out.set('event.action', 'sudo_command')
    out.set('event.outcome', s.includes('not in sudoers') || s.includes('not allowed') || s.includes('not authorized') ? 'failure' : 'unknown')
  }
  return true
}

/** `name=eve, UID=1001, GID=1001, home=/home/eve` as a map. */
function commaFields(text: string): Map<string, string> {
  const kv = new Map<string, string>()
  for (const part of text.split(', ')) {
    const eq = part.indexOf('=')
    if (eq > 0) kv.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim())
  }
  return kv
}

/** The text between the first pair of single quotes from `at`, and the index after it. */
function quotedName(text: string, at: number): { name: string; end: number } | null {
  if (text.charCodeAt(at) !== 39) return null
  const close = text.indexOf("'", at + 1)
  return close < 0 ? null : { name: text.slice(at + 1, close), end: close + 1 }
}

/** shadow-utils (useradd, groupadd, userdel, groupdel, usermod, gpasswd). */
function parseShadow(body: string, out: Fields): boolean {
  let action: string | undefined
  if (body.startsWith('new user: ')) {
    const kv = commaFields(body.slice(10))
    if (!kv.get('name')) return false
    action = 'user_created'
    out.set('user.name', kv.get('name'))
    if (kv.has('UID')) out.set('user.id', kv.get('UID'))
    if (kv.has('GID')) out.set('group.id', kv.get('GID'))
  } else if (body.startsWith('new group: ')) {
    const kv = commaFields(body.slice(11))
    if (!kv.get('name')) return false
    action = 'group_created'
    out.set('group.name', kv.get('name'))
    if (kv.has('GID')) out.set('group.id', kv.get('GID'))
  } else if (body.startsWith('delete user ')) {
    const q = quotedName(body, 12)
    if (!q) return false
    action = 'user_deleted'
    out.set('user.name', q.name)
  } else if (body.startsWith('group ')) {
    // groupdel: `group 'ops' removed` (the `removed from /etc/group` lines are the same deletion).
    const q = quotedName(body, 6)
    if (!q || body.slice(q.end) !== ' removed') return false
    action = 'group_deleted'
    out.set('group.name', q.name)
  } else if (body.startsWith('removed group ')) {
    // userdel removing the user's own group.
    const q = quotedName(body, 14)
    if (!q) return false
    action = 'group_deleted'
    out.set('group.name', q.name)
    const owner = body.startsWith(' owned by ', q.end) ? quotedName(body, q.end + 10) : null
    if (owner) out.set('user.name', owner.name)
  } else if (body.startsWith('add ')) {
    // usermod -aG / useradd -G: `add 'eve' to group 'sudo'` (the `to shadow group` line repeats it).
    const u = quotedName(body, 4)
    if (!u || !body.startsWith(' to group ', u.end)) return false
    const g = quotedName(body, u.end + 10)
    if (!g) return false
    action = 'group_member_added'
    out.set('user.name', u.name)
    out.set('group.name', g.name)
  } else if (body.startsWith('user ')) {
    // gpasswd -a: `user eve added by root to group sudo`
    const m = /^user (\S{1,64}) added by (\S{1,64}) to group (\S{1,64})$/.exec(body.length <= 256 ? body : '')
    if (!m) return false
    action = 'group_member_added'
    out.set('user.name', m[1])
    out.set('group.name', m[3])
  } else return false
  out.set('event.action', action)
  out.set('event.outcome', 'success')
  return true
}

/**
 * The fields of an auth line, given the program that wrote it (sshd, sudo, a shadow-utils tool;
 * PAM's `pam_unix(...)` lines from any program). rsyslog's `message repeated N times: [ ... ]`
 * is read as the line it repeats. Null when the line is not one Vigil knows.
 */
export function parseAuth(program: string | undefined, line: string): Fields | null {
  if (line.length > MAX_LINE) return null
  let body = line.trimStart()
  if (body.startsWith('message repeated ')) {
    const open = body.indexOf(': [ ')
    if (open < 0 || open > 40 || !body.endsWith(']')) return null
    body = body.slice(open + 4, -1)
  }
  const out: Fields = new Map()
  if (body.startsWith('pam_')) return parsePam(body, out) ? out : null
  const base = program === undefined ? '' : programBase(program)
  let ok = false
  if (SSHD_PROGRAMS.has(base)) ok = parseSshd(body, out)
  else if (base === 'sudo') ok = parseSudo(body, out)
  else if (SHADOW_PROGRAMS.has(base)) ok = parseShadow(body, out)
  return ok ? out : null
}

// --- auditd ---------------------------------------------------------------------------------

/** Record types the kernel logs by number (`audit: type=1400`); auditd writes the names. */
const AUDIT_TYPES: Record<string, string> = {
  1100: 'USER_AUTH', 1101: 'USER_ACCT', 1102: 'USER_MGMT', 1103: 'CRED_ACQ', 1104: 'CRED_DISP', 1105: 'USER_START',
  1106: 'USER_END', 1108: 'USER_CHAUTHTOK', 1109: 'USER_ERR', 1110: 'CRED_REFR', 1111: 'USYS_CONFIG', 1112: 'USER_LOGIN',
  1113: 'USER_LOGOUT', 1114: 'ADD_USER', 1115: 'DEL_USER', 1116: 'ADD_GROUP', 1117: 'DEL_GROUP', 1123: 'USER_CMD',
  1130: 'SERVICE_START', 1131: 'SERVICE_STOP', 1300: 'SYSCALL', 1302: 'PATH', 1305: 'CONFIG_CHANGE', 1306: 'SOCKADDR',
  1307: 'CWD', 1309: 'EXECVE', 1325: 'NETFILTER_CFG', 1326: 'SECCOMP', 1327: 'PROCTITLE', 1400: 'AVC', 1401: 'SELINUX_ERR',
  1700: 'ANOM_PROMISCUOUS', 1701: 'ANOM_ABEND'
}
export const auditType = (t: string) => AUDIT_TYPES[t] ?? t

/**
 * Fields auditd writes as untrusted strings: quoted when printable, otherwise hex-encoded and
 * unquoted (a value with a space, a quote or a control character). EXECVE's a0..aN are too; the
 * a0..a3 of a SYSCALL record are numbers in hex and stay as they are.
 */
const HEX_FIELDS = new Set(['comm', 'exe', 'cwd', 'name', 'proctitle', 'key', 'path', 'acct', 'cmd', 'data', 'ocomm', 'watch', 'dir', 'file', 'root'])
const HEX = /^(?:[0-9A-Fa-f]{2})+$/
const ARG = /^a(\d{1,5})(?:\[(\d{1,5})\])?$/

function decodeHex(hex: string): string {
  return Buffer.from(hex, 'hex').toString('utf8')
}

interface RawValue {
  value: string
  quoted: boolean
}

/**
 * `key=value` pairs from `at` to the end (or to auditd's enriched-fields separator, 0x1d, when
 * `stopAtGs`). A value is `"..."`, `'...'` or runs to the next space; an unterminated quote ends
 * the scan (that field and the rest are absent). Words without `=` are skipped.
 */
function scanPairs(text: string, at: number, stopAtGs: boolean, put: (key: string, v: RawValue) => void): number {
  let i = at
  const n = text.length
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 32) {
      i++
      continue
    }
    if (c === 0x1d && stopAtGs) return i
    let j = i
    while (j < n) {
      const d = text.charCodeAt(j)
      if (d === 61 /* = */ || d === 32 || d === 0x1d) break
      j++
    }
    if (j >= n || text.charCodeAt(j) !== 61 || j === i || j - i > 64) {
      // Not a pair: skip the word.
      while (j < n && text.charCodeAt(j) !== 32 && !(stopAtGs && text.charCodeAt(j) === 0x1d)) j++
      i = j
      continue
    }
    const key = text.slice(i, j)
    const q = text.charCodeAt(j + 1)
    if (q === 34 || q === 39) {
      const close = text.indexOf(q === 34 ? '"' : "'", j + 2)
      if (close < 0) return n
      put(key, { value: text.slice(j + 2, close), quoted: true })
      i = close + 1
    } else {
      let k = j + 1
      while (k < n && text.charCodeAt(k) !== 32 && text.charCodeAt(k) !== 0x1d) k++
      put(key, { value: text.slice(j + 1, k), quoted: false })
      i = k
    }
  }
  return n
}

/** True when a text (a message body) is an auditd record: `type=...`, `node=... type=...`, or the kernel's `audit: type=...`. */
export function looksLikeAudit(text: string): boolean {
  let s = text
  if (s.startsWith('[')) {
    const close = s.indexOf('] ')
    if (close < 0 || close > 32) return false
    s = s.slice(close + 2)
  }
  if (s.startsWith('audit: ')) s = s.slice(7)
  if (s.startsWith('node=')) {
    const sp = s.indexOf(' ')
    if (sp < 0 || sp > 260) return false
    s = s.slice(sp + 1)
  }
  return s.startsWith('type=')
}

/**
 * An auditd record line into its fields, under auditd's own names (`type`, `a0`.., `argc`,
 * `exe`, `comm`, `key`, `uid`, `auid`, `syscall`, `success`, `pid`, `ppid`, ...): quoted values
 * unquoted, hex values decoded (EXECVE arguments, `exe`, `proctitle`, ...), long EXECVE arguments
 * (`a1[0]=... a1[1]=...`) joined, `(null)` as null, the pairs of a USER_* record's `msg='...'`
 * added (the outer fields win), and the enriched fields after 0x1d (`UID="root"`) kept under their
 * upper-case names. `type` is passed for journald's audit records, whose text has no `type=`.
 */
export function parseAudit(text: string, type?: string): Fields | null {
  if (text.length > MAX_LINE) return null
  const out: Fields = new Map()
  if (type !== undefined) out.set('type', auditType(type))
  let start = 0
  if (type === undefined) {
    if (text.startsWith('[')) start = text.indexOf('] ') + 2
    if (text.startsWith('audit: ', start)) start += 7
  }
  const raw = new Map<string, RawValue>()
  const pieces = new Map<string, [number, string][]>()
  let inner: string | undefined
  const gs = scanPairs(text, start, true, (key, v) => {
    const arg = ARG.exec(key)
    // `msg=audit(1700000000.123:456):` is the record's time and serial; `msg='op=... res=...'` holds more pairs.
    if (key === 'msg') {
      if (v.quoted) inner ??= v.value
    } else if (arg && arg[2] !== undefined) {
      // A long argument comes in numbered pieces of hex (kept as pairs: an index is not an array size).
      const list = pieces.get(arg[1]) ?? []
      list.push([Number(arg[2]), v.value])
      pieces.set(arg[1], list)
    } else if (!raw.has(key)) raw.set(key, v)
  })
  const t = raw.get('type')
  if (!t && type === undefined) return null
  const recordType = type !== undefined ? auditType(type) : auditType(t!.value)
  out.set('type', recordType)
  const execve = recordType === 'EXECVE'
  for (const [key, v] of raw) if (key !== 'type') out.set(key, valueOf(key, v, execve))
  if (inner !== undefined) {
    scanPairs(inner, 0, false, (k, v) => {
      if (!out.has(k)) out.set(k, valueOf(k, v, false))
    })
  }
  for (const [n, list] of pieces) {
    const key = `a${n}`
    if (out.has(key)) continue
    const hex = list.sort((a, b) => a[0] - b[0]).map((p) => p[1]).join('')
    out.set(key, HEX.test(hex) ? decodeHex(hex) : hex)
  }
  if (gs < text.length) {
    scanPairs(text, gs + 1, false, (key, v) => {
      if (!out.has(key)) out.set(key, v.value)
    })
  }
  return out
}

function valueOf(key: string, v: RawValue, execve: boolean): unknown {
  if (v.quoted) return v.value
  if (v.value === '(null)') return null
  const hexField = HEX_FIELDS.has(key) || (execve && ARG.test(key))
  if (!hexField || !HEX.test(v.value)) return v.value
  const decoded = decodeHex(v.value)
  if (key === 'proctitle') return decoded.replaceAll('\0', ' ').trimEnd()
  // Several rule keys are joined with 0x01.
  if (key === 'key' && decoded.includes('\x01')) return decoded.split('\x01')
  return decoded
}

// --- web access logs ------------------------------------------------------------------------

const CLF_TIME = /^\d{1,2}\/[A-Za-z]{3}\/\d{4}:\d\d:\d\d:\d\d(?: [+-]\d{4})?$/

/**
 * A quoted field from `at` (which holds the opening quote), with Apache's and nginx's escapes
 * (`\"`, `\\`, `\xHH`) undone; null when the quote is not closed.
 */
function quotedField(text: string, at: number): { value: string; end: number } | null {
  let out = ''
  let from = at + 1
  let i = from
  const n = text.length
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 34) return { value: out + text.slice(from, i), end: i + 1 }
    if (c === 92 && i + 1 < n) {
      out += text.slice(from, i)
      const e = text[i + 1]
      if (e === 'x' && HEX.test(text.slice(i + 2, i + 4))) {
        out += String.fromCharCode(parseInt(text.slice(i + 2, i + 4), 16))
        i += 4
      } else if (e === '"' || e === '\\') {
        out += e
        i += 2
      } else {
        out += '\\'
        i += 1
      }
      from = i
      continue
    }
    i++
  }
  return null
}

const absent = (v: string) => (v === '-' || v === '' ? undefined : v)

/**
 * A web server access log line in common or combined log format (Apache, nginx):
 * `host ident user [time] "request" status bytes ["referer" "user agent"]`, and Apache's
 * combinedio (`... %I %O` after the user agent: bytes received and sent). Fields under the W3C
 * names Sigma's web rules use and their ECS equivalents; `-` means absent (bytes `-` means 0).
 * Null when the line does not have this shape, including an unterminated quote or bracket.
 */
export function parseAccessLog(line: string): Fields | null {
  if (line.length > MAX_LINE) return null
  const sp1 = line.indexOf(' ')
  if (sp1 <= 0 || sp1 > 255) return null
  const sp2 = line.indexOf(' ', sp1 + 1)
  if (sp2 < 0 || sp2 - sp1 > 256) return null
  // The user (from an Authorization header) may hold spaces: it runs to ` [`.
  const lb = line.indexOf(' [', sp2)
  if (lb < 0 || lb - sp2 > 512) return null
  const rb = line.indexOf(']', lb + 2)
  if (rb < 0 || rb - lb > 40 || !CLF_TIME.test(line.slice(lb + 2, rb))) return null
  if (!line.startsWith(' "', rb + 1)) return null
  const request = quotedField(line, rb + 2)
  if (!request) return null
  let i = request.end
  const status = /^ (\d{3}) (\d{1,15}|-)(?= |$)/.exec(line.slice(i, i + 24))
  if (!status) return null
  i += status[0].length
  const host = line.slice(0, sp1)
  const out: Fields = new Map()
  out.set('c-ip', host)
  const ip = ipOf(host)
  if (ip) out.set('source.ip', ip)
  const user = absent(line.slice(sp2 + 1, lb))
  if (user) {
    out.set('cs-username', user)
    out.set('user.name', user)
  }
  const req = request.value
  const first = req.indexOf(' ')
  if (first > 0 && /^[A-Za-z][A-Za-z_-]{0,31}$/.test(req.slice(0, first))) {
    const last = req.lastIndexOf(' ')
    let target = req.slice(first + 1)
    if (last > first && req.startsWith('HTTP/', last + 1)) {
      const version = req.slice(last + 1)
      target = req.slice(first + 1, last)
      out.set('cs-version', version)
      out.set('http.version', version.slice(5))
    }
    const method = req.slice(0, first)
    out.set('cs-method', method)
    out.set('http.request.method', method)
    out.set('cs-uri', target)
    out.set('url.original', target)
    const q = target.indexOf('?')
    const stem = q < 0 ? target : target.slice(0, q)
    out.set('cs-uri-stem', stem)
    out.set('url.path', stem)
    if (q >= 0) {
      out.set('cs-uri-query', target.slice(q + 1))
      out.set('url.query', target.slice(q + 1))
    }
  }
  const code = Number(status[1])
  out.set('sc-status', code)
  out.set('http.response.status_code', code)
  const bytes = status[2] === '-' ? 0 : Number(status[2])
  out.set('sc-bytes', bytes)
  out.set('http.response.body.bytes', bytes)
  // Combined: the referer and the user agent, quoted.
  if (line.startsWith(' "', i)) {
    const referer = quotedField(line, i + 1)
    if (referer && line.startsWith(' "', referer.end)) {
      const agent = quotedField(line, referer.end + 1)
      if (agent) {
        const ref = absent(referer.value)
        if (ref) {
          out.set('cs-referer', ref)
          out.set('http.request.referrer', ref)
        }
        const ua = absent(agent.value)
        if (ua) {
          out.set('cs-user-agent', ua)
          out.set('user_agent.original', ua)
        }
        const io = /^ (\d{1,15}) \d{1,15}$/.exec(line.slice(agent.end, agent.end + 40))
        if (io) {
          out.set('cs-bytes', Number(io[1]))
          out.set('http.request.bytes', Number(io[1]))
        }
      }
    }
  }
  return out
}
