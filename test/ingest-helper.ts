// Replays requests captured from real, unmodified log shippers (test/fixtures/shippers/*.jsonl)
// against the app: same method, headers and body, with the shipper's credential swapped for a
// real ingest key in the same form, and bodies that were gzip on the wire gzipped again.
import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { count, eq } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { alerts, events } from '../src/db/schema.js'
import { inject, type TestUser } from './helper.js'

export interface Capture {
  method: string
  url: string
  headers: Record<string, string>
  body: string
  rawLen: number
  content_encoding: string | null
}

const FIXTURES = new URL('./fixtures/shippers/', import.meta.url)

export function loadCaptures(name: string): Capture[] {
  return readFileSync(new URL(`${name}.jsonl`, FIXTURES), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Capture)
}

/** The capture server's own paths stand for Vigil's native bulk endpoint. */
function targetUrl(url: string): string {
  return url.startsWith('/_') || url.startsWith('/services/') || /^\/[^/]+\/_/.test(url) ? url : '/api/events/bulk'
}

const b64 = (s: string) => Buffer.from(s).toString('base64')

/** The capture's headers with every credential replaced by `key`, in the same form. */
export function withKey(headers: Record<string, string>, key: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (name === 'content-length' || name === 'connection') continue
    if (name === 'x-api-key') out[name] = key
    else if (name === 'authorization') {
      const [scheme, cred] = value.split(' ')
      if (/^basic$/i.test(scheme)) {
        const user = Buffer.from(cred, 'base64').toString().split(':')[0]
        out[name] = `Basic ${b64(`${user}:${key}`)}`
      } else if (/^apikey$/i.test(scheme)) {
        const id = Buffer.from(cred, 'base64').toString().split(':')[0]
        out[name] = `ApiKey ${b64(`${id}:${key}`)}`
      } else out[name] = `${scheme} ${key}`
    } else out[name] = value
  }
  return out
}

export function captureBody(c: Capture): Buffer {
  const body = Buffer.from(c.body)
  return c.content_encoding === 'gzip' ? gzipSync(body) : body
}

export function replay(app: FastifyInstance, c: Capture, key: string) {
  return inject(app, { method: c.method as 'POST', url: targetUrl(c.url), headers: withKey(c.headers, key), payload: captureBody(c) })
}

export async function makeIngestKey(app: FastifyInstance, admin: TestUser, defaults: Record<string, unknown> = {}) {
  const r = await inject(app, { method: 'POST', url: '/api/ingest-keys/', headers: admin.auth, payload: { name: 'shipper', defaults } })
  if (r.status !== 201) throw new Error(`ingest key not created: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body as { id: number; key: string; prefix: string }
}

export async function countEvents(app: FastifyInstance): Promise<number> {
  const [{ n }] = await app.db.select({ n: count() }).from(events)
  return n
}

export async function countAlerts(app: FastifyInstance): Promise<number> {
  const [{ n }] = await app.db.select({ n: count() }).from(alerts)
  return n
}

export async function eventByExternalId(app: FastifyInstance, externalId: string) {
  const rows = await app.db.select().from(events).where(eq(events.externalId, externalId))
  return rows
}
