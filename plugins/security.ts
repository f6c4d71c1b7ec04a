// Transport-level protections: security headers, CORS only for an allow-list, and limits on URL
// length and JSON nesting that apply to every route. Login rate limits: plugins/login-limit.ts.
import type { IncomingMessage, ServerResponse } from 'node:http'
import fastifyCors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'
import { HttpError } from '../src/errors.js'

/** Longest request target (path and query string) accepted. */
export const MAX_URL_LENGTH = 8 * 1024
/** Deepest JSON body accepted: far beyond any legitimate request, far below what hurts. */
export const MAX_JSON_DEPTH = 32

/** Depth of a parsed JSON value, computed without recursion so hostile input cannot blow the stack. */
export function jsonDepth(value: unknown, limit: number): number {
  let max = 0
  const stack: [unknown, number][] = [[value, 1]]
  while (stack.length > 0) {
    const [v, d] = stack.pop()!
    if (v === null || typeof v !== 'object') continue
    if (d > max) max = d
    if (max > limit) return max
    for (const child of Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, d + 1])
  }
  return max
}

/**
 * The one policy, for the API and the docs UI alike (the UI needs its own scripts and styles, all
 * served as files: no inline script or style is allowed; everything else is JSON). Two headers
 * only on requests that came over HTTPS (directly, or through a proxy trusted with TRUST_PROXY):
 * - `upgrade-insecure-requests`: sent over plain HTTP to any address but loopback, it makes the
 *   browser ask for the docs' files over https, which fails, and the page stays blank;
 * - Cross-Origin-Opener-Policy: browsers ignore it on an origin that is not potentially
 *   trustworthy (plain HTTP but to loopback) and log an error on every page load saying so.
 */
const helmetOptions = (https: boolean): HelmetOptions => ({
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      frameAncestors: ["'none'"],
      upgradeInsecureRequests: https ? [] : null
    }
  },
  crossOriginOpenerPolicy: https ? { policy: 'same-origin' } : false,
  crossOriginEmbedderPolicy: false
})

/**
 * helmet's security headers for our options, computed once. They depend on nothing in the
 * request (no CSP nonces), and @fastify/helmet rebuilds them on every request: on the single-event
 * hot path that was 5 % of Vigil's CPU.
 */
function securityHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const res = {
    setHeader: (name: string, value: unknown) => void (headers[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => void delete headers[name.toLowerCase()]
  }
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, () => {})
  return headers
}

async function securityPlugin(app: FastifyInstance) {
  const { config } = app

  const plain = securityHeaders(helmetOptions(false))
  const secure = securityHeaders(helmetOptions(true))
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(request.protocol === 'https' ? secure : plain)
    done()
  })

  const origins = config.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean)
  if (origins.length > 0) {
    await app.register(fastifyCors, {
      origin: origins,
      credentials: false,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'x-api-key'],
      exposedHeaders: ['x-request-id', 'retry-after'],
      maxAge: 600
    })
  }

  app.addHook('onRequest', (request, _reply, done) => {
    done(request.url.length > MAX_URL_LENGTH ? new HttpError('uri_too_long', 'The request URL is too long.') : undefined)
  })
  app.addHook('preValidation', (request, _reply, done) => {
    done(bodyTooDeep(request.body))
  })
}

function bodyTooDeep(body: unknown): HttpError | undefined {
  // The ingestion routes' body is raw bytes (a Buffer), not parsed JSON. Walking it would make
  // Object.values() build an array of one number per byte: 8 bytes of heap per byte of body,
  // 110 MB for a 13 MB gzip body, for nothing.
  if (body === null || typeof body !== 'object' || Buffer.isBuffer(body)) return undefined
  if (jsonDepth(body, MAX_JSON_DEPTH) <= MAX_JSON_DEPTH) return undefined
  return new HttpError('malformed_request', `The JSON body is nested more than ${MAX_JSON_DEPTH} levels deep.`)
}

export default fp(securityPlugin, { name: 'security', dependencies: ['config'] })
