// Splunk HTTP Event Collector shapes: replies are {text, code}, with Splunk's codes.
import { Type } from '@sinclair/typebox'
import { ErrorCodeSchema } from '../../src/schemas.js'

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
  { examples: [{ text: 'Success', code: 0 }] }
)

export const hecReplies = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, HecReply]))

export const HecQuery = Type.Object(
  { channel: Type.Optional(Type.String({ description: 'Splunk data channel; accepted and ignored' })) },
  { additionalProperties: true }
)

export const HecBody = Type.Unsafe<Buffer | undefined>({
  description:
    'Event envelopes {time, host, source, sourcetype, index, event, fields}, concatenated with or without ' +
    'separators; any content type; Content-Encoding gzip or deflate.',
  examples: [
    '{"time":1795464507.868,"host":"host01","source":"sshd","event":{"message":"Failed password","severity":"warn","id":"HEC-1"}}' +
      '{"time":1795464507.870,"host":"host01","event":"Accepted publickey for deploy"}'
  ]
})
