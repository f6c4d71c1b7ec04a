// TypeBox building blocks shared by route schemas. Schemas are composed in TypeScript rather than
// shared by $id, so every route's OpenAPI entry is self-contained and types infer without casts.
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { ALERT_STATUSES, EVENT_TYPES, INCIDENT_STATUSES, ROLES, SEVERITIES } from './db/schema.js'
import { ERROR_CODES, FORBIDDEN, UNAUTHENTICATED, type ErrorCode } from './errors.js'

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
export const RoleSchema = StringEnum(ROLES, { description: 'admin, analyst, responder or viewer' })
export const Source = Type.String({ minLength: 1, maxLength: MAX_SOURCE, pattern: '\\S', description: 'Where the event came from' })
export const Description = Type.String({ maxLength: MAX_DESCRIPTION })

/** Positive database id in a path: non-numeric, zero, negative or huge ids are a 400. */
export const IdParam = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Numeric id' })
export const IdParams = Type.Object({ id: IdParam })

/** An ISO 8601 date or date-time (checked by the `iso-date` format registered with Ajv). */
export const IsoDate = Type.String({ format: 'iso-date', maxLength: 64, description: 'ISO 8601 date or date-time' })

/**
 * An ISO 8601 date or date-time, or null. The description sits on the union, not on its string
 * member, so the OpenAPI document shows one nullable string rather than a bare anyOf.
 */
export const NullableIsoDate = (description: string) =>
  Type.Union([Type.String({ format: 'iso-date', maxLength: 64 }), Type.Null()], { description })

export const Timestamp = Type.String({ format: 'date-time' })

/** One detection a model made on an event (src/detection/types.ts Detection). */
export const DetectionSchema = Type.Object(
  {
    model_id: Type.Integer(),
    model_name: Type.String(),
    version: Type.String(),
    rule_id: Type.Union([Type.String(), Type.Null()], { description: "The rule's id (else its name, else its title); null for a learned baseline" }),
    title: Type.String(),
    level: Type.String({ description: 'informational, low, medium, high or critical' }),
    count: Type.Optional(Type.Integer({ description: 'Correlations: how many events made it fire' })),
    event_ids: Type.Optional(Type.Array(Type.Integer(), { description: 'Correlations: the events that made it fire (the first 100)' })),
    group: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'Correlations and baselines: the group it fired for' })),
    score: Type.Optional(Type.Number({ description: 'Baselines: standard deviations above the mean' })),
    observed: Type.Optional(Type.Integer({ description: "Baselines: the bucket's event count" })),
    baseline: Type.Optional(Type.Object({ mean: Type.Number(), stddev: Type.Number() }))
  },
  { title: 'Detection' }
)
export const Detections = Type.Union([Type.Array(DetectionSchema), Type.Null()], {
  description: 'What the detection models found (docs/detection.md); null when none matched'
})
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
  {
    title: 'Error',
    description: "Vigil's error body: branch on `code`, show `detail`",
    examples: [{ code: 'not_found', detail: 'Not found.' }]
  }
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

/** The plural of a record's title, for the docs ("Audit entry" -> "audit entries"). */
export const plural = (title: string) => (/[^aeiou]y$/.test(title) ? `${title.slice(0, -1)}ies` : `${title}s`).toLowerCase()

function page<T extends TSchema>(item: T) {
  const sample: unknown = Array.isArray(item.examples) ? item.examples[0] : undefined
  const title = typeof item.title === 'string' ? item.title : undefined
  return Type.Object(
    {
      count: Type.Integer({ description: 'Items matching the filters, over all pages: exact up to LIST_EXACT_COUNT_MAX, an estimate beyond' }),
      count_estimated: Type.Boolean({ description: 'true when `count` is the planner\'s estimate rather than an exact count' }),
      next: Type.Union([Type.String(), Type.Null()], { description: 'Full URL of the next page, or null' }),
      previous: Type.Union([Type.String(), Type.Null()], { description: 'Full URL of the previous page, or null' }),
      results: Type.Array(item)
    },
    {
      ...(title ? { title: `Page of ${plural(title)}`, description: `A page of ${plural(title)}` } : {}),
      ...(sample === undefined ? {} : { examples: [{ count: 1, count_estimated: false, next: null, previous: null, results: [sample] }] })
    }
  )
}

/**
 * What each error status means, for the docs, with an example body that fits it. The docs plugin
 * (plugins/swagger.ts) words 401, 403 and 404 for each route (the credentials it takes, the
 * permission it needs, the record it names); a route words any status its own way with `errors`.
 */
export const ERROR_STATUS_DOCS: Record<number, { description: string; example: ErrorBody }> = {
  400: {
    description: 'Invalid request: a parameter or body field is not valid (`errors` lists the messages per field)',
    example: {
      code: 'validation_failed',
      detail: 'Invalid body field \'severity\': "Extreme" is not a valid choice. Allowed values: Low, Medium, High, Critical.',
      errors: { severity: ['"Extreme" is not a valid choice. Allowed values: Low, Medium, High, Critical.'] }
    }
  },
  401: {
    description: 'Not authenticated: no credentials, or an expired, revoked or invalid token',
    example: { code: 'not_authenticated', detail: UNAUTHENTICATED }
  },
  403: { description: 'Your role may not do this', example: { code: 'permission_denied', detail: FORBIDDEN } },
  404: { description: 'Not found', example: { code: 'not_found', detail: 'Not found.' } },
  409: {
    description: 'Conflicts with what is stored (a duplicate)',
    example: { code: 'conflict', detail: 'A record with these values already exists.' }
  },
  413: {
    description: 'The request body is larger than the limit (BODY_LIMIT)',
    example: { code: 'payload_too_large', detail: 'The request body is too large.' }
  },
  415: {
    description: 'Unsupported Content-Type: send application/json',
    example: { code: 'unsupported_media_type', detail: 'Unsupported content type.' }
  },
  429: {
    description: 'Too many attempts: retry after the Retry-After seconds',
    example: { code: 'rate_limited', detail: 'Too many attempts; retry later.' }
  },
  503: {
    description: 'Vigil or its database is busy or unavailable: retry after the Retry-After seconds',
    example: { code: 'database_unavailable', detail: 'The database is unavailable; retry later.' }
  }
}

/** A route's own wording of an error status, optionally with the code and detail it answers. */
export type ErrorDoc = string | { description: string; code?: ErrorCode; detail?: string; errors?: Record<string, string[]> }

type ErrorSchema = typeof ErrorResponse
// One schema object per status and wording, shared by every app a process builds, so each is
// compiled once (src/compilers.ts).
const errorSchemas = new Map<string, ErrorSchema>()

function errorSchema(status: number, doc?: ErrorDoc): ErrorSchema {
  const key = `${status} ${JSON.stringify(doc ?? null)}`
  const known = errorSchemas.get(key)
  if (known) return known
  const standard = ERROR_STATUS_DOCS[status]
  const own = typeof doc === 'string' ? { description: doc } : doc
  const example: ErrorBody | undefined = own?.code
    ? { code: own.code, detail: own.detail ?? standard?.example.detail ?? '', ...(own.errors ? { errors: own.errors } : {}) }
    : own?.detail && standard
      ? { ...standard.example, detail: own.detail, ...(own.errors ? { errors: own.errors } : {}) }
      : standard?.example
  const made = {
    ...ErrorResponse,
    ...(example ? { examples: [example] } : {}),
    // The response's description in the OpenAPI document (@fastify/swagger's key for it).
    ...(own ? { 'x-response-description': own.description } : {})
  } as ErrorSchema
  errorSchemas.set(key, made)
  return made
}

/**
 * Standard error responses, spread into a route's `response` next to its success codes: each status
 * documented with its own meaning and a fitting example. Numbers take the standard wording; an
 * object words statuses for this route, e.g. `errors(400, 401, 403, { 404: 'No such event' })`.
 */
export function errors(...specs: (number | Record<number, ErrorDoc>)[]): Record<number, ErrorSchema> {
  const out: Record<number, ErrorSchema> = {}
  for (const spec of specs) {
    if (typeof spec === 'number') out[spec] = errorSchema(spec)
    else for (const [status, doc] of Object.entries(spec)) out[Number(status)] = errorSchema(Number(status), doc)
  }
  return out
}

/**
 * `schema` with its own description of the response it is sent as, for the docs (a copy, made
 * once per schema and wording so it compiles once).
 */
export function described<T extends TSchema>(schema: T, description: string): T {
  let byText = describedSchemas.get(schema)
  if (!byText) {
    byText = new Map<string, TSchema>()
    describedSchemas.set(schema, byText)
  }
  let made = byText.get(description)
  if (!made) {
    made = { ...schema, 'x-response-description': description }
    byText.set(description, made)
  }
  return made as T
}
const describedSchemas = new WeakMap<TSchema, Map<string, TSchema>>()

/** A request example for the docs: what it does, and a note when it names records to replace. */
export interface NamedExample {
  summary: string
  description?: string
  value: unknown
}

/**
 * Named request examples (OpenAPI `examples`), which the docs page offers in a list with their
 * summaries. Examples that name records (an alert id, a user) say so: a fresh database has none.
 */
export const namedExamples = (examples: Record<string, NamedExample>) => ({ 'x-examples': examples })

/** The key of a raw body's per-content-type documentation (read by plugins/swagger.ts). */
export const MEDIA_DOCS = 'x-vigil-media'

/** How one content type of a raw body is documented: its example, which the docs page sends as shown. */
export interface MediaDoc {
  /** The body text (NDJSON, concatenated objects), or a JSON value for a JSON content type. */
  example: string | object
  description?: string
}

/**
 * A body read as raw bytes (the ingestion routes): not validated by Ajv (src/ingest parses and
 * checks every record), documented per content type, the first being the docs page's default.
 */
export const RawBody = (description: string, media: Record<string, MediaDoc>) =>
  Type.Unsafe<Buffer | undefined>({ description, [MEDIA_DOCS]: media })
