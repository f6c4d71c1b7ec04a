import { Type } from '@sinclair/typebox'
import { ALERT_STATUSES } from '../../src/db/schema.js'
import { AlertStatus, EventTypeSchema, IsoDate, PageQuery, Severity, StringEnum, Timestamp } from '../../src/schemas.js'

export const AlertOut = Type.Object(
  {
    id: Type.Integer(),
    event: Type.Integer({ description: 'The id of the event that raised the alert' }),
    status: AlertStatus,
    severity: Severity,
    event_type: EventTypeSchema,
    source: Type.String(),
    created_at: Timestamp,
    updated_at: Timestamp
  },
  {
    examples: [
      {
        id: 7,
        event: 42,
        status: 'Open',
        severity: 'High',
        event_type: 'intrusion',
        source: 'fw-edge-01',
        created_at: '2026-11-24T10:00:00.000Z',
        updated_at: '2026-11-24T10:00:00.000Z'
      }
    ]
  }
)

export const AlertQuery = Type.Object({
  ...PageQuery,
  severity: Type.Optional(Severity),
  status: Type.Optional(AlertStatus),
  event_type: Type.Optional(EventTypeSchema),
  source: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  created_after: Type.Optional(IsoDate),
  created_before: Type.Optional(IsoDate)
})

export const AlertCreate = Type.Object(
  {
    event: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'The id of an existing event' }),
    status: Type.Optional(StringEnum(ALERT_STATUSES, { description: 'Open (default), Acknowledged or Resolved' }))
  },
  { additionalProperties: false, examples: [{ event: 42 }, { event: 42, status: 'Acknowledged' }] }
)

export const AlertPatch = Type.Object(
  { status: AlertStatus },
  { additionalProperties: false, examples: [{ status: 'Acknowledged' }] }
)
