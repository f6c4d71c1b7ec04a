// Elasticsearch compatibility at the root: enough of an Elasticsearch 8 node for the official
// clients, Logstash, Beats and rsyslog's omelasticsearch to connect and bulk-index into Vigil
// with an ingest key (ApiKey, Basic password or Bearer). Every response of these routes, errors
// included, carries `X-Elastic-Product: Elasticsearch`: the official clients (8 and later)
// refuse a server without it.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError, FastifyRequest } from 'fastify'
import { ingestErrorReply, IngestRefused } from '../../plugins/ingest.js'
import { dbUnavailable } from '../../src/errors.js'
import {
  BulkBody,
  BulkQuery,
  BulkReply,
  CatHealth,
  CatQuery,
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

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { status, body, headers } = ingestErrorReply(err, request, app.config.INGEST_MAX_BODY_BYTES)
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

  const bulk = async (request: FastifyRequest, index?: string) => {
    const started = performance.now()
    const result = await app.ingest(request, 'es', { index })
    const items = result.items ?? []
    return {
      took: Math.round(performance.now() - started),
      errors: items.some((item) => Object.values(item).some((s) => s.status >= 400)),
      items
    }
  }

  const bulkSchema = {
    tags,
    description:
      'NDJSON action/document pairs: `index` and `create` actions store the document as an event (mapped as for ' +
      'POST /api/events/bulk; `_id` becomes external_id, so a re-sent document is a duplicate: 409 for create, ' +
      '200 "noop" for index). `update` and `delete` items are refused (400). The reply lists one item per action in ' +
      'request order. A malformed action line fails the whole request (400), as in Elasticsearch. Busy: 503 + ' +
      'Retry-After, which the Elasticsearch clients retry (they give up on 429).',
    consumes: ['application/x-ndjson', 'application/json', 'application/vnd.elasticsearch+x-ndjson'],
    querystring: BulkQuery,
    body: BulkBody,
    response: { 200: BulkReply, ...esErrors(400, 401, 403, 413, 415, 503) }
  }

  app.route({
    method: ['POST', 'PUT'],
    url: '/_bulk',
    config: { permission: 'events:ingest' },
    bodyLimit: app.config.INGEST_MAX_BODY_BYTES,
    onRequest: app.ingestSlot,
    schema: { ...bulkSchema, summary: 'Elasticsearch: bulk index' },
    handler: (request) => bulk(request)
  })

  app.route({
    method: ['POST', 'PUT'],
    url: '/:index/_bulk',
    config: { permission: 'events:ingest' },
    bodyLimit: app.config.INGEST_MAX_BODY_BYTES,
    onRequest: app.ingestSlot,
    schema: { ...bulkSchema, summary: 'Elasticsearch: bulk index into an index', params: IndexParams },
    handler: (request) => bulk(request, (request.params as { index: string }).index)
  })

  const refreshSchema = {
    tags,
    summary: 'Elasticsearch: refresh',
    description: 'Accepted for clients that refresh after indexing (pino-elasticsearch): events are committed before every bulk reply.',
    response: { 200: RefreshReply, ...esErrors(400, 401, 403, 503) }
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
