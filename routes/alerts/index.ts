// /api/alerts: every role reads alerts; creating one by hand and status changes are the admin's
// and are audited (src/services/alerts.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { described, errors, IdParams, Page } from '../../src/schemas.js'
import { actorOf } from '../../src/services/actor.js'
import { alertStats, MAX_STATS_BUCKETS } from '../../src/services/alert-stats.js'
import { getAlert, listAlerts, raiseByHand, updateAlert } from '../../src/services/alerts.js'
import { AlertCreate, AlertOut, AlertPatch, AlertQuery, AlertStats, AlertStatsQuery } from './schema.js'

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
    handler: (request) => listAlerts(app.db, request.query, request)
  })

  app.post('/', {
    config: { permission: 'alerts:create' },
    schema: {
      tags,
      summary: 'Raise an alert by hand',
      description:
        "For an existing event of any severity; severity, event_type and source are copied from the event. An event has at most one alert: 409 if it already has one, 404 if there is no such event. Recorded in the audit trail.",
      body: AlertCreate,
      response: {
        201: described(AlertOut, 'Raised: the new alert'),
        ...errors(400, 401, 403, 413, 415, {
          404: { description: 'No such event', code: 'not_found', detail: 'Event 42 does not exist.' },
          409: { description: 'The event already has an alert', code: 'conflict', detail: 'Event 42 already has an alert.', errors: { event: ['Event 42 already has an alert.'] } }
        })
      }
    },
    handler: async (request, reply) => reply.code(201).send(await raiseByHand(app.db, actorOf(request), request.body))
  })

  app.get('/stats', {
    config: { permission: 'alerts:read' },
    schema: {
      tags,
      summary: 'Alert statistics',
      description:
        'Counts of the alerts created in a time range (default: the last 24 hours) by severity, status, event type and source, ' +
        `and a histogram by minute, hour or day (at most ${MAX_STATS_BUCKETS} buckets), for dashboards. ` +
        'The list filters apply, e.g. `?status=Open&bucket=day&created_after=2026-11-01`.',
      querystring: AlertStatsQuery,
      response: { 200: AlertStats, ...errors(400, 401, 403) }
    },
    handler: (request) => alertStats(app.db, request.query)
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
    handler: (request) => getAlert(app.db, request.params.id)
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
    handler: (request) => updateAlert(app.db, actorOf(request), request.params.id, request.body)
  })
}

export default alertRoutes
