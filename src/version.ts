import { readFileSync } from 'node:fs'

/** Vigil's version, from package.json, reported by /health and the OpenAPI document. */
export const VERSION: string = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8')
).version
