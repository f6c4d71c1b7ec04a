// /api/audit: the audit trail, for admins. Entries are written by the services that make the
// changes (src/services/audit.ts); this route only reads them.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors, Page } from '../../src/schemas.js'
import { listAudit } from '../../src/services/audit.js'
import { AuditOut, AuditQuery } from './schema.js'

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
    handler: (request) => listAudit(app.lists, request.query, request)
  })
}

export default auditRoutes
