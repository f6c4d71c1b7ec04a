// Schemas of the native bulk endpoint. The body is raw bytes (any content type, maybe compressed),
// so it is documented here rather than validated: src/ingest parses and checks every record.
import { Type } from '@sinclair/typebox'
import { RawBody } from '../../src/schemas.js'

// Each content type's example names records of its own, so each stores its records the first time.
// Every record is complete (an admin's token brings no ingest-key defaults), in the field names
// of the shippers that send them (host, level, message, id).
const NDJSON =
  '{"source":"fw-edge-01","event_type":"intrusion","severity":"High","description":"Port scan","external_id":"fw-1"}\n' +
  '{"host":"web-02","event_type":"intrusion","level":"warning","message":"Failed password for root","id":"sshd-7"}\n'
const TEXT =
  '{"source":"fw-edge-03","event_type":"anomaly","severity":"Medium","description":"Unusual outbound volume","external_id":"fw-3"}\n' +
  '{"host":"web-04","event_type":"intrusion","level":"error","message":"Too many authentication failures for admin","id":"sshd-9"}\n'

/**
 * The body: raw bytes in any content type (src/ingest parses it), documented for the three
 * content types shippers use, each with an example the docs page sends as shown. Any other
 * content type (curl's default application/x-www-form-urlencoded too) is read the same way.
 */
export const BulkBody = RawBody(
  'NDJSON (blank lines ignored, trailing newline optional), a JSON array of records, or {"events": [...]} / ' +
    '{"logs": [...]}; any content type, newline-separated objects are NDJSON whatever it says. ' +
    'Content-Encoding gzip or deflate.',
  {
    'application/x-ndjson': { example: NDJSON, description: 'One JSON record per line (NDJSON)' },
    'application/json': {
      example: [
        { source: 'fw-edge-02', event_type: 'intrusion', severity: 'Critical', description: 'Beaconing to a known C2 host', external_id: 'fw-2' },
        { host: 'web-03', event_type: 'anomaly', level: 'info', message: 'Accepted publickey for deploy', id: 'sshd-8' }
      ],
      description: 'A JSON array of records, or {"events": [...]} / {"logs": [...]}'
    },
    'text/plain': { example: TEXT, description: 'NDJSON under any other label: read the same way' }
  }
)

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
    title: 'Bulk result',
    description: 'What became of each record: stored, duplicate or rejected (with why)',
    examples: [
      { accepted: 998, duplicates: 1, rejected: 1, errors: [{ index: 17, detail: 'Invalid severity "Extreme": not a known severity.' }] }
    ]
  }
)
