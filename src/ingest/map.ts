// The documented mapping from what shippers really send to Vigil events (docs/shippers.md has the
// table). For each event field the first candidate key a record carries decides: a valid value is
// used, an invalid one rejects the record (it is never replaced by a default). Only when no
// candidate is present does the ingest key's default apply; a record still missing a required
// field is rejected on its own. Dotted keys match both the flat ("log.level") and the nested
// ({"log": {"level": ...}}) forms.
import { EVENT_TYPES, SEVERITIES, type EventType, type Severity } from '../db/schema.js'
import { maxSeverity, type Counted, type Found, type Hit } from '../detection/engine.js'
import { recordView } from '../detection/record.js'
import type { FieldSource, Logsource } from '../detection/types.js'
import type { ScreenSubject, Screened } from '../services/grouping.js'
import type { RowOutcome } from './insert.js'
import { MAX_DESCRIPTION } from '../schemas.js'

export interface KeyDefaults {
  source?: string
  event_type?: EventType
  severity?: Severity
  /** The Sigma logsource of what this key's shipper sends, for records that carry none. */
  logsource?: Logsource
}

/** Runs the detection models on one record (src/detection/detector.ts). */
export interface Detect {
  /** Whether any model runs: without one, no record view is even made. */
  readonly active: boolean
  evaluate(record: FieldSource): Found | null
}

/** Screens one event for its alert: suppressed, or grouped (src/services/grouping.ts AlertScreen). */
export interface Screen {
  /** Whether anything could apply: without, no record view is made for it. */
  readonly active: boolean
  screen(subject: ScreenSubject): Screened
  /** After the rows' chunk committed (the suppressions' hits). */
  settle?(rows: readonly EventRow[], outcomes: readonly RowOutcome[]): void
}

/**
 * A row Vigil makes itself (a correlation's or a baseline's firing), screened as a record would
 * be: its group's values are the fields suppressions and fingerprints read.
 */
export function screenRow(row: EventRow, screen: Screen | null | undefined, fields: Record<string, unknown>): EventRow {
  if (!screen?.active) return row
  const detections = row.detections ? (JSON.parse(row.detections) as ScreenSubject['detections']) : []
  const s = screen.screen({ source: row.source, eventType: row.eventType, severity: row.severity, detections, field: (path) => fields[path] })
  return { ...row, suppressionId: s.suppressionId, fingerprint: s.fingerprint }
}

/** One event ready for the insert: the columns the bulk insert writes. */
export interface EventRow {
  source: string
  eventType: EventType
  severity: Severity
  description: string
  /** ISO 8601, or null when the record carries no time of its own. */
  occurredAt: string | null
  externalId: string | null
  /** JSON text for the jsonb column, or null. */
  attributes: string | null
  /** The detections of the models that matched, as JSON text, or null. */
  detections: string | null
  /** Correlation hits, stored with the event. */
  hits: Hit[]
  /** Models that matched, for their counters. */
  models: ReadonlySet<number> | null
  /** Learned baselines that count this event. */
  counted: Counted[]
  /** The suppression that matched: the event is stored flagged with it and raises no alert. */
  suppressionId?: number | null
  /** The repeats' fingerprint when the event's alert is grouped (src/services/grouping.ts). */
  fingerprint?: string | null
}

export interface MapOptions {
  defaults?: KeyDefaults
  maxAttributesBytes: number
  /** The detection models; without them no record is evaluated. */
  detect?: Detect
  /** Suppressions and grouping; without, every event raises its own alert as the policy says. */
  screen?: Screen
}

/** What a record brings besides its fields: the original text, and overrides from its envelope. */
export interface RecordSource {
  /** The document the fields are read from. */
  doc: Record<string, unknown>
  /** The original JSON text (stored as attributes); stringified from `original` when absent. */
  raw?: string
  /** The original document, when it is not `doc` itself (a Splunk HEC envelope). */
  original?: unknown
  /** The sender's id from outside the document (the Elasticsearch `_id`); wins over the document's. */
  externalId?: string
  /** Whether an `attributes` object in the document is the event's attributes (the native format). */
  nativeAttributes?: boolean
}

type Rec = Record<string, unknown>

/** Same bound as the REST API (src/schemas.ts); longer log messages are cut, the original stays in attributes. */
export { MAX_DESCRIPTION }
const MAX_COLUMN = 255

interface Candidate {
  key: string
  path?: string[]
}
const candidates = (...keys: string[]): Candidate[] =>
  keys.map((key) => (key.includes('.') ? { key, path: key.split('.') } : { key }))

function lookup(doc: Rec, c: Candidate): unknown {
  const flat = doc[c.key]
  if (flat !== undefined || !c.path) return flat
  let v: unknown = doc
  for (const part of c.path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined
    v = (v as Rec)[part]
  }
  return v
}

/** A value as quoted in an error detail, kept short. */
const show = (v: unknown) => {
  const s = JSON.stringify(v) ?? String(v)
  return s.length > 60 ? `${s.slice(0, 57)}...` : s
}

// --- severity ---------------------------------------------------------------------------------

const SEVERITY_NAMES: Record<string, Severity> = {}
for (const [severity, names] of Object.entries({
  Critical: ['critical', 'crit', 'emerg', 'emergency', 'panic', 'alert', 'fatal'],
  High: ['high', 'err', 'error', 'severe'],
  Medium: ['medium', 'warning', 'warn'],
  Low: ['low', 'notice', 'info', 'informational', 'information', 'debug', 'trace']
}) as [Severity, string[]][]) {
  for (const name of names) SEVERITY_NAMES[name] = severity
}

/** Syslog severities 0-7: emerg, alert, crit -> Critical; err -> High; warning -> Medium; notice, info, debug -> Low. */
const SYSLOG: Severity[] = ['Critical', 'Critical', 'Critical', 'High', 'Medium', 'Low', 'Low', 'Low']

type Scale = 'syslog' | 'level' | 'ecs'
const bySyslog = (n: number) => (n >= 0 && n <= 7 ? SYSLOG[n] : undefined)
const SCALES: Record<Scale, (n: number) => Severity | undefined> = {
  syslog: bySyslog,
  // `level`: syslog numbers, or pino/bunyan levels (10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal).
  level: (n) =>
    bySyslog(n) ?? (n >= 10 && n <= 100 ? (n < 40 ? 'Low' : n < 50 ? 'Medium' : n < 60 ? 'High' : 'Critical') : undefined),
  // ECS event.severity: the 0-100 scale of Elastic Security (21 low, 47 medium, 73 high, 99 critical).
  ecs: (n) => (n >= 0 && n <= 100 ? (n <= 21 ? 'Low' : n <= 47 ? 'Medium' : n <= 73 ? 'High' : 'Critical') : undefined)
}

const SEVERITY_KEYS: [Candidate, Scale][] = [
  ['severity', 'syslog'],
  ['level', 'level'],
  ['log.level', 'level'],
  ['PRIORITY', 'syslog'],
  ['syslog.severity', 'syslog'],
  ['log.syslog.severity.name', 'syslog'],
  ['log.syslog.severity.code', 'syslog'],
  ['event.severity', 'ecs']
].map(([key, scale]) => [candidates(key)[0], scale as Scale])

function severityOf(value: unknown, scale: Scale): Severity | undefined {
  let n: number | undefined
  if (typeof value === 'number') n = value
  else if (typeof value === 'string') {
    const name = SEVERITY_NAMES[value.trim().toLowerCase()]
    if (name) return name
    if (/^\s*\d{1,3}\s*$/.test(value)) n = Number(value)
  }
  return n !== undefined && Number.isInteger(n) ? SCALES[scale](n) : undefined
}

// --- the other fields -------------------------------------------------------------------------

const SOURCE_KEYS = candidates('source', 'host.name', 'host', 'HOST', 'hostname')
const DESCRIPTION_KEYS = candidates('description', 'message', 'msg', 'MESSAGE')
const EXTERNAL_ID_KEYS = candidates('external_id', 'id', '_id')
/** Best effort: used when they parse as a time, ignored otherwise (the original stays in attributes). */
const TIME_KEYS = candidates('@timestamp', 'timestamp', 'time', 'ts', 'ISODATE')
const CATEGORY = candidates('event.category')[0]

const EVENT_TYPE_NAMES = new Map<string, EventType>(EVENT_TYPES.map((t) => [t, t]))
/** ECS event.category values that name a Vigil event type. */
const ECS_CATEGORIES: Record<string, EventType> = { intrusion_detection: 'intrusion', malware: 'malware' }

const isObject = (v: unknown): v is Rec => v !== null && typeof v === 'object' && !Array.isArray(v)
const present = (v: unknown) => v !== undefined && v !== null

/** Text for a column: PostgreSQL text cannot hold NUL. */
const clean = (s: string) => (s.includes('\0') ? s.replaceAll('\0', '\uFFFD') : s)

const ISO_8601 = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/

/** RFC 3339 in UTC to the millisecond, as Date#toISOString writes it (what most shippers send). */
const CANONICAL = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const digitsAt = (s: string, at: number, n: number) => {
  let x = 0
  for (let i = at; i < at + n; i++) x = x * 10 + s.charCodeAt(i) - 48
  return x
}

/**
 * Whether a time is already the text parseTime would make of it: toISOString's form, naming a
 * real day and time (year 100 or later: Date.UTC reads 0-99 as 1900-1999). Reading the fields is
 * a twentieth of what Date.parse and toISOString cost, and a bulk request parses a time per
 * record. Anything else (another form, Feb 29 of a common year, 24:00) takes the general way.
 */
function isCanonical(s: string): boolean {
  if (s.length !== 24 || !CANONICAL.test(s)) return false
  const year = digitsAt(s, 0, 4)
  const month = digitsAt(s, 5, 2)
  const day = digitsAt(s, 8, 2)
  return (
    year >= 100 && month >= 1 && month <= 12 && day >= 1 && digitsAt(s, 11, 2) <= 23 && digitsAt(s, 14, 2) <= 59 && digitsAt(s, 17, 2) <= 59 &&
    (day <= 28 || new Date(Date.UTC(year, month - 1, day)).getUTCDate() === day)
  )
}

/** An ISO 8601 offset as Date.parse wants it (±HH:MM); none means UTC, not the server's local time. */
function offsetOf(zone: string | undefined): string {
  if (!zone || zone === 'Z' || zone === 'z') return 'Z'
  const digits = zone.slice(1).replace(':', '')
  return `${zone[0]}${digits.slice(0, 2)}:${digits.slice(2) || '00'}`
}

/**
 * Parses a time: ISO 8601 text (UTC when it names no offset), or epoch seconds / milliseconds as
 * a number or numeric text.
 */
export function parseTime(value: unknown): string | undefined {
  if (typeof value === 'string' && isCanonical(value)) return value
  let ms: number
  if (typeof value === 'number') ms = Math.abs(value) >= 1e11 ? value : value * 1000
  else if (typeof value === 'string') {
    const s = value.trim()
    const iso = ISO_8601.exec(s)
    if (iso) {
      const [, date, time, zone] = iso
      ms = Date.parse(time ? `${date}T${time}${offsetOf(zone)}` : date)
    } else if (/^\d+(\.\d+)?$/.test(s)) {
      const n = Number(s)
      ms = n >= 1e11 ? n : n * 1000
    } else return undefined
  } else return undefined
  if (!Number.isFinite(ms)) return undefined
  const d = new Date(ms)
  const year = d.getUTCFullYear()
  return year >= 1 && year <= 9999 ? d.toISOString() : undefined
}

/**
 * Attributes are JSON text for jsonb. jsonb refuses \u0000 and lone surrogates, which JSON.parse
 * accepts: such documents are re-serialised with those characters replaced.
 */
const UNSAFE_ESCAPE = /\\u(0000|[dD][89a-fA-F])/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g
function wellFormed(v: unknown): unknown {
  if (typeof v === 'string') return v.replace(LONE_SURROGATE, '\uFFFD').replaceAll('\0', '\uFFFD')
  if (Array.isArray(v)) return v.map(wellFormed)
  if (isObject(v)) {
    const out: Rec = {}
    for (const [k, x] of Object.entries(v)) out[wellFormed(k) as string] = wellFormed(x)
    return out
  }
  return v
}
function jsonText(raw: string | undefined, value: unknown): string {
  if (raw !== undefined && !(raw.includes('\\u') && UNSAFE_ESCAPE.test(raw))) return raw
  return JSON.stringify(wellFormed(value))
}

/** A document too large to keep whole is replaced by a marker with its size and its beginning. */
function truncated(text: string, bytes: number, max: number): string {
  let keep = Math.max(0, max - 128)
  for (;;) {
    let preview = Buffer.from(text).subarray(0, keep).toString('utf8')
    if (preview.endsWith('\uFFFD')) preview = preview.slice(0, -1)
    const marker = JSON.stringify({ _truncated: true, _original_bytes: bytes, _preview: preview })
    if (Buffer.byteLength(marker) <= max) return marker
    keep = Math.floor(keep / 2)
  }
}

/** Maps one record to an event row, or returns why it is rejected. */
export function mapRecord(rec: RecordSource, opts: MapOptions): EventRow | string {
  const doc = rec.doc
  const defaults = opts.defaults ?? {}

  // severity
  let severity: Severity | undefined
  for (const [c, scale] of SEVERITY_KEYS) {
    const v = lookup(doc, c)
    if (!present(v)) continue
    severity = severityOf(v, scale)
    if (!severity) return `Invalid ${c.key} ${show(v)}: not a known severity.`
    break
  }

  // event_type
  let eventType: EventType | undefined
  const et = doc.event_type
  if (present(et)) {
    eventType = typeof et === 'string' ? EVENT_TYPE_NAMES.get(et.trim().toLowerCase()) : undefined
    if (!eventType) return `Invalid event_type ${show(et)}: use one of ${EVENT_TYPES.join(', ')}.`
  } else {
    const cat = lookup(doc, CATEGORY)
    for (const c of Array.isArray(cat) ? cat : [cat]) {
      if (typeof c === 'string' && ECS_CATEGORIES[c]) {
        eventType = ECS_CATEGORIES[c]
        break
      }
    }
  }

  // source: an object under `source` or `host` is an ECS field set, not a name.
  let source: string | undefined
  for (const c of SOURCE_KEYS) {
    const v = lookup(doc, c)
    if (!present(v) || isObject(v)) continue
    if (typeof v !== 'string' || !/\S/.test(v) || v.length > MAX_COLUMN) {
      return `Invalid ${c.key} ${show(v)}: a source is a non-blank string of at most ${MAX_COLUMN} characters.`
    }
    source = clean(v)
    break
  }
  source ??= defaults.source

  // description: free text; a structured message is kept as its JSON.
  let description = ''
  for (const c of DESCRIPTION_KEYS) {
    const v = lookup(doc, c)
    if (!present(v)) continue
    description = typeof v === 'string' ? v : JSON.stringify(v)
    break
  }
  if (description.length > MAX_DESCRIPTION) description = description.slice(0, MAX_DESCRIPTION - 1) + '…'
  description = clean(description)

  // The models see the record as sent; a match raises the severity to the rule's level and names
  // the type when the record has none (src/detection/engine.ts has the tag mapping).
  // Native records keep the sender's fields in `attributes`: rules see them as top-level fields.
  let found: Found | null = null
  let view: FieldSource | undefined
  const viewOf = () => (view ??= recordView(rec.nativeAttributes && isObject(doc.attributes) ? { ...doc.attributes, ...doc } : doc, { message: description, logsource: defaults.logsource }))
  if (opts.detect?.active) found = opts.detect.evaluate(viewOf())
  severity ??= defaults.severity
  if (found?.severity) severity = severity ? maxSeverity(severity, found.severity) : found.severity
  if (!severity) return 'No severity: the record has none and the ingest key has no default.'
  eventType ??= found?.eventType ?? defaults.event_type
  if (!eventType) return 'No event_type: the record has none and the ingest key has no default.'
  if (!source) return 'No source: the record has none and the ingest key has no default.'

  // external_id
  let externalId: string | null = null
  let idKey = '_id'
  let idValue: unknown = rec.externalId
  if (idValue === undefined) {
    for (const c of EXTERNAL_ID_KEYS) {
      idValue = lookup(doc, c)
      idKey = c.key
      if (present(idValue)) break
    }
  }
  if (present(idValue)) {
    const v = idValue
    const id = typeof v === 'string' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : undefined
    if (id === undefined || id === '' || id.length > MAX_COLUMN) {
      return `Invalid ${idKey} ${show(v)}: an id is a string of 1 to ${MAX_COLUMN} characters or an integer.`
    }
    externalId = clean(id)
  }

  // occurred_at: strict for the native field, best effort for the shippers' time fields.
  let occurredAt: string | null = null
  if (present(doc.occurred_at)) {
    const t = parseTime(doc.occurred_at)
    if (!t) return `Invalid occurred_at ${show(doc.occurred_at)}: use an ISO 8601 date-time or epoch seconds.`
    occurredAt = t
  } else {
    for (const c of TIME_KEYS) {
      const t = parseTime(lookup(doc, c))
      if (t) {
        occurredAt = t
        break
      }
    }
  }

  // attributes: the native `attributes` object as given, otherwise the original document.
  let attributes: string
  if (rec.nativeAttributes && present(doc.attributes)) {
    if (!isObject(doc.attributes)) return 'Invalid attributes: must be a JSON object.'
    attributes = jsonText(undefined, doc.attributes)
    if (Buffer.byteLength(attributes) > opts.maxAttributesBytes) {
      return `Invalid attributes: at most ${opts.maxAttributesBytes} bytes of JSON.`
    }
  } else {
    const original = rec.original ?? doc
    attributes = jsonText(rec.raw, original)
    const bytes = Buffer.byteLength(attributes)
    if (bytes > opts.maxAttributesBytes) attributes = truncated(attributes, bytes, opts.maxAttributesBytes)
  }

  const screened = opts.screen?.active
    ? opts.screen.screen({ source, eventType, severity, detections: found?.detections ?? [], field: (path) => viewOf().get(path) })
    : null
  return {
    source,
    eventType,
    severity,
    description,
    occurredAt,
    externalId,
    attributes,
    detections: found?.detections.length ? JSON.stringify(found.detections) : null,
    hits: found?.hits ?? [],
    models: found?.models.size ? found.models : null,
    counted: found?.counted ?? [],
    suppressionId: screened?.suppressionId ?? null,
    fingerprint: screened?.fingerprint ?? null
  }
}

/** Reads an ingest key's stored defaults, keeping only valid values. */
export function keyDefaults(value: unknown): KeyDefaults {
  if (!isObject(value)) return {}
  const out: KeyDefaults = {}
  if (typeof value.source === 'string' && /\S/.test(value.source) && value.source.length <= MAX_COLUMN) out.source = value.source
  if (typeof value.event_type === 'string' && (EVENT_TYPES as readonly string[]).includes(value.event_type)) {
    out.event_type = value.event_type as EventType
  }
  if (typeof value.severity === 'string' && (SEVERITIES as readonly string[]).includes(value.severity)) {
    out.severity = value.severity as Severity
  }
  if (isObject(value.logsource)) {
    const ls: Logsource = {}
    for (const k of ['category', 'product', 'service'] as const) {
      const v = value.logsource[k]
      if (typeof v === 'string' && v !== '') ls[k] = v
    }
    if (Object.keys(ls).length) out.logsource = ls
  }
  return out
}
