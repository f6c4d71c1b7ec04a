// Suppression schemas: request shapes validated on the way in, and the response shape that is the
// allow-list of what leaves the server. What a shape cannot say (at least one condition, field
// paths, an expiry in the future and within the year, an active owner) is checked by
// src/services/suppressions.ts.
import { Type } from '@sinclair/typebox'
import { VERDICTS } from '../../src/db/schema.js'
import { EventTypeSchema, IdParam, MAX_SOURCE, namedExamples, PageQuery, Severity, StringEnum, Timestamp } from '../../src/schemas.js'
import { MAX_FIELD_VALUE, MAX_SUPPRESSION_DAYS, MAX_SUPPRESSION_FIELDS, MAX_SUPPRESSION_REASON } from '../../src/services/suppressions.js'

const Source = Type.String({ minLength: 1, maxLength: MAX_SOURCE, description: "Only events of this source (exactly the event's `source`)" })
const RuleId = Type.String({ minLength: 1, maxLength: 255, description: 'Only events a rule of this id detected (a detection\'s `rule_id`)' })

const Fields = Type.Object(
  {},
  {
    additionalProperties: Type.String({ minLength: 1, maxLength: MAX_FIELD_VALUE }),
    maxProperties: MAX_SUPPRESSION_FIELDS,
    description:
      `Only events whose record has these values: field path -> value (at most ${MAX_SUPPRESSION_FIELDS}). A path is a record's key or a ` +
      'dotted path through it, or a mapped field as detection rules read them (`source.ip`, `user.name`; docs/detection-fields.md): ' +
      'letters, digits, `_ . @ -`, at most 128 characters, not starting with `.` or `-`. A value (one line, at most ' +
      `${MAX_FIELD_VALUE} characters) holds when the field is a string, number or boolean of exactly that text, or an array holding one.`
  }
)

const Reason = Type.String({ minLength: 1, maxLength: MAX_SUPPRESSION_REASON, description: 'Why these events raise no alert: a note, trimmed (line breaks allowed)' })
const Owner = { ...IdParam, description: 'The id of the active user who answers for it (default: you)' }
const ExpiresAt = Type.String({
  format: 'date-time',
  description: `RFC 3339 date-time with a time zone, in the future and at most ${MAX_SUPPRESSION_DAYS} days ahead; from then on it no longer applies`
})
const VerdictSchema = StringEnum(VERDICTS, { description: 'true_positive, benign_positive, false_positive, duplicate or other' })

const ResolveMatching = Type.Object(
  {
    verdict: VerdictSchema,
    reason: Type.Optional(Type.String({ maxLength: MAX_SUPPRESSION_REASON, description: 'Recorded on each alert resolved' }))
  },
  {
    additionalProperties: false,
    description:
      'Also resolve the open alerts (Open or Acknowledged) the match names, with this verdict: a bulk job (`bulk_job`, ' +
      'GET /api/alerts/bulk/{id}/) over the alerts matching source, event_type, severity and rule_id when it is asked for. ' +
      'Not with `fields`: alerts carry no event fields.'
  }
)

// Thirty days from when the process started (to the minute), so the examples run as shown.
const in30Days = new Date(Math.floor(Date.now() / 60_000) * 60_000 + 30 * 86_400_000).toISOString()

export const SuppressionBody = Type.Object(
  {
    source: Type.Optional(Source),
    event_type: Type.Optional(EventTypeSchema),
    severity: Type.Optional(Severity),
    rule_id: Type.Optional(RuleId),
    fields: Type.Optional(Fields),
    reason: Reason,
    owner: Type.Optional(Owner),
    expires_at: ExpiresAt,
    resolve_matching: Type.Optional(ResolveMatching)
  },
  {
    additionalProperties: false,
    ...namedExamples({
      scanner: {
        summary: 'The vulnerability scanner, for a month',
        value: { source: 'vuln-scanner-01', reason: 'Weekly authenticated scan; CHG-4121.', expires_at: in30Days }
      },
      fields: {
        summary: 'One rule, from one address',
        value: {
          rule_id: '6e0c5a9e-2f3b-4a51-9d6f-0b8f3f1b2a10',
          fields: { 'source.ip': '10.0.0.4', 'user.name': 'deploy' },
          reason: 'The deploy job logs in by password until INFRA-88 lands.',
          expires_at: in30Days
        }
      },
      resolve: {
        summary: 'And resolve the open alerts it matches',
        value: {
          source: 'vuln-scanner-01',
          severity: 'High',
          reason: 'Scanner findings are tracked in the VM tool.',
          expires_at: in30Days,
          resolve_matching: { verdict: 'benign_positive', reason: 'Scanner traffic' }
        }
      }
    })
  }
)

export const SuppressionPatch = Type.Object(
  {
    reason: Type.Optional(Reason),
    owner: Type.Optional(Owner),
    expires_at: Type.Optional(ExpiresAt)
  },
  {
    additionalProperties: false,
    ...namedExamples({
      extend: { summary: 'Extend it', value: { expires_at: in30Days } },
      owner: { summary: 'Hand it over', description: 'Replace 2 with the id of an active user.', value: { owner: 2, reason: 'Alice owns the scanner now.' } }
    })
  }
)

export const SuppressionQuery = Type.Object({
  ...PageQuery,
  active: Type.Optional(Type.Boolean({ description: 'true: only unexpired ones; false: only expired or ended ones' })),
  owner: Type.Optional({ ...IdParam, description: "The owner's user id" })
})

const NullableText = (title: string, description: string) => Type.Union([Type.String(), Type.Null()], { title, description })
const UserRef = (title: string, description: string) => Type.Union([Type.Integer(), Type.Null()], { title, description })

const suppressionExample = {
  id: 7,
  source: 'vuln-scanner-01',
  event_type: null,
  severity: 'High',
  rule_id: null,
  fields: {},
  reason: 'Scanner findings are tracked in the VM tool.',
  owner: 2,
  created_by: 1,
  expires_at: in30Days,
  active: true,
  hits: 1312,
  last_hit_at: '2026-11-25T08:00:12.000Z',
  created_at: '2026-11-24T10:05:00.000Z',
  updated_at: '2026-11-24T10:05:00.000Z'
}

const suppressionFields = {
  id: Type.Integer(),
  source: NullableText('Source', 'The source it matches, or null for any'),
  event_type: Type.Union([EventTypeSchema, Type.Null()], { title: 'Event type', description: 'The event type it matches, or null for any' }),
  severity: Type.Union([Severity, Type.Null()], { title: 'Severity', description: 'The severity it matches (after detection raised it), or null for any' }),
  rule_id: NullableText('Rule id', 'The rule id it matches, or null for any'),
  fields: Type.Object({}, { additionalProperties: Type.String(), description: 'Field path -> value it matches; empty for none' }),
  reason: Type.String(),
  owner: UserRef('Owner', "The owner's user id; null once that user is deleted"),
  created_by: UserRef('Creator', 'The id of the user who created it; null once that user is deleted'),
  expires_at: Timestamp,
  active: Type.Boolean({ description: 'Not yet expired: events it matches raise no alert' }),
  hits: Type.Integer({ description: 'Events it held back (written every second)' }),
  last_hit_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { title: 'Last hit at' }),
  created_at: Timestamp,
  updated_at: Timestamp
}

export const SuppressionOut = Type.Object(suppressionFields, { title: 'Suppression', examples: [suppressionExample] })

export const SuppressionCreated = Type.Object(
  {
    ...suppressionFields,
    bulk_job: Type.Union([Type.Integer(), Type.Null()], {
      title: 'Bulk job',
      description: 'With resolve_matching: the id of the job resolving the open alerts it matches (GET /api/alerts/bulk/{id}/); else null'
    })
  },
  { title: 'Suppression created', examples: [{ ...suppressionExample, hits: 0, last_hit_at: null, bulk_job: 12 }] }
)
