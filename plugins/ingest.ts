// The ingestion scope: registered once, in the encapsulated context that holds the native bulk,
// Splunk HEC and Elasticsearch routes, so none of this reaches the JSON API. It
// - accepts any content type as raw bytes, up to INGEST_MAX_BODY_BYTES (413 beyond);
// - applies back-pressure: @fastify/under-pressure (event-loop lag) and a gate on concurrent
//   ingest requests tied to the database pool, both answering 503 + Retry-After, which the
//   shippers of the native and HEC endpoints retry (never a whole-request 429: the Elasticsearch
//   client gives up on it). A route that answers "busy" in its body instead (Elasticsearch
//   _bulk: 200 with 429 items, see routes/elastic) sets `config.busyInBody` and finds the
//   refusal in request.ingestBusy;
// - runs the hot path (src/ingest) with the caller's ingest-key defaults and the configured limits;
// - counts what it stores and what it refuses for load (app.metrics, plugins/metrics.ts).
import { getHeapStatistics } from 'node:v8'
import underPressure from '@fastify/under-pressure'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { HttpError, type ErrorCode } from '../src/errors.js'
import { BodyError } from '../src/ingest/decode.js'
import type { Format } from '../src/ingest/formats.js'
import { IngestGate, type Slot } from '../src/ingest/gate.js'
import { esRejectedItems, ingestBody, type EsReplyItem, type IngestResult } from '../src/ingest/ingest.js'
import { keyDefaults } from '../src/ingest/map.js'
import { LAST_USED_RESOLUTION_S, touchIngestKey } from '../src/services/ingest-keys.js'
import { errorReply, type ErrorReply } from './errors.js'

/** Seconds a shipper is asked to wait before retrying a request refused for load. */
export const RETRY_AFTER_S = 2

type RefusalReason = BodyError['reason'] | 'busy'

/** Vigil's error code for each reason a whole ingestion request is refused. */
function refusalCode(status: number, reason: RefusalReason): ErrorCode {
  switch (reason) {
    case 'busy':
      return 'ingest_busy'
    case 'empty':
      return 'empty_body'
    case 'too_large':
    case 'too_many_records':
      return 'payload_too_large'
    case 'encoding':
      // An unknown Content-Encoding (415), or a body that does not decode in a known one (400).
      return status === 415 ? 'unsupported_encoding' : 'malformed_request'
    case 'unparseable':
    case 'structure':
      return 'malformed_request'
  }
}

/** A refusal of the whole request, with what went wrong for replies that carry their own codes. */
export class IngestRefused extends HttpError {
  constructor(
    statusCode: number,
    detail: string,
    readonly reason: RefusalReason,
    headers?: Record<string, string>
  ) {
    super(refusalCode(statusCode, reason), detail, { headers })
  }
}

const busy = (why: string) =>
  new IngestRefused(503, `Vigil is ${why}; retry later.`, 'busy', { 'retry-after': String(RETRY_AFTER_S) })

/** True for a refusal for load: Vigil busy. */
export const isBusy = (err: unknown): err is IngestRefused => err instanceof IngestRefused && err.reason === 'busy'

declare module 'fastify' {
  interface FastifyInstance {
    ingestGate: IngestGate
    /** onRequest hook for the routes that ingest: takes a slot, or refuses with 503 + Retry-After. */
    ingestSlot: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** Ingests the request body in `format`, with the caller's ingest-key defaults and the limits. */
    ingest(request: FastifyRequest, format: Format, opts?: { index?: string }): Promise<IngestResult>
    /** Elasticsearch: the 429 reply items for the request's body, refused for load (nothing stored). */
    esRejectedItems(request: FastifyRequest, reason: string, opts?: { index?: string }): Promise<EsReplyItem[]>
  }
  interface FastifyRequest {
    ingestSlot: Slot | null
    /** The busy refusal of a `busyInBody` route, which reads the body and answers it itself. */
    ingestBusy: IngestRefused | null
  }
  interface FastifyContextConfig {
    /** The route answers "busy" in its reply body: a busy refusal is recorded, not thrown. */
    busyInBody?: boolean
    /** An ingestion route: while the server shuts down it answers with its own "busy" reply. */
    ingestion?: boolean
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
  app.decorateRequest('ingestSlot', null)
  app.decorateRequest('ingestBusy', null)
  // While the server shuts down, the gate refuses every new request, so each ingestion route
  // answers with the "busy" reply its shippers retry (a 200 with 429 items on _bulk) instead of
  // the plain 503 the rest of the API gets (src/app.ts), which rsyslog 8.2302 would not retry.
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, ingestion: true }
  })
  app.addHook('preClose', async () => gate.shutDown())

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
      pressureHandler: async (request, _reply, type) => {
        const memory = type === 'heapUsedBytes'
        app.metrics.refused(memory ? 'memory' : 'event_loop')
        const refusal = busy(memory ? 'overloaded (memory)' : 'overloaded (event loop delayed)')
        if (!request.routeOptions.config.busyInBody) throw refusal
        request.ingestBusy = refusal
      }
    })
  }

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { status, body, headers } = ingestErrorReply(err, request, config.INGEST_MAX_BODY_BYTES)
    if (headers) reply.headers(headers)
    return reply.code(status).send(body)
  })

  app.decorate('ingestSlot', async (request: FastifyRequest, reply: FastifyReply) => {
    // The response's 'close' fires once, whatever happens: after the reply is sent, or when the
    // connection is lost at any stage (waiting here, body streaming, decoding, inserting, a
    // server timeout). It is the one event that ends the request's hold on its slot; the
    // request's own events are no use (its 'close' also fires once the body is read, and
    // Fastify's onRequestAbort only while the body is still arriving).
    // Earlier hooks (authentication) may have waited on the database long enough for the
    // client to leave: then 'close' has already fired.
    let gone = reply.raw.closed
    let slot: Slot | null = null
    const left = new AbortController()
    reply.raw.once('close', () => {
      gone = true
      left.abort()
      slot?.close()
    })
    if (!gone) slot = await gate.acquire(left.signal)
    if (gone) {
      // The client left before or while waiting (the gate dropped it from the queue), or just
      // as the slot came: nobody is left to answer.
      slot?.close()
      request.log.info('client left while waiting for an ingestion slot')
      reply.hijack()
      return
    }
    if (!slot) {
      app.metrics.refused(gate.shuttingDown ? 'shutting_down' : 'busy')
      throw busy(gate.shuttingDown ? 'shutting down' : 'busy ingesting')
    }
    request.ingestSlot = slot
  })
  // last_used_at is informative: written at most once a minute per key and process.
  const touched = new Map<number, number>()
  async function touch(keyId: number) {
    const now = Date.now()
    if (now - (touched.get(keyId) ?? 0) < LAST_USED_RESOLUTION_S * 1000) return
    touched.set(keyId, now)
    await touchIngestKey(app.db, keyId)
  }

  const ingest = async (request: FastifyRequest, format: Format, opts: { index?: string }) => {
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
        batchSize: config.INGEST_BATCH_SIZE,
        detector: app.detector,
        screen: app.alertScreen
      })
    } catch (err) {
      if (err instanceof BodyError) throw new IngestRefused(err.status, err.detail, err.reason)
      throw err
    }
  }

  app.decorate('ingest', async (request: FastifyRequest, format: Format, opts: { index?: string } = {}) => {
    const slot = request.ingestSlot
    if (!slot) throw new Error('app.ingest on a route without the ingestSlot hook')
    // The slot stays taken until the work ends, even if the client leaves meanwhile: what is
    // committed stays committed, and a re-send finds it as duplicates. A client already gone
    // gets nothing done (ClientGone, a 499 nobody reads).
    const result = await slot.run(() => ingest(request, format, opts))
    // The one place every ingestion endpoint's result passes: counted here, once.
    app.metrics.ingested(format, result)
    return result
  })

  app.decorate('esRejectedItems', async (request: FastifyRequest, reason: string, opts: { index?: string } = {}) => {
    const encoding = request.headers['content-encoding']
    try {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
      return await esRejectedItems(body, {
        index: opts.index,
        contentEncoding: Array.isArray(encoding) ? encoding.join(',') : encoding,
        maxAttributesBytes: config.INGEST_MAX_ATTRIBUTES_BYTES,
        maxDecompressedBytes: config.INGEST_MAX_DECOMPRESSED_BYTES,
        maxRecords: config.INGEST_MAX_RECORDS
      }, reason)
    } catch (err) {
      if (err instanceof BodyError) throw new IngestRefused(err.status, err.detail, err.reason)
      throw err
    }
  })
}

export default fp(ingestPlugin, { name: 'ingest', dependencies: ['config', 'db', 'auth', 'errors', 'metrics', 'detection'] })
