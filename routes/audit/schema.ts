// Audit schemas: the query and the entry shape (the allow-list of what leaves the server).
import { Type } from '@sinclair/typebox'
import { IsoDate, PageQuery, Timestamp } from '../../src/schemas.js'

const Json = Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()])

export const AuditOut = Type.Object(
  {
    id: Type.Integer(),
    created_at: Timestamp,
    actor_id: Type.Union([Type.Integer(), Type.Null()]),
    actor: Type.Union([Type.String(), Type.Null()], { description: 'Username, ingest key, or the name tried in a failed login' }),
    action: Type.String(),
    target_type: Type.Union([Type.String(), Type.Null()]),
    target_id: Type.Union([Type.String(), Type.Null()]),
    before: Json,
    after: Json,
    ip: Type.Union([Type.String(), Type.Null()])
  },
  {
    title: 'Audit entry',
    examples: [
      {
        id: 1,
        created_at: '2026-11-24T10:00:00.000Z',
        actor_id: 1,
        actor: 'alice',
        action: 'alert.status_changed',
        target_type: 'alert',
        target_id: '7',
        before: { status: 'Open' },
        after: { status: 'Acknowledged' },
        ip: '127.0.0.1'
      }
    ]
  }
)

export const AuditQuery = Type.Object({
  ...PageQuery,
  action: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'e.g. alert.status_changed, auth.login_failed' })),
  actor: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  actor_id: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
  target_type: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  target_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  created_after: Type.Optional(IsoDate),
  created_before: Type.Optional(IsoDate)
})
