// /api/audit: the audit trail, for admins. Entries are written by the services that make the
// changes (src/services/audit.ts); this route only reads them.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { envelope, pageRequest } from '../../src/pagination.js'
import { errors, Page } from '../../src/schemas.js'
import { listAudit } from '../../src/services/audit.js'
import { AuditOut, auditOut, AuditQuery } from './schema.js'

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
      const { rows, total } = await listAudit(
        app.db,
        {
          action: q.action,
          actor: q.actor,
          actorId: q.actor_id,
          targetType: q.target_type,
          targetId: q.target_id,
          createdAfter: q.created_after ? new Date(q.created_after) : undefined,
          createdBefore: q.created_before ? new Date(q.created_before) : undefined
        },
        p
      )
      return envelope(request, p, total, rows.map(auditOut))
    }
  })
}

export default auditRoutes
