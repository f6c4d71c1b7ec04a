// One error handler and one JSON shape for every error: `{ code, detail, errors? }`. Client mistakes
// are 4xx with a clear detail, logged at info; anything else is logged with the request id and
// answered without internals.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { classifyDbError, HttpError, statusOf, type ErrorCode } from '../src/errors.js'
import type { ErrorBody } from '../src/schemas.js'

interface AjvError {
  instancePath: string
  keyword: string
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Ajv's params differ per keyword
  params: Record<string, any>
  message?: string
  data?: unknown
}

const CONTEXT_NAMES: Record<string, string> = {
  body: 'body field',
  querystring: 'query parameter',
  params: 'path parameter',
  headers: 'header'
}

function fieldName(e: AjvError): string {
  const path = e.instancePath.replace(/^\//, '').replace(/\//g, '.')
  if (e.keyword === 'required') return path ? `${path}.${String(e.params.missingProperty)}` : String(e.params.missingProperty)
  return path || 'non_field_errors'
}

/** Fields named in one reply at most: a body cannot make the reply (or its formatting) large. */
export const MAX_FIELD_ERRORS = 20
/** Characters of a refused value quoted back at most (the value may be a megabyte long). */
const MAX_QUOTED = 40

function quote(data: unknown): string {
  const text = JSON.stringify(data) ?? String(data)
  return text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}…` : text
}

function describe(e: AjvError): string {
  switch (e.keyword) {
    case 'required':
      return 'This field is required.'
    case 'enum':
      return `${quote(e.data)} is not a valid choice. Allowed values: ${(e.params.allowedValues as string[]).join(', ')}.`
    case 'type':
      return `Must be of type ${e.params.type}.`
    case 'maxLength':
      return `Ensure this field has no more than ${e.params.limit} characters.`
    case 'minLength':
      return e.params.limit === 1 ? 'This field may not be blank.' : `Ensure this field has at least ${e.params.limit} characters.`
    case 'maximum':
      return `Ensure this value is less than or equal to ${e.params.limit}.`
    case 'minimum':
      return `Ensure this value is greater than or equal to ${e.params.limit}.`
    case 'format':
      return `Must be a valid ${e.params.format}.`
    // A name refused rather than dropped (additionalProperties: Never, e.g. a webhook's filter).
    case 'not':
      return 'This field is not accepted here.'
    default:
      return e.message ? `${e.message.charAt(0).toUpperCase()}${e.message.slice(1)}.` : 'Invalid value.'
  }
}

export function validationBody(errors: AjvError[], context = 'body'): ErrorBody {
  const fields: Record<string, string[]> = {}
  let named = 0
  for (const e of errors) {
    // anyOf/oneOf wrap the member errors that were already reported; they add nothing a user can act on.
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf' || e.keyword === 'if') continue
    const name = fieldName(e)
    if (!Object.hasOwn(fields, name)) {
      if (named === MAX_FIELD_ERRORS) {
        fields.non_field_errors = [`More fields are invalid; the first ${MAX_FIELD_ERRORS} are listed.`]
        break
      }
      named++
    }
    const list = (fields[name] ??= [])
    const msg = describe(e)
    if (!list.includes(msg)) list.push(msg)
  }
  const [first] = Object.entries(fields)
  const where = CONTEXT_NAMES[context] ?? context
  const detail = first
    ? first[0] === 'non_field_errors'
      ? `Invalid ${context === 'body' ? 'request body' : where}: ${first[1][0]}`
      : `Invalid ${where} '${first[0]}': ${first[1][0]}`
    : 'Invalid request.'
  return { code: 'validation_failed', detail, errors: fields }
}

/** Fastify's own client errors (body parsing, content types), by their stable Fastify code. */
const FASTIFY_ERRORS: Record<string, { code: ErrorCode; detail: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'malformed_request', detail: 'Malformed JSON body.' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'empty_body', detail: 'The request body is empty but its content type is JSON.' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large', detail: 'The request body is too large.' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', detail: 'Unsupported content type.' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'malformed_request', detail: 'The Content-Length header does not match the body.' },
  FST_ERR_BAD_URL: { code: 'malformed_request', detail: 'The request URL is not valid (bad percent-encoding).' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'uri_too_long', detail: 'A path parameter is too long.' }
}

/** The code of a 4xx nobody named above, from its status alone. */
const BY_STATUS: Record<number, ErrorCode> = {
  400: 'malformed_request',
  401: 'not_authenticated',
  403: 'permission_denied',
  404: 'not_found',
  408: 'request_timeout',
  409: 'conflict',
  412: 'precondition_failed',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'rate_limited'
}

function clientError(err: FastifyError): { code: ErrorCode; detail: string } {
  const known = err.code ? FASTIFY_ERRORS[err.code] : undefined
  if (known) return known
  // The JSON parser's own SyntaxError (secure-json-parse: prototype poisoning, bad JSON).
  if (err instanceof SyntaxError) return { code: 'malformed_request', detail: 'Malformed JSON body.' }
  return { code: BY_STATUS[err.statusCode!] ?? 'malformed_request', detail: err.message }
}

export interface ErrorReply {
  status: number
  body: ErrorBody
  headers?: Record<string, string>
}

const reply = (code: ErrorCode, body: Omit<ErrorBody, 'code'>, headers?: Record<string, string>): ErrorReply => ({
  status: statusOf(code),
  body: { code, ...body },
  headers
})

/**
 * Turns any error into the status, `{code, detail, errors?}` body and headers Vigil answers with,
 * and logs it. Shared with the ingestion scopes, which dress the same answer in the Splunk HEC or
 * Elasticsearch error shape (and derive their own codes from `body.code`). The status always
 * follows from the code (src/errors.ts).
 */
export function errorReply(err: FastifyError, request: FastifyRequest): ErrorReply {
  if (err instanceof HttpError) {
    request.log.info({ statusCode: err.statusCode, code: err.code, detail: err.detail }, 'request refused')
    return reply(err.code, err.fieldErrors ? { detail: err.detail, errors: err.fieldErrors } : { detail: err.detail }, err.headers)
  }
  if (err.validation) {
    request.log.info({ validation: err.validationContext }, 'validation failed')
    return { status: 400, body: validationBody(err.validation, err.validationContext) }
  }
  const db = classifyDbError(err)
  if (db) {
    if (db.statusCode >= 500) request.log.warn({ err }, 'database unavailable')
    else request.log.info({ code: (err as { code?: unknown }).code }, 'database rejected a value')
    return reply(db.code, { detail: db.detail }, db.headers)
  }
  const status = err.statusCode ?? 500
  if (status >= 400 && status < 500) {
    request.log.info({ statusCode: status, code: err.code }, 'client error')
    const { code, detail } = clientError(err)
    return reply(code, { detail })
  }
  request.log.error({ err }, 'unhandled error')
  return reply('internal_error', { detail: 'Internal server error.' })
}

/**
 * Fastify's `frameworkErrors` option: errors met before routing (a URL that does not decode, an
 * over-long path parameter), which Fastify would otherwise answer with its own body shape.
 */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, rep: FastifyReply) {
  const { status, body, headers } = errorReply(err, request)
  if (headers) rep.headers(headers)
  rep.code(status).send(body)
}

async function errorsPlugin(app: FastifyInstance) {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const { status, body, headers } = errorReply(err, request)
    if (headers) reply.headers(headers)
    return reply.code(status).send(body)
  })

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ code: 'not_found', detail: 'Not found.' } satisfies ErrorBody)
  })
}

export default fp(errorsPlugin, { name: 'errors' })
