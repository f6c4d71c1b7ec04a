// Prometheus metrics (prom-client) at GET /metrics, for a scraper that presents METRICS_TOKEN as
// `Authorization: Bearer <token>`. Without a token configured nothing is collected and the route
// does not exist (404, like any unknown path): metrics say how busy Vigil is and which routes its
// clients use, which is not for anonymous eyes. Every app has a Registry of its own, so several
// apps in one process (the tests) never share or collide on a metric.
//
// - HTTP answers by route pattern (never the raw URL: the label stays bounded), method and status;
// - ingestion results, counted where they are produced (app.ingest, plugins/ingest.ts);
// - detections by model, counted where the engine's matches are counted (src/detection/detector.ts);
// - webhook attempts by outcome, counted by the delivery engine (plugins/webhooks.ts, its onAttempt);
// - the ingestion gate, the database pool and the open alert streams, read from their state when
//   scraped, and the pending webhook deliveries, one bounded count query per scrape;
// - process, heap, GC and event-loop delay: prom-client's default metrics.
import { createHash, timingSafeEqual } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { HttpError, UNAUTHENTICATED } from '../src/errors.js'
import type { Format } from '../src/ingest/formats.js'
import type { IngestResult } from '../src/ingest/ingest.js'
import { ATTEMPT_OUTCOMES, type AttemptOutcome } from '../src/services/webhook-delivery.js'
import { countPending, PENDING_COUNT_CAP } from '../src/services/webhooks.js'
import { errors } from '../src/schemas.js'

/** Why an ingestion request was refused for load, before its body was read. */
export type BusyReason = 'busy' | 'shutting_down' | 'event_loop' | 'memory'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: {
      /** Counts one ingestion request's records by outcome; `endpoint` is the format it came in. */
      ingested(endpoint: Format, result: Pick<IngestResult, 'accepted' | 'duplicates' | 'rejected'>): void
      /** Counts one ingestion request refused for load. */
      refused(reason: BusyReason): void
      /** Counts a model's detections (matched events, correlation and baseline firings). */
      detected(model: { id: number; name: string }, n: number): void
      /** Counts one webhook attempt whose result was written, by what it came to. */
      webhookAttempt(outcome: AttemptOutcome): void
    }
  }
}

/** The route label of requests no route matched: one value, whatever URL was asked for. */
export const UNMATCHED_ROUTE = 'unmatched'

const ENDPOINTS: Format[] = ['bulk', 'hec', 'es']
const OUTCOMES = ['accepted', 'duplicate', 'rejected'] as const
const BUSY_REASONS: BusyReason[] = ['busy', 'shutting_down', 'event_loop', 'memory']

/**
 * Seconds. Lists and lookups answer in about a millisecond, so the low end is fine-grained; bulk
 * ingestion of a large body takes seconds, up to the request timeout.
 */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

const sha256 = (text: string) => createHash('sha256').update(text).digest()

async function metricsPlugin(app: FastifyInstance) {
  const token = app.config.METRICS_TOKEN
  if (!token) {
    app.decorate('metrics', { ingested() {}, refused() {}, detected() {}, webhookAttempt() {} })
    return
  }
  const registry = new Registry()
  const registers = [registry]
  collectDefaultMetrics({ register: registry })

  const requests = new Counter({
    name: 'vigil_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status code.',
    labelNames: ['route', 'method', 'status_code'] as const,
    registers
  })
  // No status label: the counter has it, and it would multiply the series by every bucket.
  const duration = new Histogram({
    name: 'vigil_http_request_duration_seconds',
    help: 'Time from receiving a request to sending its answer, by route pattern and method.',
    labelNames: ['route', 'method'] as const,
    buckets: LATENCY_BUCKETS,
    registers
  })
  app.addHook('onResponse', (request: FastifyRequest, reply, done) => {
    const route = request.is404 ? UNMATCHED_ROUTE : (request.routeOptions.url ?? UNMATCHED_ROUTE)
    requests.inc({ route, method: request.method, status_code: reply.statusCode })
    duration.observe({ route, method: request.method }, reply.elapsedTime / 1000)
    done()
  })

  // Every label combination exists from the start, so rate() and alerts see the first increase.
  function counterFromZero<L extends string>(name: string, help: string, values: Record<L, readonly string[]>): Counter<L> {
    const labelNames = Object.keys(values) as L[]
    const counter = new Counter({ name, help, labelNames, registers })
    let series: Partial<Record<L, string>>[] = [{}]
    for (const label of labelNames) series = series.flatMap((s) => values[label].map((v) => ({ ...s, [label]: v })))
    for (const labels of series) counter.inc(labels, 0)
    return counter
  }
  const events = counterFromZero(
    'vigil_ingest_events_total',
    'Records received by ingestion, by endpoint (bulk, hec, es) and outcome (accepted, duplicate, rejected).',
    { endpoint: ENDPOINTS, outcome: OUTCOMES }
  )
  const refusals = counterFromZero(
    'vigil_ingest_refused_total',
    'Ingestion requests refused for load (503 + Retry-After, or 429 items on _bulk): no slot in time (busy), shutting down, event loop delayed, memory.',
    { reason: BUSY_REASONS }
  )
  const webhookAttempts = counterFromZero(
    'vigil_webhook_attempts_total',
    'Webhook delivery attempts this instance made and recorded, by outcome: delivered (2xx), failed (the delivery is over: 410 or the retry schedule ran out), retry (another attempt follows).',
    { outcome: ATTEMPT_OUTCOMES }
  )
  // One series per model that detected something since the start (models are few, named by people).
  const detections = new Counter({
    name: 'vigil_detections_total',
    help: 'Detections by model: events a rule matched, correlation firings and baseline alerts.',
    labelNames: ['model_id', 'model'] as const,
    registers
  })
  app.decorate('metrics', {
    ingested(endpoint: Format, result: Pick<IngestResult, 'accepted' | 'duplicates' | 'rejected'>) {
      events.inc({ endpoint, outcome: 'accepted' }, result.accepted)
      events.inc({ endpoint, outcome: 'duplicate' }, result.duplicates)
      events.inc({ endpoint, outcome: 'rejected' }, result.rejected)
    },
    refused(reason: BusyReason) {
      refusals.inc({ reason })
    },
    detected(model: { id: number; name: string }, n: number) {
      detections.inc({ model_id: String(model.id), model: model.name }, n)
    },
    webhookAttempt(outcome: AttemptOutcome) {
      webhookAttempts.inc({ outcome })
    }
  })

  // Read when scraped. app.ingestGate is decorated once the ingestion scope is registered
  // (src/app.ts); nothing is scraped before the app is ready.
  new Gauge({
    name: 'vigil_ingest_gate_slots',
    help: 'Ingestion requests allowed to write at once (INGEST_MAX_CONCURRENCY).',
    registers,
    collect() {
      this.set(app.ingestGate.max)
    }
  })
  new Gauge({
    name: 'vigil_ingest_gate_in_flight',
    help: 'Ingestion requests holding a slot.',
    registers,
    collect() {
      this.set(app.ingestGate.inFlight)
    }
  })
  new Gauge({
    name: 'vigil_ingest_gate_waiting',
    help: 'Ingestion requests waiting for a slot.',
    registers,
    collect() {
      this.set(app.ingestGate.waiting)
    }
  })
  // app.alertStreams is decorated by plugins/alert-stream.ts, registered after this one.
  new Gauge({
    name: 'vigil_alert_streams',
    help: 'Alert streams (GET /api/alerts/stream) open on this instance.',
    registers,
    collect() {
      this.set(app.alertStreams.size)
    }
  })
  // One count per scrape, bounded (PENDING_COUNT_CAP). A database that does not answer leaves the
  // gauge without a sample rather than failing the whole scrape.
  new Gauge({
    name: 'vigil_webhook_deliveries_pending',
    help: `Webhook deliveries pending across all instances (due, being attempted, or waiting for an older one of their webhook), counted up to ${PENDING_COUNT_CAP}.`,
    registers,
    async collect() {
      try {
        this.set(await countPending(app.db))
      } catch (err) {
        this.reset()
        app.log.debug({ err: { message: (err as Error).message } }, 'metrics: could not count pending webhook deliveries')
      }
    }
  })
  // postgres.js keeps its connections' state private: only the configured maximum is public.
  // PGlite is one embedded session that runs one query at a time.
  new Gauge({
    name: 'vigil_db_pool_max_connections',
    help: 'Most database connections the pool opens (DB_POOL_MAX on postgres; 1 on the embedded pglite), by driver.',
    labelNames: ['driver'] as const,
    registers,
    collect() {
      this.set({ driver: app.database.kind }, app.database.pg?.options.max ?? 1)
    }
  })
  new Gauge({
    name: 'vigil_db_list_pool_max_connections',
    help: 'Most database connections the pool lists are read from opens (DB_LIST_POOL_MAX on postgres, 0 when lists share the main pool; 1 on the embedded pglite), by driver.',
    labelNames: ['driver'] as const,
    registers,
    collect() {
      this.set({ driver: app.database.kind }, app.database.kind === 'pglite' ? 1 : app.config.DB_LIST_POOL_MAX)
    }
  })

  // Both sides hashed: equal lengths for timingSafeEqual, and no timing that tells the length.
  const expected = sha256(token)
  const challenge = { headers: { 'www-authenticate': 'Bearer realm="metrics"' } }
  app.get('/metrics', {
    // rbac authenticates users and ingest keys; this route takes neither, only the metrics token,
    // which its own onRequest hook checks.
    config: { public: true },
    onRequest: async (request) => {
      const header = request.headers.authorization
      if (!header) throw new HttpError('not_authenticated', UNAUTHENTICATED, challenge)
      const presented = /^\s*Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? ''
      if (!timingSafeEqual(sha256(presented), expected)) throw new HttpError('invalid_token', 'Invalid metrics token.', challenge)
    },
    // For Prometheus, not API clients: the README documents it (Metrics).
    schema: {
      hide: true,
      response: { 200: Type.String({ description: 'Prometheus text format 0.0.4' }), ...errors(401) }
    },
    handler: async (_request, reply) => {
      reply.type(registry.contentType).header('cache-control', 'no-store')
      return registry.metrics()
    }
  })
}

export default fp(metricsPlugin, { name: 'metrics', dependencies: ['config', 'db', 'rbac', 'errors'] })
