// TypeBox building blocks shared by route schemas. Schemas are composed in TypeScript rather than
// shared by $id, so every route's OpenAPI entry is self-contained and types infer without casts.
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { ALERT_STATUSES, EVENT_TYPES, INCIDENT_STATUSES, ROLES, SEVERITIES } from './db/schema.js'
import { ERROR_CODES } from './errors.js'

/**
 * A string enum as a plain JSON-schema `enum`: one clear validation error ("must be one of ...")
 * instead of the anyOf cascade a union of literals produces.
 */
export const StringEnum = <T extends readonly string[]>(values: T, opts: Record<string, unknown> = {}) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...opts })

// The domain's enums and limits, in one place for every route schema and the ingest mapping. The
// value lists themselves live with the tables (src/db/schema.ts), which need them for their enums.

/** Longest description of an event or an incident; the ingest mapping shortens longer ones to fit. */
export const MAX_DESCRIPTION = 10_000
/** Longest event source (the column's length). */
export const MAX_SOURCE = 255

export const Severity = StringEnum(SEVERITIES, { description: 'Low, Medium, High or Critical' })
export const EventTypeSchema = StringEnum(EVENT_TYPES, { description: 'intrusion, malware or anomaly' })
export const AlertStatus = StringEnum(ALERT_STATUSES, { description: 'Open, Acknowledged or Resolved' })
export const IncidentStatus = StringEnum(INCIDENT_STATUSES, {
  description: 'Open, Investigating, Contained, Resolved or Closed'
})
export const RoleSchema = StringEnum(ROLES, { description: 'admin, analyst or viewer' })
export const Source = Type.String({ minLength: 1, maxLength: MAX_SOURCE, pattern: '\\S', description: 'Where the event came from' })
export const Description = Type.String({ maxLength: MAX_DESCRIPTION })

/** Positive database id in a path: non-numeric, zero, negative or huge ids are a 400. */
export const IdParam = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Numeric id' })
export const IdParams = Type.Object({ id: IdParam })

/** An ISO 8601 date or date-time (checked by the `iso-date` format registered with Ajv). */
export const IsoDate = Type.String({ format: 'iso-date', maxLength: 64, description: 'ISO 8601 date or date-time' })

export const Timestamp = Type.String({ format: 'date-time' })
export const NullableTimestamp = Type.Union([Type.String({ format: 'date-time' }), Type.Null()])

/** Vigil's stable error codes (src/errors.ts), as a string enum in the OpenAPI document. */
export const ErrorCodeSchema = StringEnum(ERROR_CODES, {
  description: 'Stable, machine-readable error code (listed in the README); branch on this, not on `detail`'
})

export const ErrorResponse = Type.Object(
  {
    code: ErrorCodeSchema,
    detail: Type.String({ description: 'Human-readable explanation; its wording may change' }),
    errors: Type.Optional(
      Type.Record(Type.String(), Type.Array(Type.String()), { description: 'Messages per field' })
    )
  },
  { description: 'Every error has this shape', examples: [{ code: 'not_found', detail: 'Not found.' }] }
)
export type ErrorBody = Static<typeof ErrorResponse>

export const PageQuery = {
  page: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Page number, from 1 (OFFSET paging, for the Django original\'s clients); without it, pages are walked by `cursor`' })
  ),
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$', description: 'Opaque position from a `next` or `previous` link: rows arriving meanwhile never shift a page' })
  ),
  page_size: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Items per page (1 to 100)' })
  )
}

/**
 * The list envelope REST clients of the Django original expect. Its documented example is a
 * one-item page built from the item schema's first example, so lists are documented like the rest.
 */
export const Page = <T extends TSchema>(item: T) => {
  // One envelope per item schema, so every app compiles it once (src/compilers.ts).
  const known = pages.get(item)
  if (known) return known as ReturnType<typeof page<T>>
  const made = page(item)
  pages.set(item, made)
  return made
}

const pages = new WeakMap<TSchema, TSchema>()

function page<T extends TSchema>(item: T) {
  const sample: unknown = Array.isArray(item.examples) ? item.examples[0] : undefined
  return Type.Object(
    {
      count: Type.Integer({ description: 'Items matching the filters, over all pages: exact up to LIST_EXACT_COUNT_MAX, an estimate beyond' }),
      count_estimated: Type.Boolean({ description: 'true when `count` is the planner\'s estimate rather than an exact count' }),
      next: Type.Union([Type.String(), Type.Null()], { description: 'Full URL of the next page, or null' }),
      previous: Type.Union([Type.String(), Type.Null()], { description: 'Full URL of the previous page, or null' }),
      results: Type.Array(item)
    },
    sample === undefined ? {} : { examples: [{ count: 1, count_estimated: false, next: null, previous: null, results: [sample] }] }
  )
}

/** Standard error responses, spread into a route's `response` next to its success codes. */
export const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ErrorResponse]))
