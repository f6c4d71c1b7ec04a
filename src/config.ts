// One TypeBox schema for all of Vigil's configuration. Environment variables are converted,
// defaulted and checked once at start; a bad value stops the process with the variable's name.
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Type, type Static } from '@sinclair/typebox'
import { FIELD_PATH } from './text.js'
import { Value } from '@sinclair/typebox/value'

const Int = (def: number, min = 0) => Type.Integer({ default: def, minimum: min })

export const ConfigSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], {
    default: 'development'
  }),
  HOST: Type.String({ default: '127.0.0.1' }),
  PORT: Int(3000),
  /**
   * Server processes sharing PORT (node:cluster): one per core serves a machine's cores, as that
   * many instances would. Needs DATABASE_URL: the embedded database belongs to one process.
   */
  WORKERS: Type.Integer({ default: 1, minimum: 1, maximum: 64 }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' }
  ),
  /** PostgreSQL connection string; without it Vigil runs on embedded PGlite in DATA_DIR. */
  DATABASE_URL: Type.Optional(Type.String({ minLength: 1 })),
  /** Redis for counters shared by instances (login rate limits); without it they live in the database. */
  REDIS_URL: Type.Optional(Type.String({ minLength: 1 })),
  DATA_DIR: Type.String({ default: './data' }),
  DB_POOL_MAX: Int(10, 1),
  /** Connections of the pool lists are read from (0: they share DB_POOL_MAX's pool). */
  DB_LIST_POOL_MAX: Int(4, 0),
  /** How long a query may wait for the database before the request gets a 503. */
  DB_TIMEOUT_MS: Int(5000, 100),
  JWT_SECRET: Type.Optional(Type.String()),
  JWT_ISSUER: Type.String({ default: 'vigil' }),
  JWT_AUDIENCE: Type.String({ default: 'vigil-api' }),
  ACCESS_TOKEN_TTL: Int(900, 1),
  /**
   * How long a user row read to authenticate a request may be reused (0: read it every time).
   * Changes are announced by the database (LISTEN/NOTIFY) and drop the copy at once; this bounds
   * how long a change could go unseen if those announcements were lost.
   */
  AUTH_CACHE_TTL_MS: Type.Integer({ default: 1000, minimum: 0, maximum: 60_000 }),
  REFRESH_TOKEN_TTL: Int(7 * 24 * 3600, 1),
  ADMIN_USERNAME: Type.Optional(Type.String({ minLength: 1 })),
  ADMIN_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),
  ADMIN_EMAIL: Type.Optional(Type.String({ minLength: 3 })),
  REGISTRATION_ENABLED: Type.Boolean({ default: false }),
  PASSWORD_MIN_LENGTH: Int(12, 8),
  TRUST_PROXY: Type.Boolean({ default: false }),
  /** Comma-separated CORS allow-list; empty means CORS stays off. */
  CORS_ORIGINS: Type.String({ default: '' }),
  /**
   * Server timeouts. A client must send a whole request (headers and body) within
   * HTTP_REQUEST_TIMEOUT_MS and its headers within HTTP_HEADERS_TIMEOUT_MS, or gets 408 and loses
   * the connection (0: no bound); a slow or stalled shipper cannot hold an ingestion slot longer.
   * 60 s lets a 10 MiB body through at about 1.5 Mbit/s.
   */
  HTTP_REQUEST_TIMEOUT_MS: Int(60_000),
  HTTP_HEADERS_TIMEOUT_MS: Int(10_000),
  /**
   * How long an idle keep-alive connection stays open after its last response. Above the 60 s
   * idle timeout of common load balancers, so they close first and never reuse a connection
   * Vigil is closing.
   */
  HTTP_KEEP_ALIVE_TIMEOUT_MS: Int(72_000, 1),
  /**
   * A connection with no traffic either way for this long is closed (0: never), e.g. a client
   * that stopped reading its response. Longer than any answer may take to start.
   */
  HTTP_CONNECTION_TIMEOUT_MS: Int(120_000),
  /** Lists count matching rows exactly up to this many; beyond, `count` is an estimate (`count_estimated: true`). */
  LIST_EXACT_COUNT_MAX: Int(10_000, 1),
  /**
   * Days events are kept (0: for ever). Whole days are dropped, with the alerts of their events
   * and the alerts' links to incidents (the incidents stay), once every event in them is older.
   */
  RETENTION_DAYS: Int(0),
  /**
   * Resolving an alert needs a verdict (400 without one). Off, a resolve without a verdict records
   * `other`, so the Django original's clients, which resolve with a status alone, keep working.
   */
  VERDICT_REQUIRED: Type.Boolean({ default: false }),
  /**
   * Fold repeats into one alert: an event whose fingerprint (ALERT_GROUP_BY) matches an alert not
   * yet resolved adds to it instead of raising its own. Off, every High or Critical event raises
   * its own alert, as in the Django original. Detection models can turn it on or off for theirs.
   */
  ALERT_GROUPING: Type.Boolean({ default: false }),
  /** The fields of a fingerprint: source, event_type, severity, rule (the matched rules' ids), or record fields by dotted path. */
  ALERT_GROUP_BY: Type.String({ default: 'source,event_type,rule', minLength: 1, maxLength: 1000 }),
  /**
   * Alerts a bulk job changes per transaction: larger batches finish sooner, smaller ones hold
   * their locks for less time. Bounded so a batch's statements stay within PostgreSQL's limit on
   * bound parameters.
   */
  BULK_JOB_BATCH: Type.Integer({ default: 500, minimum: 1, maximum: 5000 }),
  /** Alert streams (GET /api/alerts/stream) one user may hold open at once; beyond, 429. */
  ALERT_STREAMS_PER_USER: Type.Integer({ default: 5, minimum: 1, maximum: 100 }),
  /** Alert streams one instance serves at once; beyond, 429 (a load balancer sends the next to another). */
  ALERT_STREAMS_MAX: Type.Integer({ default: 1000, minimum: 1, maximum: 100_000 }),
  /** A comment line on every idle stream this often, so proxies and clients see it alive. */
  ALERT_STREAM_HEARTBEAT_MS: Type.Integer({ default: 15_000, minimum: 100, maximum: 300_000 }),
  /**
   * Streams read the outbox at once when a change is announced (NOTIFY), and at least this often
   * besides: a change held behind a longer transaction is announced before it can be read.
   */
  ALERT_STREAM_POLL_MS: Type.Integer({ default: 1000, minimum: 50, maximum: 60_000 }),
  /**
   * What a stream may have written and its client not yet taken; a client that falls this far
   * behind gets nothing more until it catches up, and is closed (its last id resumes it) if it
   * does not within ALERT_STREAM_DRAIN_MS.
   */
  ALERT_STREAM_MAX_BUFFER_BYTES: Type.Integer({ default: 1024 * 1024, minimum: 16 * 1024, maximum: 64 * 1024 * 1024 }),
  ALERT_STREAM_DRAIN_MS: Type.Integer({ default: 5000, minimum: 100, maximum: 120_000 }),
  /** Largest JSON body for ordinary API routes. */
  BODY_LIMIT: Int(1024 * 1024, 1024),
  INGEST_MAX_BODY_BYTES: Int(10 * 1024 * 1024, 1024),
  INGEST_MAX_DECOMPRESSED_BYTES: Int(100 * 1024 * 1024, 1024),
  INGEST_MAX_RECORDS: Int(10_000, 1),
  INGEST_MAX_ATTRIBUTES_BYTES: Int(16 * 1024, 256),
  /** Ingest requests writing at once; 0 means DB_POOL_MAX - 2 (at least 1), leaving room for the API. */
  INGEST_MAX_CONCURRENCY: Int(0),
  /** How long an ingest request waits for a free slot before it gets 503 + Retry-After. */
  INGEST_QUEUE_TIMEOUT_MS: Int(2000),
  /** Rows per insert statement (each chunk is one transaction). */
  INGEST_BATCH_SIZE: Int(2000, 1),
  /** Ingest routes answer 503 while the event loop lags more than this; 0 turns the check off. */
  INGEST_MAX_EVENT_LOOP_DELAY_MS: Int(1000),
  /**
   * The bearer token a Prometheus scrape presents at GET /metrics. Unset: no metrics are kept
   * and /metrics does not exist (404).
   */
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  LOGIN_RATE_LIMIT: Int(10, 1),
  LOGIN_RATE_WINDOW_MS: Int(60_000, 1000),
  /**
   * Values for Sigma's `expand` modifier: a JSON object of placeholder name -> list of strings
   * (`{"admins": ["root", "alice"]}` for `User|expand: '%admins%'`). A rule naming a placeholder
   * not configured here is refused.
   */
  DETECTION_PLACEHOLDERS: Type.String({ default: '{}' }),
  /**
   * Addresses and CIDR ranges known to be hostile, comma-separated: the placeholder
   * %vigil_known_bad_addresses% that the detection pack's known-bad-address rule expands.
   */
  DETECTION_KNOWN_BAD_ADDRESSES: Type.String({ default: '' }),
  // --- Webhooks (README, Webhooks) ---
  /** Deliver webhooks from this instance (every instance may: a delivery is attempted by one at a time). */
  WEBHOOKS_ENABLED: Type.Boolean({ default: true }),
  /**
   * Let webhooks reach loopback, private, link-local and other internal addresses (for local
   * receivers and tests). Off, such URLs are refused when a webhook is saved and at every attempt.
   */
  WEBHOOK_ALLOW_PRIVATE: Type.Boolean({ default: false }),
  /** Bound on one attempt: resolving, connecting (at most 5 s of it) and the whole answer. */
  WEBHOOK_TIMEOUT_MS: Type.Integer({ default: 10_000, minimum: 100, maximum: 120_000 }),
  /**
   * Seconds before each attempt, comma-separated (Standard Webhooks' schedule by default: at once,
   * 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h); after the last one fails the delivery is failed.
   */
  WEBHOOK_RETRY_SCHEDULE: Type.String({ default: '0,5,300,1800,7200,18000,36000,36000', minLength: 1, maxLength: 1000 }),
  /** A webhook whose every attempt failed for this many days is turned off, saying why. */
  WEBHOOK_DISABLE_AFTER_DAYS: Type.Number({ default: 5, exclusiveMinimum: 0, maximum: 365 }),
  /**
   * Days the delivery log keeps a finished delivery (delivered, or failed) after its last attempt,
   * with its attempts; pending ones are kept until they finish. Pruned by the hourly maintenance round.
   */
  WEBHOOK_DELIVERY_RETENTION_DAYS: Type.Integer({ default: 30, minimum: 1, maximum: 3650 }),
  /** Attempts one instance makes at once. */
  WEBHOOK_CONCURRENCY: Type.Integer({ default: 10, minimum: 1, maximum: 200 })
})

export type Config = Static<typeof ConfigSchema> & { JWT_SECRET: string }

export class ConfigError extends Error {}

/**
 * Builds the configuration from environment-like input. Unknown keys are ignored, so
 * `process.env` can be passed as is; `overrides` lets tests inject values.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Static<typeof ConfigSchema>> = {}
): Config {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(ConfigSchema.properties)) {
    const v = env[key]
    if (v !== undefined && v !== '') raw[key] = v
  }
  Object.assign(raw, overrides)
  const converted = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, raw))
  const errors = [...Value.Errors(ConfigSchema, converted)]
  if (errors.length > 0) {
    const e = errors[0]
    const name = e.path.replace(/^\//, '') || 'configuration'
    throw new ConfigError(`Invalid configuration: ${name} ${e.message}`)
  }
  const config = converted as Static<typeof ConfigSchema>
  if (config.HTTP_REQUEST_TIMEOUT_MS > 0 && config.HTTP_HEADERS_TIMEOUT_MS > config.HTTP_REQUEST_TIMEOUT_MS) {
    // Node refuses a headers bound beyond the whole request's.
    throw new ConfigError('Invalid configuration: HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS')
  }
  if (config.WORKERS > 1 && !config.DATABASE_URL) {
    throw new ConfigError('Invalid configuration: WORKERS above 1 needs DATABASE_URL (the embedded database belongs to one process)')
  }
  sigmaPlaceholders(config)
  webhookRetrySchedule(config)
  groupByFields(config)
  return { ...config, JWT_SECRET: resolveJwtSecret(config) }
}

/** Most fields a fingerprint names (src/services/grouping.ts). */
export const MAX_GROUP_FIELDS = 10

/** ALERT_GROUP_BY as a list of fields; a bad one stops the start. */
export function groupByFields(config: Pick<Config, 'ALERT_GROUP_BY'>): string[] {
  const fields = config.ALERT_GROUP_BY.split(',').map((f) => f.trim()).filter(Boolean)
  if (fields.length === 0 || fields.length > MAX_GROUP_FIELDS) throw new ConfigError(`Invalid configuration: ALERT_GROUP_BY must name 1 to ${MAX_GROUP_FIELDS} fields`)
  for (const f of fields) if (!FIELD_PATH.test(f)) throw new ConfigError(`Invalid configuration: ALERT_GROUP_BY '${f}' is not a field name`)
  return fields
}

/** The `expand` placeholders: DETECTION_PLACEHOLDERS and the known-bad addresses; a bad value stops the start. */
export function sigmaPlaceholders(config: Pick<Config, 'DETECTION_PLACEHOLDERS' | 'DETECTION_KNOWN_BAD_ADDRESSES'>): Record<string, string[]> {
  let parsed: unknown
  try {
    parsed = JSON.parse(config.DETECTION_PLACEHOLDERS)
  } catch {
    throw new ConfigError('Invalid configuration: DETECTION_PLACEHOLDERS must be a JSON object of name -> list of strings')
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError('Invalid configuration: DETECTION_PLACEHOLDERS must be a JSON object of name -> list of strings')
  }
  const out: Record<string, string[]> = {}
  for (const [name, values] of Object.entries(parsed)) {
    if (!Array.isArray(values) || values.length === 0 || values.some((v) => typeof v !== 'string')) {
      throw new ConfigError(`Invalid configuration: DETECTION_PLACEHOLDERS.${name} must be a non-empty list of strings`)
    }
    out[name] = values as string[]
  }
  const bad = config.DETECTION_KNOWN_BAD_ADDRESSES.split(',').map((a) => a.trim()).filter(Boolean)
  // Unset, the placeholder is not configured and a rule expanding it is refused, not run on nothing.
  if (bad.length) out.vigil_known_bad_addresses = bad
  return out
}

/**
 * Production requires a real secret. In development Vigil makes one and keeps it in DATA_DIR,
 * so tokens survive a restart.
 */
function resolveJwtSecret(config: Static<typeof ConfigSchema>): string {
  const secret = config.JWT_SECRET
  if (secret !== undefined) {
    if (config.NODE_ENV === 'production' && Buffer.byteLength(secret) < 32) {
      throw new ConfigError('Invalid configuration: JWT_SECRET must be at least 32 bytes in production')
    }
    return secret
  }
  if (config.NODE_ENV === 'production') {
    throw new ConfigError('Invalid configuration: JWT_SECRET is required in production (at least 32 bytes)')
  }
  const dir = resolve(config.DATA_DIR)
  const file = join(dir, 'jwt-secret')
  try {
    const existing = readFileSync(file, 'utf8').trim()
    if (existing.length >= 32) return existing
  } catch {
    // No secret kept yet: make one below.
  }
  mkdirSync(dir, { recursive: true })
  const generated = randomBytes(48).toString('base64url')
  writeFileSync(file, generated, { mode: 0o600 })
  return generated
}

/** Most attempts a retry schedule may have, and the longest wait in it (2 days). */
export const MAX_RETRY_STEPS = 50
const MAX_RETRY_DELAY_S = 2 * 86_400

/** WEBHOOK_RETRY_SCHEDULE as seconds before each attempt; a bad one stops the start. */
export function webhookRetrySchedule(config: Pick<Config, 'WEBHOOK_RETRY_SCHEDULE'>): number[] {
  const parts = config.WEBHOOK_RETRY_SCHEDULE.split(',').map((p) => p.trim())
  const seconds = parts.map(Number)
  if (parts.length > MAX_RETRY_STEPS || parts.some((p, i) => p === '' || !Number.isFinite(seconds[i]) || seconds[i] < 0 || seconds[i] > MAX_RETRY_DELAY_S)) {
    throw new ConfigError(`Invalid configuration: WEBHOOK_RETRY_SCHEDULE must be 1 to ${MAX_RETRY_STEPS} comma-separated seconds, each 0 to ${MAX_RETRY_DELAY_S}`)
  }
  return seconds
}
