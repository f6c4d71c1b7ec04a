// POST /api/events/bulk: the native bulk endpoint for log shippers. Registered as its own plugin
// at that prefix (in the ingestion scope), so it never meets /api/events/:id.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../../src/schemas.js'
import { BulkBody, BulkReply, NoQuery } from './schema.js'

const bulkRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/', {
    config: { permission: 'events:ingest' },
    bodyLimit: app.config.INGEST_MAX_BODY_BYTES,
    onRequest: app.ingestSlot,
    schema: {
      tags: ['ingest'],
      summary: 'Ingest events in bulk',
      description:
        'For log shippers, with an ingest key (Bearer, Basic password, X-API-Key, ...), or an admin token (an admin ' +
        "logged in on this page may send; the key's defaults then do not apply, so each record names its own fields). " +
        'Each record is mapped to an event (severity from severity/level/log.level/PRIORITY/syslog.severity/event.severity, ' +
        'description from description/message/msg/MESSAGE, source from source/host.name/host/HOST/hostname, external_id ' +
        "from external_id/id/_id, then the key's defaults; see docs/shippers.md). One bad record never fails the others: " +
        'it is counted in `rejected` and described in `errors`. A record whose (source, external_id) is already stored is ' +
        'a duplicate, so retries are safe. High and Critical events raise alerts in the same transaction. Whole-body ' +
        'problems only: 400 (not parseable, bad gzip, empty), 413 (too large on the wire, decompressed, or too many ' +
        'records), 415 (unknown Content-Encoding), 503 + Retry-After when Vigil is saturated.',
      querystring: NoQuery,
      body: BulkBody,
      response: {
        200: BulkReply,
        ...errors(401, 403, {
          400: {
            description: 'The body cannot be read at all: not JSON or NDJSON, a compressed body that does not decompress, or no records',
            code: 'malformed_request',
            detail: 'The request body is not JSON, NDJSON or a JSON array of records.'
          },
          413: { description: 'Too large: over INGEST_MAX_BODY_BYTES on the wire, over the decompressed limit, or too many records', code: 'payload_too_large' },
          415: { description: 'Unknown Content-Encoding (gzip, deflate and identity are read)', code: 'unsupported_encoding', detail: 'Unsupported Content-Encoding "br"; use gzip, deflate or none.' },
          503: { description: 'Vigil is saturated: retry after the Retry-After seconds; nothing was stored', code: 'ingest_busy', detail: 'Vigil is busy ingesting; retry later.' }
        })
      }
    },
    handler: async (request) => {
      const result = await app.ingest(request, 'bulk')
      return {
        accepted: result.accepted,
        duplicates: result.duplicates,
        rejected: result.rejected,
        errors: result.errors.map(({ index, detail }) => ({ index, detail }))
      }
    }
  })
}

export default bulkRoutes
