// Splunk HTTP Event Collector compatibility at /services/collector, so Splunk logging libraries
// and shippers' HEC outputs work unchanged with an ingest key as the HEC token
// (`Authorization: Splunk <key>`). Valid events are stored even when others in the request are
// not; the reply then says, as Splunk does, 400 with the first refused event's number.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError } from 'fastify'
import { ingestErrorReply } from '../../plugins/ingest.js'
import type { ErrorCode } from '../../src/errors.js'
import { HEC_EVENT_REPLIES, HEC_HEALTH_REPLIES, HEC_TEXT, HecBody, HecQuery } from './schema.js'

const tags = ['compat']

const reply = (code: number, extra: Record<string, unknown> = {}) => ({ text: HEC_TEXT[code], code, ...extra })

/**
 * Splunk's numeric HEC code for a refused request, from Vigil's error code. HEC clients read
 * `code` as this number, so Vigil's own code travels beside it as `vigil_code`.
 */
function hecCode(code: ErrorCode): number {
  switch (code) {
    case 'empty_body':
      return 5
    case 'not_authenticated':
      return 2
    case 'invalid_token':
      return 4
    case 'permission_denied':
      return 3
    case 'ingest_busy':
    case 'database_unavailable':
    case 'transaction_conflict':
      return 9
    case 'internal_error':
      return 8
    default:
      return 6
  }
}

const hecRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.setErrorHandler((err: FastifyError, request, rep) => {
    const { status, body, headers } = ingestErrorReply(err, request, app.config.INGEST_MAX_BODY_BYTES)
    if (headers) rep.headers(headers)
    if (status === 401) rep.header('www-authenticate', 'Splunk')
    return rep.code(status).send(reply(hecCode(body.code), { vigil_code: body.code, detail: body.detail }))
  })

  for (const url of ['/', '/event', '/event/1.0']) {
    app.post(url, {
      config: { permission: 'events:ingest' },
      bodyLimit: app.config.INGEST_MAX_BODY_BYTES,
      onRequest: app.ingestSlot,
      schema: {
        tags,
        summary: `Splunk HEC: send events (${url === '/' ? '/services/collector' : `/services/collector${url}`})`,
        description:
          'Token: an ingest key, as `Authorization: Splunk <key>` (or any other ingest-key form), or an admin token ' +
          '(an admin logged in on this page may send). Envelope fields: ' +
          "`event` (object or text; required), `host` (the event's source unless the event names one), `time` " +
          '(epoch seconds), `fields` (extra fields for the mapping), `source`. The whole envelope is kept in attributes. ' +
          '200 {"text":"Success","code":0} when every event is stored or a duplicate; otherwise the valid events are ' +
          'still stored and the reply is 400 with the first refused event in `invalid-event-number`. ' +
          'Busy: 503 code 9 with Retry-After.',
        querystring: HecQuery,
        body: HecBody,
        response: HEC_EVENT_REPLIES
      },
      handler: async (request, rep) => {
        const result = await app.ingest(request, 'hec')
        const first = result.errors[0]
        if (!first) return reply(0)
        return rep.code(400).send(
          reply(first.code ?? 6, {
            'invalid-event-number': first.index,
            vigil_code: 'validation_failed',
            detail: first.detail,
            accepted: result.accepted,
            duplicates: result.duplicates,
            rejected: result.rejected
          })
        )
      }
    })
  }

  for (const url of ['/health', '/health/1.0']) {
    app.get(url, {
      config: { public: true },
      schema: {
        tags,
        summary: 'Splunk HEC: health',
        description:
          'Open without a token, as in Splunk, for load balancers. 200 code 17 while the database answers and ' +
          'ingestion has room; 503 code 18 otherwise.',
        querystring: HecQuery,
        response: HEC_HEALTH_REPLIES
      },
      handler: async (_request, rep) => {
        const up = !app.ingestGate.full && (await app.database.ping(app.config.DB_TIMEOUT_MS).then(() => true, () => false))
        return up ? reply(17) : rep.code(503).header('retry-after', '5').send(reply(18))
      }
    })
  }
}

export default hecRoutes
