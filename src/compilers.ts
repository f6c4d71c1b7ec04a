// The validator and serializer compilers every app uses, each schema compiled once per process.
//
// Compiling is most of what building an app costs (Ajv for every route's validators,
// fast-json-stringify for every response shape), and the route schemas are module-level TypeBox
// objects, the same objects in every app a process builds (the suite builds dozens). Compiled
// functions are kept per schema object: a schema built afresh for each app is compiled again, as
// before. Nothing is registered with addSchema, so a schema's compiled form depends on the schema
// alone, whichever app asks.
import AjvModule, { type Options as AjvOptions, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify'
import fastJsonStringify from 'fast-json-stringify'
import { boundArrays } from './validation.js'

// ajv and ajv-formats are CommonJS: their default export sits one level down under ESM.
const Ajv = AjvModule.default
const addFormats = addFormatsModule.default

function makeAjv(opts: AjvOptions) {
  const ajv = new Ajv({
    removeAdditional: true,
    useDefaults: true,
    // Bounded by src/validation.ts (boundArrays) and plugins/errors.ts (MAX_FIELD_ERRORS).
    allErrors: true,
    verbose: true,
    strict: false,
    ...opts
  })
  addFormats(ajv)
  // ISO 8601 date or date-time, as DRF filters accept.
  ajv.addFormat('iso-date', {
    type: 'string',
    validate: (s: string) => /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}(:?\d{2})?)?)?$/.test(s) && !Number.isNaN(Date.parse(s))
  })
  return ajv
}

// Query strings and path params arrive as text and are coerced to the schema's types; bodies
// are JSON and must carry the right types already ("5" is not a number, an object is not a string).
const coercing = makeAjv({ coerceTypes: 'array' })
const strict = makeAjv({ coerceTypes: false })
const bodyValidators = new WeakMap<object, ValidateFunction>()
const otherValidators = new WeakMap<object, ValidateFunction>()

/** allErrors, bounded: see src/validation.ts. */
export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const body = httpPart === 'body'
  const cache = body ? bodyValidators : otherValidators
  let validate = cache.get(schema as object)
  if (!validate) {
    validate = (body ? strict : coercing).compile(boundArrays(schema as object))
    cache.set(schema as object, validate)
  }
  return validate
}

type Serialize = (data: unknown) => string
const serializers = new WeakMap<object, Serialize>()

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isNullType = (v: unknown) => isObject(v) && v.type === 'null' && Object.keys(v).every((k) => k === 'type' || k === 'description' || k === 'title')

/**
 * A response schema as the serializer compiles it: each `anyOf` of one schema and null (TypeBox's
 * Union with Null, which the OpenAPI document shows as that schema, nullable) becomes that schema
 * with `nullable: true`, which fast-json-stringify writes with one null check. For an anyOf it asks
 * Ajv, for every value, which branch the value matches: for an alert, nine such fields, one of them
 * the detections array (every object in it validated again), for each row of a page. The JSON
 * written is the same. The schema itself (validation, the document) is left as it is.
 */
export function serializedForm(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(serializedForm)
  if (!isObject(schema)) return schema
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(schema)) out[k] = serializedForm(v)
  const { anyOf, ...siblings } = out
  if (Array.isArray(anyOf) && anyOf.length === 2 && anyOf.some(isNullType)) {
    const other: unknown = (anyOf as unknown[]).find((b) => !isNullType(b))
    if (isObject(other) && other.anyOf === undefined && other.oneOf === undefined && other.$ref === undefined) {
      return { ...other, ...siblings, nullable: true }
    }
  }
  return out
}

/** fast-json-stringify, as Fastify's default compiler uses it (no shared schemas, default options), on each schema's serializedForm. */
export const serializerCompiler: FastifySerializerCompiler<unknown> = ({ schema }) => {
  let serialize = serializers.get(schema as object)
  if (!serialize) {
    serialize = fastJsonStringify(serializedForm(schema) as object) as Serialize
    serializers.set(schema as object, serialize)
  }
  return serialize
}
