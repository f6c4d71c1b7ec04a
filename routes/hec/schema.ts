// Splunk HTTP Event Collector shapes: replies are {text, code}, with Splunk's codes.
import { Type, type Static } from '@sinclair/typebox'
import { ErrorCodeSchema, RawBody } from '../../src/schemas.js'

export const HEC_TEXT: Record<number, string> = {
  0: 'Success',
  2: 'Token is required',
  3: 'Invalid authorization',
  4: 'Invalid token',
  5: 'No data',
  6: 'Invalid data format',
  8: 'Internal server error',
  9: 'Server is busy',
  12: 'Event field is required',
  13: 'Event field cannot be blank',
  17: 'HEC is healthy',
  18: 'HEC is unhealthy, queues are full'
}

export const HecReply = Type.Object(
  {
    text: Type.String(),
    code: Type.Integer({ description: 'Splunk HEC status code (0 success, 5 no data, 6 invalid data format, 9 busy, ...)' }),
    'invalid-event-number': Type.Optional(Type.Integer({ description: 'Position of the first refused event, from 0' })),
    vigil_code: Type.Optional(ErrorCodeSchema),
    detail: Type.Optional(Type.String({ description: "Vigil's explanation" })),
    accepted: Type.Optional(Type.Integer()),
    duplicates: Type.Optional(Type.Integer()),
    rejected: Type.Optional(Type.Integer())
  },
  { title: 'HEC reply', description: "Splunk's reply shape, with Vigil's code and explanation beside Splunk's", examples: [{ text: 'Success', code: 0 }] }
)
type HecReplyBody = Static<typeof HecReply>

/** One documented HEC status: the reply schema with its own description and example. */
const hecReply = (description: string, example: HecReplyBody) =>
  ({ ...HecReply, 'x-response-description': description, examples: [example] }) as typeof HecReply

const refused = (code: number, vigil_code: HecReplyBody['vigil_code'], detail: string): HecReplyBody => ({ text: HEC_TEXT[code], code, vigil_code, detail })

/** The replies of the event routes, as Splunk words them. Module-level: compiled once. */
export const HEC_EVENT_REPLIES = {
  200: hecReply('Every event is stored, or was already (a duplicate)', { text: 'Success', code: 0 }),
  400: hecReply(
    'Some events are refused (the valid ones are still stored; `invalid-event-number` is the first refused), or the body holds no data or no envelopes',
    {
      text: 'Event field is required',
      code: 12,
      'invalid-event-number': 1,
      vigil_code: 'validation_failed',
      detail: 'Event field is required.',
      accepted: 1,
      duplicates: 0,
      rejected: 1
    }
  ),
  401: hecReply('No token, or an unknown or revoked one: send an ingest key as `Authorization: Splunk <key>` (or an admin token)', refused(2, 'not_authenticated', 'Authentication credentials were not provided.')),
  403: hecReply('Your role may not ingest events: only admins and ingest keys may', refused(3, 'permission_denied', 'You do not have permission to perform this action.')),
  413: hecReply('Too large: over INGEST_MAX_BODY_BYTES, over the decompressed limit, or too many events', refused(6, 'payload_too_large', 'The request body is too large.')),
  415: hecReply('Unknown Content-Encoding (gzip, deflate and identity are read)', refused(6, 'unsupported_encoding', 'Unsupported Content-Encoding "br"; use gzip, deflate or none.')),
  503: hecReply('Vigil is busy (Splunk code 9): retry after the Retry-After seconds; nothing was stored', refused(9, 'ingest_busy', 'Vigil is busy ingesting; retry later.'))
}

/** The replies of the health routes. */
export const HEC_HEALTH_REPLIES = {
  200: hecReply('Healthy: the database answers and ingestion has room', { text: 'HEC is healthy', code: 17 }),
  503: hecReply('Unhealthy: the database does not answer, or every ingestion slot is taken', { text: 'HEC is unhealthy, queues are full', code: 18 })
}

export const HecQuery = Type.Object(
  { channel: Type.Optional(Type.String({ description: 'Splunk data channel; accepted and ignored' })) },
  { additionalProperties: true }
)

const ENVELOPES =
  '{"time":1795464507.868,"host":"host01","source":"sshd","event":{"message":"Failed password","severity":"warn","event_type":"intrusion","id":"HEC-2"}}' +
  '{"time":1795464507.870,"host":"host01","event":"Accepted publickey for deploy","fields":{"severity":"info","event_type":"anomaly"}}'

export const HecBody = RawBody(
  'Event envelopes {time, host, source, sourcetype, index, event, fields}, concatenated with or without ' +
    'separators; any content type; Content-Encoding gzip or deflate.',
  {
    'application/json': {
      example: {
        time: 1795464507.868,
        host: 'host01',
        source: 'sshd',
        event: { message: 'Failed password for root', severity: 'warn', event_type: 'intrusion', id: 'HEC-1' }
      },
      description: 'One envelope, or several concatenated (as Splunk libraries send them)'
    },
    'text/plain': { example: ENVELOPES, description: 'Envelopes concatenated with or without separators' }
  }
)
