// One error handler and one JSON shape for every error: `{ detail, errors? }`. Client mistakes
// are 4xx with a clear detail, logged at info; anything else is logged with the request id and
// answered without internals.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { classifyDbError, HttpError } from '../src/errors.js'
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

function describe(e: AjvError): string {
  switch (e.keyword) {
    case 'required':
      return 'This field is required.'
    case 'enum':
      return `${JSON.stringify(e.data)} is not a valid choice. Allowed values: ${(e.params.allowedValues as string[]).join(', ')}.`
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
    default:
      return e.message ? `${e.message.charAt(0).toUpperCase()}${e.message.slice(1)}.` : 'Invalid value.'
  }
}

export function validationBody(errors: AjvError[], context = 'body'): ErrorBody {
  const fields: Record<string, string[]> = {}
  for (const e of errors) {
    // anyOf/oneOf wrap the member errors that were already reported; they add nothing a user can act on.
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf' || e.keyword === 'if') continue
    const name = fieldName(e)
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
  return { detail, errors: fields }
}

function clientErrorDetail(err: FastifyError): string {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'Malformed JSON body.'
    case undefined:
      return err instanceof SyntaxError ? 'Malformed JSON body.' : err.message
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'The request body is empty but its content type is JSON.'
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'The request body is too large.'
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'Unsupported content type.'
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'The Content-Length header does not match the body.'
    default:
      return err.message
  }
}

export interface ErrorReply {
  status: number
  body: ErrorBody
  headers?: Record<string, string>
}

/**
 * Turns any error into the status, `{detail, errors?}` body and headers Vigil answers with, and
 * logs it. Shared with the ingestion scopes, which dress the same answer in the Splunk HEC or
 * Elasticsearch error shape.
 */
export function errorReply(err: FastifyError, request: FastifyRequest): ErrorReply {
  if (err instanceof HttpError) {
    const body: ErrorBody = { detail: err.detail }
    if (err.fieldErrors) body.errors = err.fieldErrors
    request.log.info({ statusCode: err.statusCode, detail: err.detail }, 'request refused')
    return { status: err.statusCode, body, headers: err.headers }
  }
  if (err.validation) {
    request.log.info({ validation: err.validationContext }, 'validation failed')
    return { status: 400, body: validationBody(err.validation, err.validationContext) }
  }
  const db = classifyDbError(err)
  if (db) {
    if (db.statusCode >= 500) request.log.warn({ err }, 'database unavailable')
    else request.log.info({ code: (err as { code?: unknown }).code }, 'database rejected a value')
    return { status: db.statusCode, body: { detail: db.detail }, headers: db.headers }
  }
  const status = err.statusCode ?? 500
  if (status >= 400 && status < 500) {
    request.log.info({ statusCode: status, code: err.code }, 'client error')
    return { status, body: { detail: clientErrorDetail(err) } }
  }
  request.log.error({ err }, 'unhandled error')
  return { status: status >= 500 && status < 600 ? status : 500, body: { detail: 'Internal server error.' } }
}

async function errorsPlugin(app: FastifyInstance) {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const { status, body, headers } = errorReply(err, request)
    if (headers) reply.headers(headers)
    return reply.code(status).send(body)
  })

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ detail: 'Not found.' })
  })
}

export default fp(errorsPlugin, { name: 'errors' })
