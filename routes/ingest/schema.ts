// Schemas of the native bulk endpoint. The body is raw bytes (any content type, maybe compressed),
// so it is documented here rather than validated: src/ingest parses and checks every record.
import { Type } from '@sinclair/typebox'

/** Content types shippers label these bodies with; any other (or none) is accepted too. */
export const INGEST_CONTENT_TYPES = [
  'application/x-ndjson',
  'application/json',
  'text/plain',
  'application/x-www-form-urlencoded'
]

export const RawBody = Type.Unsafe<Buffer | undefined>({
  description:
    'NDJSON (blank lines ignored, trailing newline optional), a JSON array of records, or {"events": [...]} / ' +
    '{"logs": [...]}; any content type, newline-separated objects are NDJSON whatever it says. ' +
    'Content-Encoding gzip or deflate.',
  examples: [
    '{"source":"fw-edge-01","event_type":"intrusion","severity":"High","description":"Port scan","external_id":"fw-1"}\n' +
      '{"host":"web-02","level":"warning","message":"Failed password for root","id":"sshd-7"}\n'
  ]
})

export const NoQuery = Type.Object({}, { additionalProperties: true })

export const BulkReply = Type.Object(
  {
    accepted: Type.Integer({ description: 'Records stored as new events' }),
    duplicates: Type.Integer({ description: 'Records whose (source, external_id) was already stored, or repeated in this request' }),
    rejected: Type.Integer({ description: 'Records refused; see errors' }),
    errors: Type.Array(
      Type.Object({
        index: Type.Integer({ description: 'Position of the record in the request, from 0' }),
        detail: Type.String()
      })
    )
  },
  {
    examples: [
      { accepted: 998, duplicates: 1, rejected: 1, errors: [{ index: 17, detail: 'Invalid severity "Extreme": not a known severity.' }] }
    ]
  }
)
