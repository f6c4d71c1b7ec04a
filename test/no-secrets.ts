// Wraps inject() so every response a test sees is also checked for leaked secrets: no argon2
// hash, no password_hash field, and no "password" field in a successful body. (A 400 may name
// the `password` field in its per-field errors; that is a field name, not a secret.)
import type { FastifyInstance, InjectOptions } from 'fastify'
import { inject } from './helper.js'

interface Failer {
  fail(message: string): void
}

export function guardedInject(t: Failer, app: FastifyInstance) {
  return async (opts: InjectOptions) => {
    const res = await inject(app, opts)
    const text = res.raw.body
    const where = `${opts.method ?? 'GET'} ${JSON.stringify(opts.url)}`
    if (/\$argon2/i.test(text)) t.fail(`${where}: response contains an argon2 hash`)
    if (/password_?hash/i.test(text)) t.fail(`${where}: response names a password hash`)
    if (res.status < 400 && /"password"\s*:/.test(text)) t.fail(`${where}: successful response contains a password`)
    return res
  }
}
