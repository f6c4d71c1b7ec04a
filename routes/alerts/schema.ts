import { Type } from '@sinclair/typebox'
import { ALERT_STATUSES, EVENT_TYPES, SEVERITIES } from '../../src/db/schema.js'
import { AlertStatus, Detections, EventTypeSchema, IsoDate, namedExamples, PageQuery, Severity, StringEnum, Timestamp } from '../../src/schemas.js'
import { STATS_BUCKETS, STATS_TOP_SOURCES } from '../../src/services/alert-stats.js'

export const AlertOut = Type.Object(
  {
    id: Type.Integer(),
    event: Type.Integer({ description: 'The id of the event that raised the alert' }),
    status: AlertStatus,
    severity: Severity,
    event_type: EventTypeSchema,
    source: Type.String(),
    detections: Detections,
    created_at: Timestamp,
    updated_at: Timestamp
  },
  {
    title: 'Alert',
    examples: [
      {
        id: 7,
        event: 42,
        status: 'Open',
        severity: 'High',
        event_type: 'intrusion',
        source: 'fw-edge-01',
        detections: [
          { model_id: 3, model_name: 'SSH brute force', version: '1.0.0', rule_id: '4a6c1f0e-8f51-4c55-9e1b-7a0c2f3d5e03', title: 'SSH brute force from one address', level: 'high', count: 10, event_ids: [31, 32, 33, 34, 35, 36, 37, 38, 39, 40], group: { 'source.ip': '203.0.113.9' } }
        ],
        created_at: '2026-11-24T10:00:00.000Z',
        updated_at: '2026-11-24T10:00:00.000Z'
      }
    ]
  }
)

/** The filters of the alert list, which the statistics take too. */
const AlertFilters = {
  severity: Type.Optional(Severity),
  status: Type.Optional(AlertStatus),
  event_type: Type.Optional(EventTypeSchema),
  source: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  created_after: Type.Optional(IsoDate),
  created_before: Type.Optional(IsoDate)
}

export const AlertQuery = Type.Object({
  ...PageQuery,
  ...AlertFilters,
  model: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Only alerts a detection model (its id) raised or matched' })),
  rule_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: "Only alerts a rule (its id) matched, or a correlation's rule fired" })),
  updated_since: Type.Optional({ ...IsoDate, description: 'Only alerts changed at or after this time; the list is then newest change first' })
})

export const AlertCreate = Type.Object(
  {
    event: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'The id of an existing event' }),
    status: Type.Optional(StringEnum(ALERT_STATUSES, { description: 'Open (default), Acknowledged or Resolved' }))
  },
  {
    additionalProperties: false,
    ...namedExamples({
      open: {
        summary: 'Raise an Open alert for an event',
        description: '42 is a placeholder: the id of one of your events that has no alert yet (GET /api/events; High and Critical events have one already).',
        value: { event: 42 }
      },
      acknowledged: {
        summary: 'Raise it already acknowledged',
        description: '42 is a placeholder, as above.',
        value: { event: 42, status: 'Acknowledged' }
      }
    })
  }
)

export const AlertPatch = Type.Object(
  { status: AlertStatus },
  { additionalProperties: false, examples: [{ status: 'Acknowledged' }] }
)

export const AlertStatsQuery = Type.Object({
  ...AlertFilters,
  bucket: Type.Optional(StringEnum(STATS_BUCKETS, { description: 'Histogram bucket: minute, hour (default) or day' }))
})

const counts = <T extends readonly string[]>(keys: T) => Type.Object(Object.fromEntries(keys.map((k) => [k, Type.Integer()])))

export const AlertStats = Type.Object(
  {
    from: Timestamp,
    to: Timestamp,
    bucket: StringEnum(STATS_BUCKETS),
    total: Type.Integer({ description: 'Alerts created in the range that match the filters' }),
    by_severity: counts(SEVERITIES),
    by_status: counts(ALERT_STATUSES),
    by_event_type: counts(EVENT_TYPES),
    by_source: Type.Array(Type.Object({ source: Type.String(), count: Type.Integer() }), {
      description: `The ${STATS_TOP_SOURCES} sources with most alerts, most first`
    }),
    histogram: Type.Array(Type.Object({ start: Timestamp, count: Type.Integer() }), {
      description: 'Every bucket of the range, oldest first, empty ones with count 0 (UTC)'
    })
  },
  {
    title: 'Alert statistics',
    description: 'Counts of the alerts created in the range, by field, and their histogram',
    examples: [
      {
        from: '2026-11-24T08:00:00.000Z',
        to: '2026-11-24T10:30:00.000Z',
        bucket: 'hour',
        total: 3,
        by_severity: { Low: 0, Medium: 0, High: 2, Critical: 1 },
        by_status: { Open: 2, Acknowledged: 1, Resolved: 0 },
        by_event_type: { intrusion: 2, malware: 1, anomaly: 0 },
        by_source: [{ source: 'fw-edge-01', count: 2 }, { source: 'edr-07', count: 1 }],
        histogram: [
          { start: '2026-11-24T08:00:00Z', count: 1 },
          { start: '2026-11-24T09:00:00Z', count: 0 },
          { start: '2026-11-24T10:00:00Z', count: 2 }
        ]
      }
    ]
  }
)
