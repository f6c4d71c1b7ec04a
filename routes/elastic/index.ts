// Elasticsearch compatibility at the root: enough of an Elasticsearch 8 node for the official
// clients, Logstash, Beats and rsyslog's omelasticsearch to connect and bulk-index into Vigil
// with an ingest key (ApiKey, Basic password or Bearer). Every response of these routes, errors
// included, carries `X-Elastic-Product: Elasticsearch`: the official clients (8 and later)
// refuse a server without it.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { ingestErrorReply, IngestRefused, isBusy } from '../../plugins/ingest.js'
import { classifyDbError, dbUnavailable } from '../../src/errors.js'
import {
  BulkBody,
  BulkQuery,
  BulkReply,
  CatHealth,
  CatQuery,
  ES_INVALID_INDEX,
  ES_VERSION,
  esErrors,
  IndexParams,
  NodeInfo,
  RefreshReply
} from './schema.js'

const tags = ['compat']

/** The Elasticsearch exception type clients see for a refused request. */
function esType(err: FastifyError, status: number): string {
  if (err instanceof IngestRefused) {
    if (err.reason === 'empty') return 'parse_exception'
    if (err.reason === 'structure') return 'illegal_argument_exception'
    if (err.reason === 'unparseable') return 'x_content_parse_exception'
  }
  if (status === 401 || status === 403) return 'security_exception'
  if (status === 413) return 'content_too_long_exception'
  if (status === 503) return 'es_rejected_execution_exception'
  if (status >= 500) return 'exception'
  return 'illegal_argument_exception'
}

const elasticRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-elastic-product', 'Elasticsearch')
  })

  app.setErrorHandler(async (err: FastifyError, request, reply) => {
    const { status, body, headers } = ingestErrorReply(err, request, app.config.INGEST_MAX_BODY_BYTES)
    if (status === 503 && request.routeOptions.config.busyInBody) {
      // The database went down before the handler ran (authentication reads the ingest key):
      // still Elasticsearch's full-queue answer, so the shipper retries the items. Nothing is
      // stored and the reply names nothing but the request's own actions.
      const rejected = await rejectedBeforeHandler(request, body.detail).catch(() => undefined)
      if (rejected) return reply.code(200).send(rejected)
    }
    if (headers) reply.headers(headers)
    if (status === 401) reply.header('www-authenticate', 'Basic realm="vigil", ApiKey')
    const type = esType(err, status)
    // Elasticsearch's shape for its clients, plus Vigil's `code` and `detail` as in every Vigil error.
    return reply
      .code(status)
      .send({ error: { root_cause: [{ type, reason: body.detail }], type, reason: body.detail }, status, code: body.code, detail: body.detail })
  })

  const ping = () => app.database.ping(app.config.DB_TIMEOUT_MS).then(() => true, () => false)

  app.get('/', {
    config: { public: true },
    schema: {
      tags,
      summary: 'Elasticsearch: node information',
      description:
        'Answers like an Elasticsearch 8 node so clients, Logstash and Beats connect. Open without credentials ' +
        '(it names no data), like a load-balancer probe; the ingest routes need an ingest key.',
      response: { 200: NodeInfo, ...esErrors(503) }
    },
    handler: async () => ({
      name: 'vigil',
      cluster_name: 'vigil',
      cluster_uuid: 'vigil-elasticsearch-compatible-ingest',
      version: {
        number: ES_VERSION,
        build_flavor: 'default',
        build_type: 'vigil',
        build_hash: 'vigil',
        build_date: '2024-08-05T10:05:34.233336849Z',
        build_snapshot: false,
        lucene_version: '9.11.1',
        minimum_wire_compatibility_version: '7.17.0',
        minimum_index_compatibility_version: '7.0.0'
      },
      tagline: 'You Know, for Search'
    })
  })

  app.get('/_cat/health', {
    config: { public: true },
    schema: {
      tags,
      summary: 'Elasticsearch: cluster health',
      description:
        'rsyslog probes this before resuming. Open without credentials. green while the database answers; ' +
        'otherwise 503, so a probing shipper keeps waiting. Text by default, a JSON array with ?format=json.',
      querystring: CatQuery,
      response: { 200: CatHealth, ...esErrors(503) }
    },
    handler: async (request, reply) => {
      if (!(await ping())) throw dbUnavailable()
      const now = new Date()
      const row = {
        epoch: String(Math.floor(now.getTime() / 1000)),
        timestamp: now.toISOString().slice(11, 19),
        cluster: 'vigil',
        status: 'green',
        'node.total': '1',
        'node.data': '1',
        shards: '1',
        pri: '1',
        relo: '0',
        init: '0',
        unassign: '0',
        pending_tasks: '0',
        max_task_wait_time: '-',
        active_shards_percent: '100.0%'
      }
      if (request.query.format === 'json') return [row]
      const header = request.query.v !== undefined ? `${Object.keys(row).join(' ')}\n` : ''
      return reply.type('text/plain; charset=UTF-8').send(`${header}${Object.values(row).join(' ')}\n`)
    }
  })

  // Busy or the database down: Elasticsearch's answer when its write queue is full, a 200 whose
  // items all carry 429 es_rejected_execution_exception. Every client that reads bulk items
  // retries those (rsyslog only with retryfailures="on"), while a whole-request 503 is written
  // off by rsyslog before 8.2606 and a whole-request 429 aborts the official bulk helper.
  const slot = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.ingestBusy) return
    try {
      await app.ingestSlot(request, reply)
    } catch (err) {
      if (!isBusy(err)) throw err
      request.ingestBusy = err
    }
  }

  /** The body of a request refused before Fastify read it, up to the body limit. */
  async function readBody(request: FastifyRequest): Promise<Buffer | undefined> {
    if (request.body !== undefined) return Buffer.isBuffer(request.body) ? request.body : undefined
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of request.raw as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > app.config.INGEST_MAX_BODY_BYTES) return undefined
      chunks.push(chunk)
    }
    return Buffer.concat(chunks)
  }

  async function rejectedBeforeHandler(request: FastifyRequest, reason: string) {
    // Credentials could not be checked (the database is down): only a request that carries some
    // gets its body read, so an anonymous client cannot make Vigil decode bodies meanwhile.
    if (!request.headers.authorization && !request.headers['x-api-key']) return undefined
    const body = await readBody(request)
    if (!body) return undefined
    request.body = body
    const index = (request.params as { index?: string } | undefined)?.index
    return { took: 0, errors: true, items: await app.esRejectedItems(request, reason, { index }) }
  }

  const bulk = async (request: FastifyRequest, index?: string) => {
    const started = performance.now()
    const took = () => Math.round(performance.now() - started)
    const rejected = async (reason: string) => ({ took: took(), errors: true, items: await app.esRejectedItems(request, reason, { index }) })
    if (request.ingestBusy) return rejected(request.ingestBusy.detail)
    let items
    try {
      items = (await app.ingest(request, 'es', { index })).items ?? []
    } catch (err) {
      if (isBusy(err)) return rejected(err.detail)
      // Chunks committed before the failure stay; their retried items come back as duplicates.
      const db = classifyDbError(err)
      if (db?.statusCode === 503) return rejected(db.detail)
      throw err
    }
    return { took: took(), errors: items.some((item) => Object.values(item).some((s) => s.status >= 400)), items }
  }

  const bulkSchema = {
    tags,
    description:
      'NDJSON action/document pairs: `index` and `create` actions store the document as an event (mapped as for ' +
      'POST /api/events/bulk; `_id` becomes external_id, so a re-sent document is a duplicate: 409 for create, ' +
      '200 "noop" for index). `update` and `delete` items are refused (400). The reply lists one item per action in ' +
      'request order. A malformed action line fails the whole request (400), as in Elasticsearch. Busy or the ' +
      'database unavailable: as Elasticsearch with a full write queue, 200 with errors true and every item 429 ' +
      'es_rejected_execution_exception (nothing stored), which the clients and shippers retry item by item. ' +
      'Credentials: an ingest key (ApiKey, Basic password or Bearer), or an admin token (an admin logged in on this page may send).',
    querystring: BulkQuery,
    body: BulkBody,
    response: { 200: BulkReply, ...esErrors(400, 401, 403, 413, 415, 503) }
  }

  app.route({
    method: ['POST', 'PUT'],
    url: '/_bulk',
    config: { permission: 'events:ingest', busyInBody: true },
    bodyLimit: app.config.INGEST_MAX_BODY_BYTES,
    onRequest: slot,
    schema: { ...bulkSchema, summary: 'Elasticsearch: bulk index' },
    handler: (request) => bulk(request)
  })

  app.route({
    method: ['POST', 'PUT'],
    url: '/:index/_bulk',
    config: { permission: 'events:ingest', busyInBody: true },
    bodyLimit: app.config.INGEST_MAX_BODY_BYTES,
    onRequest: slot,
    schema: { ...bulkSchema, summary: 'Elasticsearch: bulk index into an index', params: IndexParams },
    handler: (request) => bulk(request, (request.params as { index: string }).index)
  })

  const refreshSchema = {
    tags,
    summary: 'Elasticsearch: refresh',
    description: 'Accepted for clients that refresh after indexing (pino-elasticsearch): events are committed before every bulk reply.',
    response: { 200: RefreshReply, 400: ES_INVALID_INDEX, ...esErrors(401, 403, 503) }
  }
  const refreshed = async () => ({ _shards: { total: 1, successful: 1, failed: 0 } })
  app.route({ method: ['GET', 'POST'], url: '/_refresh', config: { permission: 'events:ingest' }, schema: refreshSchema, handler: refreshed })
  app.route({
    method: ['GET', 'POST'],
    url: '/:index/_refresh',
    config: { permission: 'events:ingest' },
    schema: { ...refreshSchema, params: IndexParams },
    handler: refreshed
  })
}

export default elasticRoutes
