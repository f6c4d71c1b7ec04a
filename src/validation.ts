// Bounds on what Ajv does with a hostile body.
//
// Vigil compiles its validators with `allErrors: true` so that a client gets a message for every
// field it got wrong, as the Django original answers, not just the first. Fastify dropped
// allErrors from its defaults because it lets one request make Ajv collect one error per value
// in the body: a 1 MiB body holding `alert_ids: ["x", "x", ...]` gave 200,000 errors, 0.7 s of Ajv,
// ~9 s of formatting and a 9 MB reply. We keep allErrors and bound it instead:
// - bodies are capped (BODY_LIMIT) and objects drop unknown properties without an error
//   (`removeAdditional`), so only arrays can hold many checked values; every body array declares
//   `maxItems` (test/openapi.test.ts checks it), and `boundArrays` below makes Ajv check the items of
//   an array only when the array is within its `maxItems`: an over-long array is one error;
// - the reply lists at most MAX_FIELD_ERRORS fields and quotes at most a few dozen characters of
//   a bad value (plugins/errors.ts).
// The ingestion routes take raw bytes and are not validated by Ajv at all.

type Schema = Record<string, unknown>

/** Keywords that apply to each item: evaluated only once the array's length is within bounds. */
const ITEM_KEYWORDS = ['items', 'prefixItems', 'additionalItems', 'contains', 'uniqueItems'] as const
/** Keywords whose values are data, not schemas: never rewritten. */
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'examples', 'example'])

const isObject = (v: unknown): v is Schema => v !== null && typeof v === 'object' && !Array.isArray(v)

/**
 * A copy of `schema` in which every array with `maxItems` checks its items only when it has at
 * most `maxItems` of them (`if: {maxItems}, then: {items...}`). Valid input validates exactly as
 * before; an over-long array reports its length alone.
 */
export function boundArrays<T>(schema: T): T {
  return rewrite(schema) as T
}

function rewrite(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewrite)
  if (!isObject(node)) return node
  const out: Schema = {}
  for (const [key, value] of Object.entries(node)) out[key] = DATA_KEYWORDS.has(key) ? value : rewrite(value)
  if (typeof out.maxItems === 'number' && ITEM_KEYWORDS.some((k) => k in out) && !('if' in out)) {
    const then: Schema = {}
    for (const k of ITEM_KEYWORDS) {
      if (k in out) {
        then[k] = out[k]
        delete out[k]
      }
    }
    out.if = { maxItems: out.maxItems }
    out.then = then
  }
  return out
}
