// Webhook schemas: request shapes validated on the way in, and the response shapes that are the
// allow-list of what leaves the server. A secret appears in two responses only: the 201 of a
// create and the 200 of a rotation. A webhook's filter is the alert list's (its query schema,
// without paging), so a filter added to the list is one a webhook may hold.
import { Type, type TObject } from '@sinclair/typebox'
import { WEBHOOK_DELIVERY_STATES } from '../../src/db/schema.js'
import { IdParam, namedExamples, NullableTimestamp, PageQuery, StringEnum, Timestamp } from '../../src/schemas.js'
import { DEFAULT_OVERLAP_S, MAX_OVERLAP_S, MAX_WEBHOOK_NAME, TEST_EVENT_TYPE, WEBHOOK_EVENT_TYPES } from '../../src/services/webhooks.js'
import { MAX_WEBHOOK_URL } from '../../src/services/webhook-targets.js'
import { AlertQuery } from '../alerts/schema.js'

/** The alert list's filters a webhook takes: its query parameters but paging and updated_since. */
const LIST_ONLY = [...Object.keys(PageQuery), 'updated_since']
const filterProperties = Object.fromEntries(Object.entries((AlertQuery as TObject).properties).filter(([name]) => !LIST_ONLY.includes(name)))

export const WebhookFilter = Type.Object(filterProperties, {
  // Unknown names are refused, not dropped (as unknown body fields are): a filter that lost a name would deliver too much.
  additionalProperties: Type.Never({ description: 'Not a filter of the alert list' }),
  description:
    "Only changes to alerts matching the alert list's filters (as its query parameters, typed as JSON: booleans and numbers as such): " +
    `${Object.keys(filterProperties).sort().join(', ')}. Empty: every alert. \`assignee: "me"\` is stored as your id.`
})

const EventType = StringEnum(WEBHOOK_EVENT_TYPES, { description: `An alert change: ${WEBHOOK_EVENT_TYPES.join(', ')}` })
const EventTypes = Type.Array(EventType, {
  maxItems: WEBHOOK_EVENT_TYPES.length,
  uniqueItems: true,
  description: 'The change types delivered; empty (the default): all of them'
})
const Name = Type.String({ minLength: 1, maxLength: MAX_WEBHOOK_NAME, pattern: '\\S', description: 'What the webhook is for: one line' })
const Url = Type.String({
  format: 'uri',
  minLength: 1,
  maxLength: MAX_WEBHOOK_URL,
  description:
    'Where deliveries are POSTed: http or https, no credentials in it; its host must resolve to public addresses only ' +
    '(loopback, private, link-local and other internal ones are refused, 400 webhook_url_refused, unless WEBHOOK_ALLOW_PRIVATE is set)'
})
const Active = Type.Boolean({ description: 'Delivering (default true). Turned on again, it delivers the changes made from then on' })

export const WebhookCreate = Type.Object(
  { name: Name, url: Url, event_types: Type.Optional(EventTypes), filter: Type.Optional(WebhookFilter), active: Type.Optional(Active) },
  {
    additionalProperties: false,
    ...namedExamples({
      all: { summary: 'Every alert change', value: { name: 'SOAR intake', url: 'https://soar.example.com/hooks/vigil' } },
      critical: {
        summary: 'New critical alerts only',
        value: { name: 'Pager', url: 'https://pager.example.com/v1/vigil', event_types: ['alert.raised', 'alert.repeated'], filter: { severity: 'Critical' } }
      }
    })
  }
)

export const WebhookPatch = Type.Object(
  { name: Type.Optional(Name), url: Type.Optional(Url), event_types: Type.Optional(EventTypes), filter: Type.Optional(WebhookFilter), active: Type.Optional(Active) },
  {
    additionalProperties: false,
    ...namedExamples({
      pause: { summary: 'Turn it off', value: { active: false } },
      resume: { summary: 'Turn it on again', value: { active: true } },
      filter: { summary: 'Only high and critical changes', value: { filter: { severity: 'High' }, event_types: [] } }
    })
  }
)

export const WebhookQuery = Type.Object({
  ...PageQuery,
  active: Type.Optional(Type.Boolean({ description: 'true: only webhooks delivering; false: only those turned off' }))
})

export const RotateBody = Type.Object(
  {
    overlap_seconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: MAX_OVERLAP_S,
        default: DEFAULT_OVERLAP_S,
        description: `How long the secret replaced keeps signing beside the new one (default ${DEFAULT_OVERLAP_S}, a day; at most ${MAX_OVERLAP_S}; 0: it stops at once)`
      })
    )
  },
  {
    additionalProperties: false,
    ...namedExamples({
      day: { summary: 'Both sign for a day', value: {} },
      hour: { summary: 'Both sign for an hour', value: { overlap_seconds: 3600 } },
      now: { summary: 'The old one stops at once (it leaked)', value: { overlap_seconds: 0 } }
    })
  }
)

export const DeliveryParams = Type.Object({ id: IdParam, delivery_id: IdParam })

export const DeliveryQuery = Type.Object({
  ...PageQuery,
  state: Type.Optional(StringEnum(WEBHOOK_DELIVERY_STATES, { description: 'pending, delivered or failed' }))
})

const NullableText = (title: string, description: string) => Type.Union([Type.String(), Type.Null()], { title, description })
const NullableInt = (title: string, description: string) => Type.Union([Type.Integer(), Type.Null()], { title, description })

const webhookExample = {
  id: 3,
  name: 'SOAR intake',
  url: 'https://soar.example.com/hooks/vigil',
  event_types: [],
  filter: { severity: 'Critical' },
  active: true,
  disabled_reason: null,
  failing_since: null,
  previous_secret_until: null,
  created_by: 1,
  created_at: '2026-11-24T10:00:00.000Z',
  updated_at: '2026-11-24T10:00:00.000Z'
}

const webhookFields = {
  id: Type.Integer(),
  name: Type.String(),
  url: Type.String(),
  event_types: Type.Array(Type.String(), { description: 'The change types delivered; empty: all' }),
  filter: Type.Object({}, { additionalProperties: true, description: "The alert list's filters changes must match; empty: every alert" }),
  active: Type.Boolean({ description: 'Delivering' }),
  disabled_reason: NullableText('Disabled reason', 'Why Vigil turned it off (410 Gone, or days of failures); null otherwise'),
  failing_since: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { title: 'Failing since', description: 'Since when every attempt failed; null once one succeeds' }),
  previous_secret_until: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    title: 'Previous secret until',
    description: 'During a rotation: until when the secret replaced still signs beside the new one'
  }),
  created_by: NullableInt('Creator', 'The id of the user who created it; null once that user is deleted'),
  created_at: Timestamp,
  updated_at: Timestamp
}

export const WebhookOut = Type.Object(webhookFields, { title: 'Webhook', examples: [webhookExample] })

const Secret = Type.String({
  pattern: '^whsec_[A-Za-z0-9+/=]+$',
  description: 'The signing secret, `whsec_` and base64 of 32 random bytes: shown this once, keep it where the receiver verifies'
})
const exampleSecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw/HQxWNwTsB0='

export const WebhookCreated = Type.Object({ ...webhookFields, secret: Secret }, { title: 'Webhook created', examples: [{ ...webhookExample, secret: exampleSecret }] })

export const WebhookRotated = Type.Object(
  { ...webhookFields, secret: Secret },
  { title: 'Webhook secret rotated', examples: [{ ...webhookExample, previous_secret_until: '2026-11-25T10:00:00.000Z', secret: exampleSecret }] }
)

const AttemptOut = Type.Object(
  {
    at: Timestamp,
    status: NullableInt('Status', 'The HTTP status answered; null when none came (refused, timed out, address not allowed)'),
    latency_ms: Type.Integer({ description: 'From the start of the attempt to its answer or failure' }),
    error: NullableText('Error', 'What went wrong, when it did without a status or with a redirect'),
    response: NullableText('Response', 'The first KiB of the answer, control characters removed')
  },
  { title: 'Attempt' }
)

const deliveryExample = {
  id: 812,
  webhook: 3,
  message_id: 'msg_6f1c0d2e9a8b4c7d8e9f0a1b2c3d4e5f',
  type: 'alert.raised',
  state: 'delivered',
  attempt_count: 2,
  next_attempt_at: null,
  last_status: 200,
  last_error: null,
  last_latency_ms: 84,
  delivered_at: '2026-11-24T10:00:05.300Z',
  created_at: '2026-11-24T10:00:00.100Z',
  payload: '{"type":"alert.raised","timestamp":"2026-11-24T10:00:00.000Z","data":{"alert":{"id":7},"change":{"id":55,"action":"raised"}}}',
  attempts: [
    { at: '2026-11-24T10:00:00.120Z', status: 503, latency_ms: 31, error: null, response: 'busy' },
    { at: '2026-11-24T10:00:05.210Z', status: 200, latency_ms: 84, error: null, response: 'ok' }
  ]
}

export const DeliveryOut = Type.Object(
  {
    id: Type.Integer(),
    webhook: Type.Integer({ description: 'The webhook it goes to' }),
    message_id: Type.String({ description: 'The `webhook-id` header, the same on every attempt: receivers deduplicate by it' }),
    type: Type.String({ description: `The body's \`type\`: alert.<change>, or ${TEST_EVENT_TYPE}` }),
    state: StringEnum(WEBHOOK_DELIVERY_STATES, { description: 'pending (due at next_attempt_at), delivered (a 2xx came) or failed (the schedule ran out, or 410)' }),
    attempt_count: Type.Integer({ description: 'Attempts made' }),
    next_attempt_at: { ...NullableTimestamp, title: 'Next attempt at', description: 'When it is attempted next, while pending' },
    last_status: NullableInt('Last status', "The last attempt's HTTP status"),
    last_error: NullableText('Last error', "The last attempt's error"),
    last_latency_ms: NullableInt('Last latency', "The last attempt's latency, ms"),
    delivered_at: { ...NullableTimestamp, title: 'Delivered at', description: 'When a 2xx came' },
    created_at: Timestamp,
    payload: Type.String({ description: 'The body exactly as sent: {type, timestamp, data: {alert, change}}' }),
    attempts: Type.Array(AttemptOut, { description: 'Its attempts, oldest first (the latest 50)' })
  },
  { title: 'Webhook delivery', examples: [deliveryExample] }
)
