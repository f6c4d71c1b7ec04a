// Errors Vigil raises on purpose, and the translation of database failures into HTTP answers.

export class HttpError extends Error {
  constructor(
    public statusCode: number,
    public detail: string,
    public fieldErrors?: Record<string, string[]>,
    public headers?: Record<string, string>
  ) {
    super(detail)
  }
}

export const notFound = (detail = 'Not found.') => new HttpError(404, detail)
export const conflict = (detail: string, field?: string) =>
  new HttpError(409, detail, field ? { [field]: [detail] } : undefined)
export const badRequest = (detail: string, field?: string) =>
  new HttpError(400, detail, field ? { [field]: [detail] } : undefined)

export const UNAUTHENTICATED = 'Authentication credentials were not provided.'
export const INVALID_TOKEN = 'Given token not valid for any token type'
export const FORBIDDEN = 'You do not have permission to perform this action.'
export const DB_UNAVAILABLE = 'The database is unavailable; retry later.'

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
    return new HttpError(503, DB_UNAVAILABLE, undefined, { 'retry-after': '5' })
  }
  if (code === '40001' || code === '40P01') {
    return new HttpError(503, 'The request conflicted with another; retry it.', undefined, { 'retry-after': '1' })
  }
  if (code === '23505') return new HttpError(409, 'A record with these values already exists.')
  if (code === '23503') return new HttpError(409, 'A referenced record does not exist or is still referenced.')
  if (/^22/.test(code)) return new HttpError(400, 'A value is invalid or out of range.')
  if (code === '23514' || code === '23502') return new HttpError(400, 'A value violates a constraint.')
  return undefined
}

/** True for a unique violation, optionally of one named constraint/index. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const cause = driverError(err)
  if (cause?.code !== '23505') return false
  if (!constraint) return true
  return (cause.constraint_name ?? cause.constraint) === constraint
}
