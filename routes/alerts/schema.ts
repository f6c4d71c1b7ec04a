import { Type } from '@sinclair/typebox'
import { ALERT_STATUSES, BULK_JOB_STATES, EVENT_TYPES, SEVERITIES, VERDICTS, type Verdict as VerdictValue } from '../../src/db/schema.js'
import { AlertStatus, Detections, EventTypeSchema, IdParam, IsoDate, namedExamples, NullableTimestamp, PageQuery, Severity, StringEnum, Timestamp } from '../../src/schemas.js'
import { MAX_COMMENT_LENGTH } from '../../src/services/alert-comments.js'
import { MAX_BULK_IDS, MAX_REASON, MAX_TAGS } from '../../src/services/triage.js'
import { STATS_BUCKETS, STATS_TOP_SOURCES } from '../../src/services/alert-stats.js'

export const Verdict = StringEnum(VERDICTS, { description: 'What a resolved alert turned out to be: true_positive, benign_positive, false_positive, duplicate or other' })
/** A tag: a short label of letters, digits and `_ . : / @ -`, starting with a letter or digit. */
export const Tag = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9_.:/@-]*$', description: 'A label: letters, digits and _ . : / @ -' })
const Tags = (description: string) => Type.Array(Tag, { maxItems: MAX_TAGS, uniqueItems: true, description })
const Reason = Type.String({ maxLength: MAX_REASON })

export const AlertOut = Type.Object(
  {
    id: Type.Integer(),
    event: Type.Integer({ description: 'The id of the event that raised the alert' }),
    status: AlertStatus,
    severity: Severity,
    event_type: EventTypeSchema,
    source: Type.String(),
    detections: Detections,
    assignee: Type.Union([Type.Integer(), Type.Null()], { description: 'The id of the user the alert is assigned to, or null' }),
    // An enum with null among its values: the document shows it as a nullable enum.
    verdict: Type.Unsafe<VerdictValue | null>({
      type: ['string', 'null'],
      enum: [...VERDICTS, null],
      description: 'Set when the alert is resolved; cleared by a reopen'
    }),
    reason: Type.Union([Type.String(), Type.Null()], { description: "The verdict's reason" }),
    tags: Type.Array(Type.String()),
    acknowledged_at: { ...NullableTimestamp, description: 'The first time the alert left Open (time to acknowledge)' },
    resolved_at: { ...NullableTimestamp, description: 'When it was last resolved (time to resolve); null while it is not resolved' },
    version: Type.Integer({ description: 'One more on every change; the ETag, and what If-Match compares' }),
    occurrences: Type.Integer({ description: 'The events it stands for: 1, or more when repeats are grouped into it' }),
    first_seen: { ...NullableTimestamp, description: 'A grouped alert: when its first event was stored (null for an alert that was not grouped)' },
    last_seen: { ...NullableTimestamp, description: 'A grouped alert: when its latest event was stored' },
    previous_alert: Type.Union([Type.Integer(), Type.Null()], { description: 'The resolved alert of the same repeats that this one follows' }),
    fingerprint: Type.Union([Type.String(), Type.Null()], { description: 'What its grouped repeats share (a hash of the ALERT_GROUP_BY fields), or null' }),
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
        assignee: 4,
        verdict: null,
        reason: null,
        tags: ['ssh', 'edge'],
        acknowledged_at: '2026-11-24T10:04:12.000Z',
        resolved_at: null,
        version: 3,
        occurrences: 1,
        first_seen: null,
        last_seen: null,
        previous_alert: null,
        fingerprint: null,
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

/** The triage filters: the list, saved views and bulk jobs take them. */
export const TriageFilters = {
  verdict: Type.Optional(Verdict),
  assignee: Type.Optional(Type.String({ pattern: '^(me|[1-9][0-9]{0,15})$', maxLength: 16, description: 'A user id, or `me`' })),
  unassigned: Type.Optional(Type.Boolean({ description: 'true: only alerts nobody is assigned; false: only assigned ones' })),
  resolved: Type.Optional(Type.Boolean({ description: 'false: only alerts still Open or Acknowledged; true: only Resolved ones' })),
  tag: Type.Optional({ ...Tag, description: 'Only alerts with this tag' })
}

/** Every filter of the alert list: the list takes them with paging, a bulk job and a saved view without. */
export const AlertListFilters = {
  ...AlertFilters,
  ...TriageFilters,
  model: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Only alerts a detection model (its id) raised or matched' })),
  rule_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: "Only alerts a rule (its id) matched, or a correlation's rule fired" })),
  updated_since: Type.Optional({ ...IsoDate, description: 'Only alerts changed at or after this time; the list is then newest change first' })
}

export const AlertQuery = Type.Object({ ...PageQuery, ...AlertListFilters })

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

/** A triage: what a PATCH or a bulk change sets. */
const TriageFields = {
  status: Type.Optional(AlertStatus),
  verdict: Type.Optional(Verdict),
  reason: Type.Optional(Type.Union([Reason, Type.Null()], { description: "The verdict's reason when resolving; a reopen's reason (required) when reopening" })),
  assignee: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), Type.Null()], { description: 'A user who may triage alerts (responder or admin), or null to unassign' })),
  add_tags: Type.Optional(Tags('Tags to add')),
  remove_tags: Type.Optional(Tags('Tags to remove'))
}

export const AlertPatch = Type.Object(TriageFields, {
  additionalProperties: false,
  minProperties: 1,
  ...namedExamples({
    acknowledge: { summary: 'Acknowledge it and take it', description: '4 is a placeholder: the id of a responder or admin.', value: { status: 'Acknowledged', assignee: 4 } },
    resolve: { summary: 'Resolve it with a verdict', value: { status: 'Resolved', verdict: 'false_positive', reason: 'Vulnerability scanner run by IT' } },
    reopen: { summary: 'Reopen it', value: { status: 'Open', reason: 'The same host beaconed again' } },
    tag: { summary: 'Tag it', value: { add_tags: ['phishing'], remove_tags: ['triage'] } }
  })
})

export const AlertTriage = Type.Object(TriageFields, { additionalProperties: false, minProperties: 1, title: 'Triage' })

export const CommentParams = Type.Object({ id: IdParam, comment_id: IdParam })

export const CommentCreate = Type.Object(
  { body: Type.String({ minLength: 1, maxLength: MAX_COMMENT_LENGTH, pattern: '\\S', description: 'The text (not blank)' }) },
  { additionalProperties: false, examples: [{ body: 'Same source as last week: the IT scanner.' }] }
)

export const CommentOut = Type.Object(
  {
    id: Type.Integer(),
    alert: Type.Integer(),
    author_id: Type.Union([Type.Integer(), Type.Null()]),
    author: Type.Union([Type.String(), Type.Null()]),
    body: Type.String(),
    created_at: Timestamp
  },
  { title: 'Comment', examples: [{ id: 12, alert: 7, author_id: 4, author: 'rhea', body: 'Same source as last week: the IT scanner.', created_at: '2026-11-24T10:05:00.000Z' }] }
)

const Changes = Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])

export const HistoryOut = Type.Object(
  {
    id: Type.Integer(),
    created_at: Timestamp,
    actor_id: Type.Union([Type.Integer(), Type.Null()]),
    actor: Type.Union([Type.String(), Type.Null()], { description: 'Who: a username; null for the detection policy or the event' }),
    action: StringEnum(['raised', 'changed', 'repeated', 'commented', 'comment_deleted', 'linked', 'unlinked'] as const, {
      description: 'raised, changed (the fields in before and after), repeated (a grouped repeat: occurrences before and after), commented, comment_deleted, linked or unlinked (to an incident)'
    }),
    before: Changes,
    after: Changes
  },
  {
    title: 'History entry',
    examples: [
      { id: 31, created_at: '2026-11-24T10:09:00.000Z', actor_id: 4, actor: 'rhea', action: 'changed', before: { status: 'Acknowledged', verdict: null }, after: { status: 'Resolved', verdict: 'false_positive' } }
    ]
  }
)

export const BulkBody = Type.Object(
  {
    ids: Type.Optional(Type.Array(Type.Union([IdParam, Type.Object({ id: IdParam, version: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) }, { additionalProperties: false })], { title: 'Alert id, or id and version' }), {
      minItems: 1,
      maxItems: MAX_BULK_IDS,
      description: `At most ${MAX_BULK_IDS} alert ids, each alone or with the version it was read at (as If-Match)`
    })),
    filter: Type.Optional(
      Type.Object(AlertListFilters, { additionalProperties: false, description: 'The alert list\'s filters (as its query parameters): every alert matching them now, at any number, by a job' })
    ),
    set: AlertTriage
  },
  {
    additionalProperties: false,
    description: 'Either `ids` or `filter`, and `set`.',
    ...namedExamples({
      ids: { summary: 'By ids: answered at once', value: { ids: [7, { id: 8, version: 2 }], set: { status: 'Acknowledged', assignee: 4 } } },
      filter: { summary: 'By filter: a job', value: { filter: { source: 'scanner-01', status: 'Open' }, set: { status: 'Resolved', verdict: 'benign_positive', reason: 'Authorised scan' } } }
    })
  }
)

export const BulkJobOut = Type.Object(
  {
    id: Type.Integer(),
    state: StringEnum(BULK_JOB_STATES, { description: 'pending (its set not fixed yet), running or done' }),
    filter: Type.Record(Type.String(), Type.Unknown()),
    set: Type.Record(Type.String(), Type.Unknown()),
    matched: Type.Integer({ description: 'Alerts in its set, fixed when it started' }),
    updated: Type.Integer(),
    skipped: Type.Record(Type.String(), Type.Integer(), { description: 'Alerts left as they were, by why: transition_not_allowed, version_moved (changed since the set was fixed), unchanged, gone, ...' }),
    failed: Type.Integer(),
    error: Type.Union([Type.String(), Type.Null()], { description: 'The last failure, if any' }),
    created_by: Type.Union([Type.Integer(), Type.Null()]),
    created_at: Timestamp,
    started_at: NullableTimestamp,
    finished_at: NullableTimestamp
  },
  {
    title: 'Bulk job',
    examples: [
      {
        id: 3,
        state: 'done',
        filter: { source: 'scanner-01', status: 'Open' },
        set: { status: 'Resolved', verdict: 'benign_positive', reason: 'Authorised scan' },
        matched: 120000,
        updated: 119998,
        skipped: { version_moved: 2 },
        failed: 0,
        error: null,
        created_by: 4,
        created_at: '2026-11-24T10:00:00.000Z',
        started_at: '2026-11-24T10:00:01.000Z',
        finished_at: '2026-11-24T10:01:40.000Z'
      }
    ]
  }
)

export const BulkResult = Type.Object(
  {
    results: Type.Array(
      Type.Object({
        id: Type.Integer(),
        result: StringEnum(['updated', 'unchanged', 'skipped', 'not_found'] as const),
        reason: Type.Optional(Type.String({ description: 'Why it was skipped: transition_not_allowed, version_moved, reason_required, verdict_required, ...' })),
        detail: Type.Optional(Type.String()),
        alert: Type.Optional(AlertOut)
      })
    ),
    updated: Type.Integer(),
    unchanged: Type.Integer(),
    skipped: Type.Integer(),
    not_found: Type.Integer()
  },
  {
    title: 'Bulk change',
    examples: [
      {
        results: [
          { id: 7, result: 'updated' },
          { id: 8, result: 'skipped', reason: 'version_moved', detail: 'Alert 8 is at version 3; it changed since it was read.' }
        ],
        updated: 1,
        unchanged: 0,
        skipped: 1,
        not_found: 0
      }
    ]
  }
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
    }),
    response_times: Type.Object(
      Object.fromEntries(
        SEVERITIES.map((severity) => {
          const times = (description: string) =>
            Type.Object(
              {
                count: Type.Integer(),
                mean_seconds: Type.Union([Type.Number(), Type.Null()], { description: 'Mean, in seconds; null when count is 0' }),
                p90_seconds: Type.Union([Type.Number(), Type.Null()], { description: '90th percentile (interpolated), in seconds; null when count is 0' })
              },
              { description }
            )
          return [
            severity,
            Type.Object({
              acknowledge: times('From creation to acknowledged_at, over the alerts that have left Open (acknowledged or resolved)'),
              resolve: times('From creation to resolved_at, over the alerts resolved now')
            })
          ]
        })
      ),
      { description: 'Per severity, times to acknowledge and to resolve of the alerts created in the range that match the filters' }
    )
  },
  {
    title: 'Alert statistics',
    description: 'Counts of the alerts created in the range, by field, their histogram, and response times',
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
        ],
        response_times: {
          Low: { acknowledge: { count: 0, mean_seconds: null, p90_seconds: null }, resolve: { count: 0, mean_seconds: null, p90_seconds: null } },
          Medium: { acknowledge: { count: 0, mean_seconds: null, p90_seconds: null }, resolve: { count: 0, mean_seconds: null, p90_seconds: null } },
          High: { acknowledge: { count: 1, mean_seconds: 540, p90_seconds: 540 }, resolve: { count: 0, mean_seconds: null, p90_seconds: null } },
          Critical: { acknowledge: { count: 0, mean_seconds: null, p90_seconds: null }, resolve: { count: 0, mean_seconds: null, p90_seconds: null } }
        }
      }
    ]
  }
)

/** One change in the outbox: what `GET /api/alerts/stream` sends as an event's data. */
export const StreamChange = Type.Object(
  {
    alert: AlertOut,
    change: Type.Object({
      id: Type.Integer(),
      at: Timestamp,
      action: Type.String({ description: 'As in the history: raised, changed, repeated, commented, comment_deleted, linked, unlinked' }),
      actor: Type.Union([Type.String(), Type.Null()]),
      actor_id: Type.Union([Type.Integer(), Type.Null()]),
      before: Changes,
      after: Changes
    })
  },
  { title: 'Stream event data' }
)

const { updated_since: _since, ...StreamFilters } = AlertListFilters

export const StreamQuery = Type.Object({
  ...StreamFilters,
  after: Type.Optional(
    Type.String({ pattern: '^[0-9]{1,20}\\.[0-9]{1,19}$', maxLength: 40, description: 'Resume after this event id (what `Last-Event-ID` carries; the header wins when both are sent)' })
  ),
  ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'A stream ticket (POST /api/alerts/stream/ticket) instead of a bearer token, for EventSource' })),
  timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, description: 'End the stream after this many seconds (default 3600); the `end` event resumes it' }))
})

export const StreamTicket = Type.Object(
  {
    ticket: Type.String({ description: 'Use once, within 30 s: `GET /api/alerts/stream?ticket=…`' }),
    expires_at: Timestamp
  },
  { title: 'Stream ticket', examples: [{ ticket: 'vst_3q2-7wL0cVfS1kq9T0hQ8yU4eR6tY2uI5oP7aS9dF1g', expires_at: '2026-11-24T10:00:30.000Z' }] }
)
