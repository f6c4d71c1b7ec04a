// /api/alerts: every role reads alerts; creating one by hand and status changes are the admin's
// and are audited.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { and, eq, gte, lte, sql } from 'drizzle-orm'
import { alerts, events } from '../../src/db/schema.js'
import { conflict, isUniqueViolation, notFound } from '../../src/errors.js'
import { envelope, pageRequest, selectPage } from '../../src/pagination.js'
import { getById } from '../../src/db/queries.js'
import { errors, IdParams, Page } from '../../src/schemas.js'
import { recordAudit } from '../../src/services/audit.js'
import { actorOf } from '../../src/services/actor.js'
import { AlertCreate, AlertOut, alertOut, AlertPatch, AlertQuery } from './schema.js'

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
      const { rows, total } = await selectPage(app.db, alerts, where, alerts.createdAt, p)
      return envelope(request, p, total, rows.map(alertOut))
    }
  })

  app.post('/', {
    config: { permission: 'alerts:create' },
    schema: {
      tags,
      summary: 'Raise an alert by hand',
      description:
        "For an existing event of any severity; severity, event_type and source are copied from the event. An event has at most one alert: 409 if it already has one, 404 if there is no such event. Recorded in the audit trail.",
      body: AlertCreate,
      response: { 201: AlertOut, ...errors(400, 401, 403, 404, 409, 413, 415) }
    },
    handler: async (request, reply) => {
      const { event: eventId, status } = request.body
      const alreadyRaised = () => conflict(`Event ${eventId} already has an alert.`, 'event')
      const alert = await app.db.transaction(async (tx) => {
        // The share lock keeps the event from being deleted before the alert is written.
        const [event] = await tx.select().from(events).where(eq(events.id, eventId)).for('share')
        if (!event) throw notFound(`Event ${eventId} does not exist.`)
        const [existing] = await tx.select({ id: alerts.id }).from(alerts).where(eq(alerts.eventId, eventId))
        if (existing) throw alreadyRaised()
        let created
        try {
          ;[created] = await tx
            .insert(alerts)
            .values({ eventId, status: status ?? 'Open', severity: event.severity, eventType: event.eventType, source: event.source })
            .returning()
        } catch (err) {
          // Another request raised one between the check and the insert: the unique index decides.
          if (isUniqueViolation(err, 'alerts_event_id_idx')) throw alreadyRaised()
          throw err
        }
        await recordAudit(tx, actorOf(request), {
          action: 'alert.created',
          targetType: 'alert',
          targetId: created.id,
          after: { event: created.eventId, status: created.status }
        })
        return created
      })
      return reply.code(201).send(alertOut(alert))
    }
  })

  app.get('/:id', {
    config: { permission: 'alerts:read' },
    schema: {
      tags,
      summary: 'Get an alert',
      description: 'One alert by id; `event` is the id of the event that raised it.',
      params: IdParams,
      response: { 200: AlertOut, ...errors(400, 401, 403, 404) }
    },
    handler: async (request) => {
      return alertOut(await getById(app.db, alerts, request.params.id))
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
