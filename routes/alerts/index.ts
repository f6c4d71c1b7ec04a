// /api/alerts: every role reads alerts; status changes are the admin's and are audited.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { and, count, desc, eq, gte, lte, sql } from 'drizzle-orm'
import { alerts } from '../../src/db/schema.js'
import { notFound } from '../../src/errors.js'
import { envelope, pageRequest } from '../../src/pagination.js'
import { errors, IdParams, Page } from '../../src/schemas.js'
import { recordAudit } from '../../src/services/audit.js'
import { actorOf } from '../../src/services/actor.js'
import { AlertOut, alertOut, AlertPatch, AlertQuery } from './schema.js'

const tags = ['alerts']

const alertRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/', {
    config: { permission: 'alerts:read' },
    schema: {
      tags,
      summary: 'List alerts',
      description: 'Newest first (created_at, then id). Filters combine with AND, e.g. `?severity=High&status=Open`.',
      querystring: AlertQuery,
      response: { 200: Page(AlertOut), ...errors(400, 401, 403, 404) }
    },
    handler: async (request) => {
      const q = request.query
      const p = pageRequest(q)
      const where = and(
        q.severity ? eq(alerts.severity, q.severity) : undefined,
        q.status ? eq(alerts.status, q.status) : undefined,
        q.event_type ? eq(alerts.eventType, q.event_type) : undefined,
        q.source ? eq(alerts.source, q.source) : undefined,
        q.created_after ? gte(alerts.createdAt, new Date(q.created_after)) : undefined,
        q.created_before ? lte(alerts.createdAt, new Date(q.created_before)) : undefined
      )
      const [rows, [{ total }]] = await Promise.all([
        app.db.select().from(alerts).where(where).orderBy(desc(alerts.createdAt), desc(alerts.id)).limit(p.pageSize).offset(p.offset),
        app.db.select({ total: count() }).from(alerts).where(where)
      ])
      return envelope(request, p, total, rows.map(alertOut))
    }
  })

  app.get('/:id', {
    config: { permission: 'alerts:read' },
    schema: { tags, summary: 'Get an alert', params: IdParams, response: { 200: AlertOut, ...errors(400, 401, 403, 404) } },
    handler: async (request) => {
      const [alert] = await app.db.select().from(alerts).where(eq(alerts.id, request.params.id))
      if (!alert) throw notFound()
      return alertOut(alert)
    }
  })

  app.patch('/:id', {
    config: { permission: 'alerts:update' },
    schema: {
      tags,
      summary: "Change an alert's status",
      description: 'Open, Acknowledged or Resolved. Recorded in the audit trail.',
      params: IdParams,
      body: AlertPatch,
      response: { 200: AlertOut, ...errors(400, 401, 403, 404, 415) }
    },
    handler: async (request) => {
      return app.db.transaction(async (tx) => {
        const [before] = await tx.select().from(alerts).where(eq(alerts.id, request.params.id)).for('update')
        if (!before) throw notFound()
        const [after] = await tx
          .update(alerts)
          .set({ status: request.body.status, updatedAt: sql`now()` })
          .where(eq(alerts.id, before.id))
          .returning()
        if (before.status !== after.status) {
          await recordAudit(tx, actorOf(request), {
            action: 'alert.status_changed',
            targetType: 'alert',
            targetId: after.id,
            before: { status: before.status },
            after: { status: after.status }
          })
        }
        return alertOut(after)
      })
    }
  })
}

export default alertRoutes
