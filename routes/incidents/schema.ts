// Incident schemas: request shapes validated on the way in, and the response shape that is the
// allow-list of what leaves the server. Entity values are checked per type by
// src/services/entities.ts after the schema has checked their shape.
import { Type } from '@sinclair/typebox'
import { ENTITY_TYPES } from '../../src/db/schema.js'
import { Description, IdParam, IncidentStatus, namedExamples, PageQuery, Severity, StringEnum, Timestamp } from '../../src/schemas.js'
import { ENTITY_RULES, MAX_ENTITY_VALUE } from '../../src/services/entities.js'
import { AlertOut } from '../alerts/schema.js'

export const MAX_TITLE = 200
/** Bounds on what one request may link or add, so one body cannot hold the database for long. */
export const MAX_ALERT_IDS = 500
export const MAX_ENTITIES = 500

export const EntityTypeSchema = StringEnum(ENTITY_TYPES, {
  description: Object.entries(ENTITY_RULES)
    .map(([type, rule]) => `${type}: ${rule}`)
    .join('; ')
})

const Title = Type.String({ minLength: 1, maxLength: MAX_TITLE, description: 'One line; trimmed' })
const Assignee = Type.Union([Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), Type.Null()], {
  description: 'Id of an active user, or null for nobody'
})
const AlertIds = (minItems: number) =>
  Type.Array(IdParam, {
    minItems,
    maxItems: MAX_ALERT_IDS,
    uniqueItems: true,
    description: `Ids of existing alerts (at most ${MAX_ALERT_IDS}, no repeats)`
  })

export const EntityBody = Type.Object(
  {
    type: EntityTypeSchema,
    value: Type.String({ minLength: 1, maxLength: MAX_ENTITY_VALUE, description: 'Validated and normalised per type' })
  },
  { additionalProperties: false, examples: [{ type: 'ip', value: '203.0.113.7' }] }
)

export const IncidentBody = Type.Object(
  {
    title: Title,
    description: Type.Optional(Description),
    severity: Severity,
    status: Type.Optional(IncidentStatus),
    assignee: Type.Optional(Assignee),
    alert_ids: Type.Optional(AlertIds(0)),
    entities: Type.Optional(Type.Array(EntityBody, { maxItems: MAX_ENTITIES, description: `At most ${MAX_ENTITIES}` }))
  },
  {
    additionalProperties: false,
    ...namedExamples({
      new: {
        summary: 'An incident with its entities',
        value: {
          title: 'Port scan followed by SSH brute force on fw-edge-01',
          description: 'Scan from 203.0.113.7, then 400 failed SSH logins.',
          severity: 'High',
          entities: [
            { type: 'ip', value: '203.0.113.7' },
            { type: 'hostname', value: 'fw-edge-01' }
          ]
        }
      },
      linked: {
        summary: 'With linked alerts and an assignee',
        description: 'The ids are placeholders: alert ids from GET /api/alerts, the id of an active user from GET /api/users.',
        value: {
          title: 'Port scan followed by SSH brute force on fw-edge-01',
          severity: 'High',
          assignee: 2,
          alert_ids: [7, 8]
        }
      }
    })
  }
)

export const IncidentPatch = Type.Object(
  {
    title: Type.Optional(Title),
    description: Type.Optional(Description),
    severity: Type.Optional(Severity),
    status: Type.Optional(IncidentStatus),
    assignee: Type.Optional(Assignee)
  },
  {
    additionalProperties: false,
    ...namedExamples({
      contain: { summary: 'Mark it contained', value: { status: 'Contained' } },
      assign: { summary: 'Assign it', description: '3 is a placeholder: the id of an active user (GET /api/users).', value: { assignee: 3 } },
      unassign: { summary: 'Unassign it', value: { assignee: null } }
    })
  }
)

export const LinkBody = Type.Object(
  {
    alert_ids: Type.Optional(AlertIds(1)),
    alert_id: Type.Optional(IdParam)
  },
  {
    additionalProperties: false,
    description: 'Either `alert_ids` or `alert_id`',
    ...namedExamples({
      several: { summary: 'Link several alerts', description: 'The ids are placeholders: alert ids from GET /api/alerts.', value: { alert_ids: [9, 10] } },
      one: { summary: 'Link one alert', description: 'The id is a placeholder: an alert id from GET /api/alerts.', value: { alert_id: 11 } }
    })
  }
)

export const EntityOut = Type.Object(
  {
    id: Type.Integer(),
    type: EntityTypeSchema,
    value: Type.String(),
    created_at: Timestamp
  },
  { title: 'Entity', examples: [{ id: 3, type: 'ip', value: '203.0.113.7', created_at: '2026-11-24T10:05:00.000Z' }] }
)

const incidentExample = {
  id: 5,
  title: 'Port scan followed by SSH brute force on fw-edge-01',
  description: 'Scan from 203.0.113.7, then 400 failed SSH logins.',
  severity: 'High',
  status: 'Investigating',
  assignee: 2,
  assignee_username: 'alice',
  created_by: 1,
  created_at: '2026-11-24T10:05:00.000Z',
  updated_at: '2026-11-24T10:20:00.000Z',
  alert_count: 1,
  entity_count: 1,
  // The linked records' own documented examples.
  alerts: [(AlertOut.examples as unknown[])[0]],
  entities: [(EntityOut.examples as unknown[])[0]]
}

export const IncidentOut = Type.Object(
  {
    id: Type.Integer(),
    title: Type.String(),
    description: Type.String(),
    severity: Severity,
    status: IncidentStatus,
    assignee: Type.Union([Type.Integer(), Type.Null()], { description: "The assignee's user id" }),
    assignee_username: Type.Union([Type.String(), Type.Null()]),
    created_by: Type.Union([Type.Integer(), Type.Null()], { description: 'Null once that user is deleted' }),
    created_at: Timestamp,
    updated_at: Timestamp,
    alert_count: Type.Integer(),
    entity_count: Type.Integer(),
    alerts: Type.Array(AlertOut, { description: 'Linked alerts, in the order they were linked (then by id)' }),
    entities: Type.Array(EntityOut)
  },
  { title: 'Incident', examples: [incidentExample] }
)

export const IncidentQuery = Type.Object({
  ...PageQuery,
  status: Type.Optional(IncidentStatus),
  severity: Type.Optional(Severity),
  assignee: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'User id' })),
  search: Type.Optional(
    Type.String({ minLength: 1, maxLength: MAX_TITLE, description: 'Case-insensitive substring of the title' })
  )
})

export const AlertLinkParams = Type.Object({ id: IdParam, alert_id: IdParam })
export const EntityParams = Type.Object({ id: IdParam, entity_id: IdParam })
