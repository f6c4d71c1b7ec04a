// Errors Vigil raises on purpose, the catalogue of stable codes every error body carries, and the
// translation of database failures into HTTP answers.

/**
 * Every code an error body can carry, with the one HTTP status it always comes with and what it
 * means. Clients branch on `code`, never on `detail` (its wording may change). The README lists
 * this table; test/openapi.test.ts checks that the document's enum is exactly these keys.
 */
export const ERROR_CATALOGUE = {
  validation_failed: { status: 400, meaning: 'A path parameter, query parameter or body field is invalid; `errors` lists the messages per field.' },
  malformed_request: { status: 400, meaning: 'The request cannot be read: malformed JSON, a body nested too deeply, a URL that does not decode, a compressed body that does not decompress, an ingestion body that is not JSON/NDJSON or a bulk action line that is not one.' },
  empty_body: { status: 400, meaning: 'The request has no body (or an ingestion body holds no records) where one is required.' },
  invalid_definition: { status: 400, meaning: 'A detection model\'s definition is refused: it does not parse, or names something the engine cannot run; `detail` (and `errors.definition`) says what and where.' },
  webhook_url_refused: { status: 400, meaning: 'A webhook URL is refused: not http or https, credentials in it, or its host does not resolve or resolves to a loopback, private, link-local or other internal address (unless WEBHOOK_ALLOW_PRIVATE is set).' },
  not_authenticated: { status: 401, meaning: 'No credentials were sent.' },
  invalid_token: { status: 401, meaning: 'The credentials sent are not valid: an expired, revoked or tampered token, a refresh token where an access token belongs (or the reverse), an unknown or revoked ingest key.' },
  login_failed: { status: 401, meaning: 'No active account has this username and password.' },
  permission_denied: { status: 403, meaning: 'The caller is known but may not do this (role, ingest key on a user route, registration disabled, another user\'s refresh token).' },
  not_found: { status: 404, meaning: 'No such route, record, or page of a list.' },
  request_timeout: { status: 408, meaning: 'The request (headers or body) did not arrive within the server\'s time limit.' },
  conflict: { status: 409, meaning: 'The request conflicts with stored data (a duplicate, the last admin, an alert that already exists).' },
  precondition_failed: { status: 412, meaning: 'Reserved: an If-Match precondition did not hold (the record changed since it was read).' },
  payload_too_large: { status: 413, meaning: 'The body is over the size limit, on the wire or once decompressed, or holds too many records.' },
  uri_too_long: { status: 414, meaning: 'The URL, or one path parameter, is over its length limit.' },
  unsupported_media_type: { status: 415, meaning: 'The Content-Type is not one the route accepts.' },
  unsupported_encoding: { status: 415, meaning: 'An ingestion request\'s Content-Encoding is not gzip, deflate or identity.' },
  rate_limited: { status: 429, meaning: 'Too many attempts (login); retry after the Retry-After seconds.' },
  too_many_streams: { status: 429, meaning: 'The caller already holds as many alert streams as one user may (ALERT_STREAMS_PER_USER), or this instance as many as it serves; close one, or retry after Retry-After.' },
  headers_too_large: { status: 431, meaning: 'The request headers are over the server\'s size limit.' },
  client_closed_request: { status: 499, meaning: 'The client left before its request was processed; nothing was done. Logged only: nobody receives it.' },
  internal_error: { status: 500, meaning: 'A fault in Vigil; the request id in X-Request-Id finds it in the log.' },
  database_unavailable: { status: 503, meaning: 'The database is down or too slow to answer; retry after Retry-After.' },
  transaction_conflict: { status: 503, meaning: 'The request collided with a concurrent one (serialization failure or deadlock); retry it.' },
  shutting_down: { status: 503, meaning: 'This instance is shutting down and takes no new requests; retry after Retry-After (behind a load balancer, another instance answers). Ingestion routes answer with their busy reply instead.' },
  ingest_busy: { status: 503, meaning: 'Every ingestion slot is taken, or the server is under memory or event-loop pressure; retry after Retry-After.' }
} as const satisfies Record<string, { status: number; meaning: string }>

export type ErrorCode = keyof typeof ERROR_CATALOGUE
export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[]

/** The status an error code always comes with. */
export const statusOf = (code: ErrorCode): number => ERROR_CATALOGUE[code].status

export const UNAUTHENTICATED = 'Authentication credentials were not provided.'
export const INVALID_TOKEN = 'Given token not valid for any token type'
export const FORBIDDEN = 'You do not have permission to perform this action.'
export const DB_UNAVAILABLE = 'The database is unavailable; retry later.'

/** An error Vigil answers on purpose; its status follows from its code. */
export class HttpError extends Error {
  readonly statusCode: number
  readonly fieldErrors?: Record<string, string[]>
  readonly headers?: Record<string, string>
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    opts: { errors?: Record<string, string[]>; headers?: Record<string, string> } = {}
  ) {
    super(detail)
    this.statusCode = statusOf(code)
    this.fieldErrors = opts.errors
    this.headers = opts.headers
  }
}

export const notFound = (detail = 'Not found.') => new HttpError('not_found', detail)
export const conflict = (detail: string, field?: string) =>
  new HttpError('conflict', detail, field ? { errors: { [field]: [detail] } } : {})
export const badRequest = (detail: string, field?: string) =>
  new HttpError('validation_failed', detail, field ? { errors: { [field]: [detail] } } : {})
/** A 400 for one bad query parameter, worded as schema validation words it. */
export const invalidQuery = (field: string, message: string) =>
  new HttpError('validation_failed', `Invalid query parameter '${field}': ${message}`, { errors: { [field]: [message] } })
export const forbidden = (detail = FORBIDDEN) => new HttpError('permission_denied', detail)

/** The 503 a client retries when the database does not answer. */
export const dbUnavailable = () => new HttpError('database_unavailable', DB_UNAVAILABLE, { headers: { 'retry-after': '5' } })

/** Drizzle wraps driver errors; the driver's error (with its SQLSTATE code) is the cause. */
export function driverError(
  err: unknown
): { code?: string; message?: string; constraint_name?: string; constraint?: string } | undefined {
  let e = err as { code?: unknown; cause?: unknown } | undefined
  for (let i = 0; i < 5 && e; i++) {
    if (typeof e.code === 'string') return e as { code: string }
    e = e.cause as typeof e
  }
  return undefined
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'DB_TIMEOUT',
  'ENOTFOUND',
  'EAI_AGAIN'
])

/**
 * Maps a database error to the HTTP error a client should see, or undefined when it is a bug.
 * Unavailability becomes a 503 (clients and shippers retry it); constraint violations that slip
 * past validation become 4xx rather than 500.
 */
export function classifyDbError(err: unknown): HttpError | undefined {
  const cause = driverError(err)
  const code = cause?.code
  if (!code) return undefined
  if (CONNECTION_CODES.has(code) || /^(08|53|57P)/.test(code) || code === '57014') {
    return dbUnavailable()
  }
  if (code === '40001' || code === '40P01') {
    return new HttpError('transaction_conflict', 'The request conflicted with another; retry it.', { headers: { 'retry-after': '1' } })
  }
  if (code === '23505') return new HttpError('conflict', 'A record with these values already exists.')
  if (code === '23503') return new HttpError('conflict', 'A referenced record does not exist or is still referenced.')
  if (/^22/.test(code)) return new HttpError('validation_failed', 'A value is invalid or out of range.')
  if (code === '23514' || code === '23502') return new HttpError('validation_failed', 'A value violates a constraint.')
  return undefined
}

/** True for a unique violation, optionally of one named constraint/index. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const cause = driverError(err)
  if (cause?.code !== '23505') return false
  if (!constraint) return true
  return (cause.constraint_name ?? cause.constraint) === constraint
}
