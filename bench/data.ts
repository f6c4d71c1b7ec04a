// Benchmark data: realistic shipper records (deterministic, so runs compare), and the same rows
// in the three shapes the phases send: NDJSON bodies for the bulk endpoint, COPY text for the
// raw baseline, and single-event JSON for POST /api/events/.
import { gzipSync } from 'node:zlib'

export type Severity = 'Low' | 'Medium' | 'High' | 'Critical'
export type EventType = 'intrusion' | 'malware' | 'anomaly'

/** One record as a shipper sends it, and the event row Vigil stores from it. */
export interface BenchRecord {
  /** The NDJSON line (no newline): what the app keeps as the event's attributes. */
  line: string
  source: string
  eventType: EventType
  severity: Severity
  message: string
  occurredAt: string
  externalId: string
  host: string
}

/** mulberry32: a small seeded PRNG, so every run sends the same data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const SOURCES = [
  ...Array.from({ length: 8 }, (_, i) => `fw-edge-${String(i + 1).padStart(2, '0')}`),
  ...Array.from({ length: 4 }, (_, i) => `ids-core-${String(i + 1).padStart(2, '0')}`),
  ...Array.from({ length: 24 }, (_, i) => `edr-ws-${String(i + 101).padStart(3, '0')}`),
  ...Array.from({ length: 6 }, (_, i) => `idp-sso-${String(i + 1).padStart(2, '0')}`)
]
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'svc-backup', 'svc-ci']
const COUNTRIES = ['BR', 'CN', 'DE', 'IN', 'KP', 'NG', 'RU', 'US', 'VN']
const FILES = ['invoice.pdf.exe', 'setup_x64.msi', 'update.js', 'payload.dll', 'report.docm', 'loader.ps1']

export function severityFor(r: number): Severity {
  // ~10% alerting: 60% Low, 30% Medium, 7% High, 3% Critical.
  return r < 0.6 ? 'Low' : r < 0.9 ? 'Medium' : r < 0.97 ? 'High' : 'Critical'
}

export const isAlerting = (s: Severity) => s === 'High' || s === 'Critical'

function ip(next: () => number, publicNet: boolean): string {
  const o = () => Math.floor(next() * 254) + 1
  return publicNet ? `${[203, 198, 192][Math.floor(next() * 3)]}.${o()}.${o()}.${o()}` : `10.${o()}.${o()}.${o()}`
}

function hex(next: () => number, n: number): string {
  let s = ''
  for (let i = 0; i < n; i++) s += Math.floor(next() * 16).toString(16)
  return s
}

function messageFor(next: () => number, type: EventType, host: string): string {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]
  switch (type) {
    case 'intrusion':
      return next() < 0.5
        ? `Blocked TCP connection from ${ip(next, true)}:${1024 + Math.floor(next() * 60000)} to ${ip(next, false)}:${pick([22, 443, 445, 3389, 8080])} by rule ${1000 + Math.floor(next() * 900)} (policy default-deny)`
        : `SSH brute force: ${5 + Math.floor(next() * 200)} failed logins for user ${pick(USERS)} from ${ip(next, true)} in 60s`
    case 'malware':
      return `EDR quarantined ${pick(FILES)} (sha256 ${hex(next, 64)}) on ${host}, signature Trojan.Gen.${Math.floor(next() * 99)}`
    default:
      return `User ${pick(USERS)} signed in from new country ${pick(COUNTRIES)} (${ip(next, true)}); ${Math.floor(next() * 900)} MB egress in 5 min`
  }
}

/**
 * `n` records. `prefix` makes the external ids unique to the run; `messageBytes` pads messages
 * to a size (for the large-record memory phase), as a stack trace would.
 */
export function makeRecords(n: number, prefix: string, seed = 42, messageBytes = 0): BenchRecord[] {
  const next = rng(seed)
  const out = new Array<BenchRecord>(n)
  const base = Date.parse('2026-03-01T00:00:00.000Z')
  for (let i = 0; i < n; i++) out[i] = makeRecord(next, prefix, i, base, messageBytes)
  return out
}

export function makeRecord(next: () => number, prefix: string, i: number, base: number, messageBytes = 0): BenchRecord {
  const source = SOURCES[Math.floor(next() * SOURCES.length)]
  const eventType: EventType = (['intrusion', 'malware', 'anomaly'] as const)[Math.floor(next() * 3)]
  const severity = severityFor(next())
  const host = `${source}.dc1.example.net`
  let message = messageFor(next, eventType, host)
  if (messageBytes > message.length) message += stackTrace(next, messageBytes - message.length)
  const occurredAt = new Date(base + i * 37 + Math.floor(next() * 1000)).toISOString()
  const externalId = `${prefix}-${i}`
  const line = JSON.stringify({
    '@timestamp': occurredAt,
    source,
    host,
    event_type: eventType,
    severity,
    message,
    external_id: externalId
  })
  return { line, source, eventType, severity, message, occurredAt, externalId, host }
}

/** Java-like stack frames, to make a ~10 KB log message. */
function stackTrace(next: () => number, bytes: number): string {
  let s = '\njava.lang.IllegalStateException: connection reset by peer'
  const classes = ['HttpHandler', 'AuthFilter', 'SessionStore', 'TlsChannel', 'RequestRouter', 'PoolManager']
  while (s.length < bytes - 80) {
    const c = classes[Math.floor(next() * classes.length)]
    s += `\n\tat com.example.gateway.${c}.handle${Math.floor(next() * 40)}(${c}.java:${Math.floor(next() * 900) + 10})`
  }
  return s
}

/** NDJSON bodies of `perRequest` records each, with a trailing newline. */
export function ndjsonBodies(records: BenchRecord[], perRequest: number): Buffer[] {
  const bodies: Buffer[] = []
  for (let i = 0; i < records.length; i += perRequest) {
    let s = ''
    for (const r of records.slice(i, i + perRequest)) s += r.line + '\n'
    bodies.push(Buffer.from(s))
  }
  return bodies
}

export const gzipAll = (bodies: Buffer[]) => bodies.map((b) => gzipSync(b))

/** COPY text format: backslash, tab, newline and carriage return are escaped. */
const copyEscape = (s: string) => s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'))

export const COPY_COLUMNS = 'source, event_type, severity, description, occurred_at, external_id, attributes'

export const COPY_KEY_COLUMNS = 'source, external_id, event_timestamp'

/**
 * The rows as COPY text in chunks of about `chunkBytes`, the same values the app would store, and
 * beside each chunk its rows' keys for event_keys, where Vigil claims them: a baseline that stores
 * events as Vigil does stores their keys too.
 */
export function copyChunks(records: BenchRecord[], chunkBytes = 1 << 20): { events: Buffer; keys: Buffer }[] {
  const at = new Date().toISOString()
  const chunks: { events: Buffer; keys: Buffer }[] = []
  let s = ''
  let k = ''
  for (const r of records) {
    s += `${copyEscape(r.source)}\t${r.eventType}\t${r.severity}\t${copyEscape(r.message)}\t${r.occurredAt}\t${copyEscape(r.externalId)}\t${copyEscape(r.line)}\n`
    k += `${copyEscape(r.source)}\t${copyEscape(r.externalId)}\t${at}\n`
    if (s.length >= chunkBytes) {
      chunks.push({ events: Buffer.from(s), keys: Buffer.from(k) })
      s = k = ''
    }
  }
  if (s) chunks.push({ events: Buffer.from(s), keys: Buffer.from(k) })
  return chunks
}

/** The body of POST /api/events/ for one record (attributes: a small object, as an API client sends). */
export function singleEvent(r: BenchRecord) {
  return {
    source: r.source,
    event_type: r.eventType,
    severity: r.severity,
    description: r.message,
    occurred_at: r.occurredAt,
    external_id: r.externalId,
    attributes: { host: r.host, shipper: 'bench' }
  }
}
