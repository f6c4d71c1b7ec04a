// Ingest key schemas. The secret appears in one response only: the 201 of its creation.
import { Type } from '@sinclair/typebox'
import { EventTypeSchema, NullableTimestamp, PageQuery, Severity, Source, Timestamp } from '../../src/schemas.js'

export const KeyDefaults = Type.Object(
  {
    source: Type.Optional(Source),
    event_type: Type.Optional(EventTypeSchema),
    severity: Type.Optional(Severity),
    logsource: Type.Optional(
      Type.Object(
        {
          category: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
          product: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
          service: Type.Optional(Type.String({ minLength: 1, maxLength: 100 }))
        },
        {
          additionalProperties: false,
          description: "The Sigma logsource of what this key's shipper sends, for records that carry none (docs/detection.md)",
          examples: [{ product: 'linux', service: 'sshd' }]
        }
      )
    )
  },
  { additionalProperties: false, description: 'Values for records that lack these fields (never for invalid ones)' }
)

export const IngestKeyCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '\\S', description: 'What the key is for, e.g. the shipper' }),
    defaults: Type.Optional(KeyDefaults)
  },
  {
    additionalProperties: false,
    examples: [{ name: 'syslog-ng on fw-edge-01', defaults: { source: 'fw-edge-01', event_type: 'intrusion', severity: 'Low' } }]
  }
)

const created = '2026-11-24T10:00:00.000Z'

export const IngestKeyCreated = Type.Object(
  {
    id: Type.Integer(),
    name: Type.String(),
    key: Type.String({ description: 'The secret: shown this once, store it in the shipper' }),
    prefix: Type.String({ description: 'The first characters of the key, to tell keys apart' }),
    defaults: KeyDefaults,
    created_at: Timestamp
  },
  {
    title: 'New ingest key',
    description: 'The key created, with its secret: shown this once',
    examples: [
      { id: 3, name: 'syslog-ng on fw-edge-01', key: 'vgl_3q2-7wEXAMPLEONLY...', prefix: 'vgl_3q2-7wEX', defaults: { source: 'fw-edge-01' }, created_at: created }
    ]
  }
)

export const IngestKeyOut = Type.Object(
  {
    id: Type.Integer(),
    name: Type.String(),
    prefix: Type.String(),
    defaults: KeyDefaults,
    created_by: Type.Union([Type.Integer(), Type.Null()], { description: 'The admin who created it' }),
    created_at: Timestamp,
    last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'Last ingestion with this key (recorded at most once a minute)'
    }),
    revoked_at: NullableTimestamp
  },
  {
    title: 'Ingest key',
    examples: [
      {
        id: 3,
        name: 'syslog-ng on fw-edge-01',
        prefix: 'vgl_3q2-7wEX',
        defaults: { source: 'fw-edge-01' },
        created_by: 1,
        created_at: created,
        last_used_at: null,
        revoked_at: null
      }
    ]
  }
)

export const IngestKeyQuery = Type.Object({
  ...PageQuery,
  revoked: Type.Optional(Type.Boolean({ description: 'true: only revoked keys; false: only active keys' }))
})
