// Reading the served OpenAPI document in tests: its operations, the examples @fastify/swagger
// attached to media types, and an Ajv that checks values against the document's own schemas.
import AjvModule from 'ajv'
import addFormatsModule from 'ajv-formats'

// ajv and ajv-formats are CommonJS: their default export sits one level down under ESM.
const Ajv = AjvModule.default
const addFormats = addFormatsModule.default

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace']

export interface Media {
  schema?: object
  example?: unknown
  examples?: Record<string, { value: unknown }>
}

export interface Operation {
  tags?: string[]
  summary?: string
  description?: string
  security?: Record<string, string[]>[]
  'x-permission'?: string
  parameters?: { in: string; name: string }[]
  requestBody?: { content: Record<string, Media> }
  responses: Record<string, { content?: Record<string, Media> }>
}

/** The operations of a document as [METHOD, path, operation]. */
export function operations(doc: any): [string, string, Operation][] {
  const out: [string, string, Operation][] = []
  for (const [path, item] of Object.entries<Record<string, Operation>>(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (HTTP_METHODS.includes(method)) out.push([method.toUpperCase(), path, op])
    }
  }
  return out
}

/** The examples @fastify/swagger moved from a schema's `examples` onto its media type. */
export const examplesOf = (media: Media): unknown[] =>
  media.examples ? Object.values(media.examples).map((e) => e.value) : media.example !== undefined ? [media.example] : []

/** Ajv for the document's (OpenAPI 3.0) schemas: `nullable` is understood, unknown keywords ignored. */
export function schemaValidator() {
  const ajv = new Ajv({ strict: false, allErrors: true })
  addFormats(ajv)
  // The app's ISO 8601 format; any date Date.parse reads is close enough for examples.
  ajv.addFormat('iso-date', (s: string) => !Number.isNaN(Date.parse(s)))
  return ajv
}
