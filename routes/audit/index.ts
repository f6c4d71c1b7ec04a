// /api/audit: the audit trail, for admins. Entries are written by the services that make the
// changes (src/services/audit.ts); this route only reads them.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { and, eq, gte, lte, sql } from 'drizzle-orm'
import { auditLog } from '../../src/db/schema.js'
import { envelope, pageRequest, selectPage } from '../../src/pagination.js'
import { errors, IsoDate, Page, PageQuery, Timestamp } from '../../src/schemas.js'

const Json = Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()])

const AuditOut = Type.Object(
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

const AuditQuery = Type.Object({
  ...PageQuery,
  action: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'e.g. alert.status_changed, auth.login_failed' })),
  actor: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  actor_id: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
  target_type: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  target_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  created_after: Type.Optional(IsoDate),
  created_before: Type.Optional(IsoDate)
})

const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/', {
    config: { permission: 'audit:read' },
    schema: {
      tags: ['audit'],
      summary: 'List audit entries',
      description:
        'Security-relevant changes (alert status, incidents, users and roles, ingest keys) and failed logins, newest first.',
      querystring: AuditQuery,
      response: { 200: Page(AuditOut), ...errors(400, 401, 403, 404) }
    },
    handler: async (request) => {
      const q = request.query
      const p = pageRequest(q)
      const where = and(
        q.action ? eq(auditLog.action, q.action) : undefined,
        q.actor ? eq(sql`lower(${auditLog.actor})`, q.actor.toLowerCase()) : undefined,
        q.actor_id ? eq(auditLog.actorId, q.actor_id) : undefined,
        q.target_type ? eq(auditLog.targetType, q.target_type) : undefined,
        q.target_id ? eq(auditLog.targetId, q.target_id) : undefined,
        q.created_after ? gte(auditLog.createdAt, new Date(q.created_after)) : undefined,
        q.created_before ? lte(auditLog.createdAt, new Date(q.created_before)) : undefined
      )
      const { rows, total } = await selectPage(app.db, auditLog, where, auditLog.createdAt, p)
      return envelope(
        request,
        p,
        total,
        rows.map((r) => ({
          id: r.id,
          created_at: r.createdAt.toISOString(),
          actor_id: r.actorId,
          actor: r.actor,
          action: r.action,
          target_type: r.targetType,
          target_id: r.targetId,
          before: (r.before ?? null) as Record<string, unknown> | null,
          after: (r.after ?? null) as Record<string, unknown> | null,
          ip: r.ip
        }))
      )
    }
  })
}

export default auditRoutes
