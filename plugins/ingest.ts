// The ingestion scope: registered once, in the encapsulated context that holds the native bulk,
// Splunk HEC and Elasticsearch routes, so none of this reaches the JSON API. It
// - accepts any content type as raw bytes, up to INGEST_MAX_BODY_BYTES (413 beyond);
// - applies back-pressure: @fastify/under-pressure (event-loop lag) and a gate on concurrent
//   ingest requests tied to the database pool, both answering 503 + Retry-After, which every
//   shipper retries (never 429: the Elasticsearch client gives up on it);
// - runs the hot path (src/ingest) with the caller's ingest-key defaults and the configured limits.
import { getHeapStatistics } from 'node:v8'
import underPressure from '@fastify/under-pressure'
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { HttpError } from '../src/errors.js'
import { BodyError } from '../src/ingest/decode.js'
import type { Format } from '../src/ingest/formats.js'
import { IngestGate } from '../src/ingest/gate.js'
import { ingestBody, type IngestResult } from '../src/ingest/ingest.js'
import { keyDefaults } from '../src/ingest/map.js'
import { LAST_USED_RESOLUTION_S, touchIngestKey } from '../src/services/ingest-keys.js'
import { errorReply, type ErrorReply } from './errors.js'

/** Seconds a shipper is asked to wait before retrying a request refused for load. */
export const RETRY_AFTER_S = 2

/** A refusal of the whole request, with what went wrong for replies that carry their own codes. */
export class IngestRefused extends HttpError {
  constructor(
    statusCode: number,
    detail: string,
    readonly reason: BodyError['reason'] | 'busy',
    headers?: Record<string, string>
  ) {
    super(statusCode, detail, undefined, headers)
  }
}

const busy = (why: string) =>
  new IngestRefused(503, `Vigil is ${why}; retry later.`, 'busy', { 'retry-after': String(RETRY_AFTER_S) })

interface Ticket {
  /** True while the handler writes to the database: the slot stays taken even if the client leaves. */
  working: boolean
  aborted: boolean
  release(): void
}

declare module 'fastify' {
  interface FastifyInstance {
    ingestGate: IngestGate
    /** onRequest hook for the routes that ingest: takes a slot, or refuses with 503 + Retry-After. */
    ingestSlot: (request: FastifyRequest) => Promise<void>
    /** Ingests the request body in `format`, with the caller's ingest-key defaults and the limits. */
    ingest(request: FastifyRequest, format: Format, opts?: { index?: string }): Promise<IngestResult>
  }
  interface FastifyRequest {
    ingestTicket: Ticket | null
  }
}

/** errorReply, with the ingestion-specific wording of a body over the size limit. */
export function ingestErrorReply(err: FastifyError, request: FastifyRequest, maxBodyBytes: number): ErrorReply {
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    const refused = new IngestRefused(413, `The request body is larger than ${maxBodyBytes} bytes.`, 'too_large')
    return errorReply(refused as unknown as FastifyError, request)
  }
  return errorReply(err, request)
}

async function ingestPlugin(app: FastifyInstance) {
  const { config } = app
  const maxConcurrency = config.INGEST_MAX_CONCURRENCY || Math.max(1, config.DB_POOL_MAX - 2)
  const gate = new IngestGate(maxConcurrency, config.INGEST_QUEUE_TIMEOUT_MS)
  app.decorate('ingestGate', gate)
  app.decorateRequest('ingestTicket', null)

  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: config.INGEST_MAX_BODY_BYTES }, (_request, body, done) => {
    done(null, body)
  })

  // Scoped to ingestion. When the app already runs under-pressure globally (its checks then cover
  // these routes too), a second instance would clash with its decorators.
  if (config.INGEST_MAX_EVENT_LOOP_DELAY_MS > 0 && !app.hasDecorator('isUnderPressure')) {
    await app.register(underPressure, {
      maxEventLoopDelay: config.INGEST_MAX_EVENT_LOOP_DELAY_MS,
      // Near the V8 heap limit (npm start sets one), new ingestion waits instead of risking the
      // process running out of memory with other requests' data in flight.
      maxHeapUsedBytes: Math.floor(getHeapStatistics().heap_size_limit * 0.9),
      retryAfter: RETRY_AFTER_S,
      pressureHandler: async (_request, _reply, type) => {
        throw busy(type === 'heapUsedBytes' ? 'overloaded (memory)' : 'overloaded (event loop delayed)')
      }
    })
  }

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { status, body, headers } = ingestErrorReply(err, request, config.INGEST_MAX_BODY_BYTES)
    if (headers) reply.headers(headers)
    return reply.code(status).send(body)
  })

  app.decorate('ingestSlot', async (request: FastifyRequest) => {
    if (!(await gate.acquire())) throw busy('busy ingesting')
    if (request.raw.destroyed) {
      // The client left while waiting for the slot: hand it on at once.
      gate.release()
      throw busy('busy ingesting')
    }
    let released = false
    request.ingestTicket = {
      working: false,
      aborted: false,
      release() {
        if (released) return
        released = true
        gate.release()
      }
    }
  })
  app.addHook('onResponse', async (request) => {
    request.ingestTicket?.release()
  })
  app.addHook('onRequestAbort', async (request) => {
    const ticket = request.ingestTicket
    if (!ticket) return
    ticket.aborted = true
    if (!ticket.working) ticket.release()
  })

  // last_used_at is informative: written at most once a minute per key and process.
  const touched = new Map<number, number>()
  async function touch(keyId: number) {
    const now = Date.now()
    if (now - (touched.get(keyId) ?? 0) < LAST_USED_RESOLUTION_S * 1000) return
    touched.set(keyId, now)
    await touchIngestKey(app.db, keyId)
  }

  app.decorate('ingest', async (request: FastifyRequest, format: Format, opts: { index?: string } = {}) => {
    const ticket = request.ingestTicket
    if (ticket) ticket.working = true
    try {
      const principal = request.principal
      if (principal?.kind === 'ingest-key') await touch(principal.id)
      const encoding = request.headers['content-encoding']
      return await ingestBody(app.database, Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0), {
        format,
        index: opts.index,
        contentEncoding: Array.isArray(encoding) ? encoding.join(',') : encoding,
        defaults: principal?.kind === 'ingest-key' ? keyDefaults(principal.defaults) : {},
        maxAttributesBytes: config.INGEST_MAX_ATTRIBUTES_BYTES,
        maxDecompressedBytes: config.INGEST_MAX_DECOMPRESSED_BYTES,
        maxRecords: config.INGEST_MAX_RECORDS,
        batchSize: config.INGEST_BATCH_SIZE
      })
    } catch (err) {
      if (err instanceof BodyError) throw new IngestRefused(err.status, err.detail, err.reason)
      throw err
    } finally {
      if (ticket) {
        ticket.working = false
        if (ticket.aborted) ticket.release()
      }
    }
  })
}

export default fp(ingestPlugin, { name: 'ingest', dependencies: ['config', 'db', 'auth', 'errors'] })
