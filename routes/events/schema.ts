// Event schemas: the request shapes validated on the way in and the response shape that is the
// allow-list of what leaves the server.
import { Type, type Static } from '@sinclair/typebox'
import { Description, EventTypeSchema, IsoDate, NullableIsoDate, NullableTimestamp, PageQuery, Severity, Source, Timestamp, Detections } from '../../src/schemas.js'

export const Attributes = Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()], {
  description: 'Free-form details from the source, kept for forensics'
})

export const EventBody = Type.Object(
  {
    source: Source,
    event_type: EventTypeSchema,
    severity: Severity,
    description: Type.Optional(Description),
    occurred_at: Type.Optional(NullableIsoDate("The source's own time: an ISO 8601 date or date-time, or null")),
    external_id: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Null()], { description: "The sender's id" })
    ),
    attributes: Type.Optional(Attributes)
  },
  {
    additionalProperties: false,
    examples: [{ source: 'fw-edge-01', event_type: 'intrusion', severity: 'High', description: 'Port scan from 203.0.113.7' }]
  }
)
export type EventBodyT = Static<typeof EventBody>
export const EventPatch = Type.Partial(EventBody, { additionalProperties: false })

export const EventOut = Type.Object(
  {
    id: Type.Integer(),
    source: Type.String(),
    event_type: EventTypeSchema,
    severity: Severity,
    description: Type.String(),
    timestamp: Timestamp,
    occurred_at: NullableTimestamp,
    external_id: Type.Union([Type.String(), Type.Null()]),
    attributes: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
    detections: Detections,
    suppression: Type.Union([Type.Integer(), Type.Null()], { description: 'The suppression that matched when the event was stored: it raised no alert' }),
    updated_at: Timestamp
  },
  {
    title: 'Event',
    examples: [
      {
        id: 42,
        source: 'fw-edge-01',
        event_type: 'intrusion',
        severity: 'High',
        description: 'Port scan from 203.0.113.7',
        timestamp: '2026-11-24T10:00:00.000Z',
        occurred_at: null,
        external_id: null,
        attributes: null,
        detections: null,
        suppression: null,
        updated_at: '2026-11-24T10:00:00.000Z'
      }
    ]
  }
)

export const EventQuery = Type.Object({
  ...PageQuery,
  severity: Type.Optional(Severity),
  event_type: Type.Optional(EventTypeSchema),
  source: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  timestamp_after: Type.Optional(IsoDate),
  timestamp_before: Type.Optional(IsoDate),
  updated_since: Type.Optional({ ...IsoDate, description: 'Only events changed at or after this time; the list is then newest change first' })
})
