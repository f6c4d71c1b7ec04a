// /api/alerts: every role reads alerts; raising one by hand is the admin's; triage (status with
// verdict, assignee, tags, comments, bulk changes) is for responders and admins
// (src/services/triage.ts). Every change is audited or in the alert's history, or both.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { described, errors, IdParams, Page, PageQuery } from '../../src/schemas.js'
import { actorOf } from '../../src/services/actor.js'
import { addComment, deleteComment, listComments } from '../../src/services/alert-comments.js'
import { listHistory } from '../../src/services/alert-history.js'
import { alertStats, MAX_STATS_BUCKETS } from '../../src/services/alert-stats.js'
import { getAlert, listAlerts, raiseByHand, type AlertFilter } from '../../src/services/alerts.js'
import { listAlertEvents } from '../../src/services/events.js'
import { EventOut } from '../events/schema.js'
import { createBulkJob, getBulkJob, listBulkJobs } from '../../src/services/bulk-jobs.js'
import { MAX_BULK_IDS, triageAlert, triageMany } from '../../src/services/triage.js'
import { badRequest, forbidden } from '../../src/errors.js'
import { readCredential } from '../../src/auth/ingest-keys.js'
import { serializerCompiler } from '../../src/compilers.js'
import { parseCursor } from '../../src/services/alert-stream.js'
import { issueTicket, TICKET_TTL_S } from '../../src/services/stream-tickets.js'
import type { StreamEnd } from '../../plugins/alert-stream.js'
import { Type } from '@sinclair/typebox'
import { AlertCreate, AlertOut, AlertPatch, AlertQuery, AlertStats, AlertStatsQuery, BulkBody, BulkJobOut, BulkResult, CommentCreate, CommentOut, CommentParams, HistoryOut, StreamChange, StreamQuery, StreamTicket } from './schema.js'

const tags = ['alerts']
const STREAM_EXAMPLE =
  'retry: 2000\nid: 48213.0\n: connected\n\n' +
  'id: 48215.913\nevent: raised\ndata: {"alert":{"id":7,"status":"Open","severity":"High","source":"fw-1"},"change":{"id":913,"action":"raised"}}\n\n' +
  ': heartbeat\n\n'
/** A stream's length when its request names none. */
const DEFAULT_STREAM_S = 3600

/** An alert's ETag: its version, as a strong validator. */
const etag = (version: number) => `"${version}"`

/** The versions an If-Match names (`*`: any, so none to compare); a tag that is no version matches none. */
function ifMatch(request: FastifyRequest): number[] | undefined {
  const header = request.headers['if-match']
  if (header === undefined) return undefined
  const values = header.split(',').map((v) => v.trim())
  if (values.includes('*')) return undefined
  return values.flatMap((v) => (/^"[1-9][0-9]{0,9}"$/.test(v) ? [Number(v.slice(1, -1))] : []))
}

/** A reply with one alert carries its ETag. */
function withEtag<T extends { version: number }>(reply: FastifyReply, alert: T): T {
  reply.header('etag', etag(alert.version))
  return alert
}

/** The list's filters with `assignee=me` made the caller's id. */
function filtersOf<Q extends { assignee?: string }>(request: FastifyRequest, q: Q): Omit<Q, 'assignee'> & Pick<AlertFilter, 'assignee'> {
  const p = request.principal
  const me = p?.kind === 'user' ? p.id : undefined
  return { ...q, assignee: q.assignee === undefined ? undefined : q.assignee === 'me' ? me : Number(q.assignee) }
}

const PRECONDITION = {
  412: { description: 'If-Match names a version the alert is no longer at: nothing changed', code: 'precondition_failed' as const, detail: 'Alert 7 is at version 4; it changed since it was read.' }
}

const alertRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const rules = { verdictRequired: app.config.VERDICT_REQUIRED }

  app.get('/', {
    config: { permission: 'alerts:read' },
    schema: {
      tags,
      summary: 'List alerts',
      description: 'Newest first (created_at, then id). Filters combine with AND, e.g. `?severity=High&status=Open`.',
      querystring: AlertQuery,
      response: { 200: Page(AlertOut), ...errors(400, 401, 403, 404) }
    },
    handler: (request) => listAlerts(app.lists, filtersOf(request, request.query), request)
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

  const serializeChange = serializerCompiler({ schema: StreamChange, method: 'GET', url: '/api/alerts/stream', httpStatus: '200' }) as (data: unknown) => string

  app.get('/stream', {
    config: { permission: 'alerts:read', ticket: true },
    schema: {
      tags,
      summary: 'Stream alert changes (Server-Sent Events)',
      description:
        'Every change to an alert the filters match, as it is committed, on whichever instance: `event:` the change (raised, changed, repeated, commented, comment_deleted, linked, unlinked), `id:` a cursor, `data:` the alert and the change. ' +
        'Send `Last-Event-ID` (EventSource does on reconnecting) or `?after=` to resume: nothing is lost and nothing repeated. Without either, the stream starts with the changes from now. ' +
        'A heartbeat comment every 15 s. Browsers, whose EventSource cannot send a header, pass a single-use `ticket` from POST /api/alerts/stream/ticket. ' +
        'The stream ends with an `end` event (its `reason`: timeout, token_expired, revoked, slow_client, shutting_down) whose id resumes it. At most ALERT_STREAMS_PER_USER streams per user (429 beyond).',
      querystring: StreamQuery,
      response: {
        200: {
          description: 'The stream, until it ends',
          content: { 'text/event-stream': { schema: Type.String(), example: STREAM_EXAMPLE } }
        },
        ...errors(400, 401, 403, {
          429: { description: 'As many streams open as one user (or this instance) may hold', code: 'too_many_streams', detail: 'You already hold 5 alert streams, as many as one user may; close one first.' }
        })
      }
    },
    handler: async (request, reply) => {
      const principal = request.principal
      if (principal?.kind !== 'user') throw forbidden()
      const { after: afterParam, ticket: _ticket, timeout, ...filters } = request.query
      const header = request.headers['last-event-id']
      const text = typeof header === 'string' && header !== '' ? header : afterParam
      const after = text === undefined ? undefined : parseCursor(text)
      if (text !== undefined && !after) throw badRequest('Last-Event-ID is not an event id of this stream.', 'Last-Event-ID')
      // A bearer stream lasts no longer than its token and ends when the user logs out (the version moves).
      const credential = readCredential(request.headers)
      const claims = credential?.kind === 'jwt' ? app.jwt.decode<{ exp?: number; tv?: number }>(credential.token) : null
      let until = Date.now() + (timeout ?? DEFAULT_STREAM_S) * 1000
      let untilReason: StreamEnd = 'timeout'
      if (claims?.exp !== undefined && claims.exp * 1000 < until) {
        until = claims.exp * 1000
        untilReason = 'token_expired'
      }
      await app.alertStreams.open(request, reply, {
        principal,
        filter: filtersOf(request, filters),
        after,
        until,
        untilReason,
        tokenVersion: claims?.tv,
        serialize: serializeChange
      })
      return reply
    }
  })

  app.post('/stream/ticket', {
    config: { permission: 'alerts:read' },
    schema: {
      tags,
      summary: 'A ticket to open an alert stream',
      description: `For browsers: EventSource cannot send an Authorization header. The ticket opens one stream (\`GET /api/alerts/stream?ticket=…\`) as the caller, within ${TICKET_TTL_S} s, on any instance; only its hash is stored.`,
      response: { 201: described(StreamTicket, 'The ticket'), ...errors(401, 403) }
    },
    handler: async (request, reply) => {
      const principal = request.principal
      if (principal?.kind !== 'user') throw forbidden()
      return reply.code(201).send(await issueTicket(app.db, principal.id))
    }
  })

  app.get('/stats', {
    config: { permission: 'alerts:read' },
    schema: {
      tags,
      summary: 'Alert statistics',
      description:
        'Counts of the alerts created in a time range (default: the last 24 hours) by severity, status, event type and source, ' +
        `and a histogram by minute, hour or day (at most ${MAX_STATS_BUCKETS} buckets), for dashboards. ` +
        'The list filters apply, e.g. `?status=Open&bucket=day&created_after=2026-11-01`. ' +
        'Per severity, `response_times` gives the count, mean and 90th percentile of the seconds from creation to acknowledgement and to resolution.',
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
      description: 'One alert by id; `event` is the id of the event that raised it. The `ETag` header carries its version, for `If-Match` on a change.',
      params: IdParams,
      response: { 200: AlertOut, ...errors(400, 401, 403, 404) }
    },
    handler: async (request, reply) => withEtag(reply, await getAlert(app.db, request.params.id))
  })

  app.patch('/:id', {
    config: { permission: 'alerts:update' },
    schema: {
      tags,
      summary: 'Triage an alert',
      description:
        'Status, verdict, assignee and tags, in one change. Transitions: Open -> Acknowledged -> Resolved, Open -> Resolved, Acknowledged -> Open, ' +
        'Resolved -> Open (a reopen: needs a `reason`, clears the verdict); any other is 409 naming the allowed ones. Resolving records a `verdict` ' +
        (app.config.VERDICT_REQUIRED ? '(required) ' : '(`other` when none is given) ') +
        'and an optional `reason`. With `If-Match: "<version>"` (the ETag of a GET) the change applies only if the alert is still at that version, else 412 and nothing changes; ' +
        'without it the change applies. The status change is in the audit trail; every change is in the alert\'s history.',
      params: IdParams,
      body: AlertPatch,
      response: {
        200: AlertOut,
        ...errors(400, 401, 403, 404, 415, {
          409: { description: 'A transition that is not allowed', code: 'conflict', detail: 'An alert that is Resolved cannot become Acknowledged; it can become Open.', errors: { status: ['An alert that is Resolved cannot become Acknowledged; it can become Open.'] } },
          ...PRECONDITION
        })
      }
    },
    handler: async (request, reply) => withEtag(reply, await triageAlert(app.db, actorOf(request), request.params.id, request.body, rules, ifMatch(request)))
  })

  app.post('/bulk', {
    config: { permission: 'alerts:update' },
    schema: {
      tags,
      summary: 'Triage many alerts at once',
      description:
        `The same change (\`set\`, as a PATCH body) to many alerts. By \`ids\` (at most ${MAX_BULK_IDS}, each alone or with the version it was read at): ` +
        'one transaction, answered at once (200) with a result per id: updated, unchanged, skipped (with why: a transition not allowed, a version that moved, ...) or not_found. ' +
        'By `filter` (the list\'s filters): a job (202, `Location` its URL) for every alert matching when it is asked for, at any number; alerts raised later are untouched. ' +
        'It survives restarts without applying anything twice; `GET /api/alerts/bulk/{id}/` shows its counts. Each alert changed is in its history and, for a status, the audit trail.',
      body: BulkBody,
      response: { 200: BulkResult, 202: described(BulkJobOut, 'The job, started'), ...errors(400, 401, 403, 409, 413, 415) }
    },
    handler: async (request, reply) => {
      const { ids, filter, set } = request.body
      if ((ids === undefined) === (filter === undefined)) throw badRequest('Give either ids or filter.', 'non_field_errors')
      if (filter) {
        const job = await createBulkJob(app.db, actorOf(request), filtersOf(request, filter), set)
        void app.runBulkJobs()
        return reply.code(202).header('location', `/api/alerts/bulk/${job.id}/`).send(job)
      }
      const targets = ids!.map((t) => (typeof t === 'number' ? { id: t } : { id: t.id, versions: [t.version] }))
      const results = await triageMany(app.db, actorOf(request), targets, set, rules)
      const n = (r: string) => results.filter((x) => x.result === r).length
      return { results, updated: n('updated'), unchanged: n('unchanged'), skipped: n('skipped'), not_found: n('not_found') }
    }
  })

  app.get('/bulk', {
    config: { permission: 'alerts:read' },
    schema: {
      tags,
      summary: 'Bulk jobs',
      description: 'The 100 newest, newest first.',
      response: { 200: described(Type.Array(BulkJobOut, { examples: [BulkJobOut.examples] }), 'The newest jobs'), ...errors(401, 403) }
    },
    handler: () => listBulkJobs(app.db)
  })

  app.get('/bulk/:id', {
    config: { permission: 'alerts:read' },
    schema: {
      tags,
      summary: 'A bulk job',
      description: 'Its state and counts: matched (fixed when it started), updated, skipped by why, failed.',
      params: IdParams,
      response: { 200: BulkJobOut, ...errors(400, 401, 403, 404) }
    },
    handler: (request) => getBulkJob(app.db, request.params.id)
  })

  app.get('/:id/history', {
    config: { permission: 'alerts:read' },
    schema: {
      tags,
      summary: "An alert's history",
      description: 'Every change, newest first, with who made it, when, and the fields before and after: the raise, status, verdict, assignee, tags, comments, links to incidents.',
      params: IdParams,
      querystring: Type.Object(PageQuery),
      response: { 200: Page(HistoryOut), ...errors(400, 401, 403, 404) }
    },
    handler: (request) => listHistory(app.lists, request.params.id, request.query, request)
  })

  app.get('/:id/events', {
    config: { permission: 'alerts:read' },
    schema: {
      tags,
      summary: 'The events of an alert',
      description: 'Newest first: every event a grouped alert stands for, or the one event of an alert that was not grouped.',
      params: IdParams,
      querystring: Type.Object(PageQuery),
      response: { 200: Page(EventOut), ...errors(400, 401, 403, 404) }
    },
    handler: (request) => listAlertEvents(app.lists, request.params.id, request.query, request)
  })

  app.get('/:id/comments', {
    config: { permission: 'alerts:read' },
    schema: {
      tags,
      summary: "An alert's comments",
      description: 'Newest first.',
      params: IdParams,
      querystring: Type.Object(PageQuery),
      response: { 200: Page(CommentOut), ...errors(400, 401, 403, 404) }
    },
    handler: (request) => listComments(app.lists, request.params.id, request.query, request)
  })

  app.post('/:id/comments', {
    config: { permission: 'alerts:update' },
    schema: {
      tags,
      summary: 'Comment on an alert',
      description: "In the alert's history too. An alert takes a bounded number of comments (409 beyond).",
      params: IdParams,
      body: CommentCreate,
      response: { 201: described(CommentOut, 'The comment'), ...errors(400, 401, 403, 404, 409, 413, 415) }
    },
    handler: async (request, reply) => reply.code(201).send(await addComment(app.db, actorOf(request), request.params.id, request.body.body))
  })

  app.delete('/:id/comments/:comment_id', {
    config: { permission: 'alerts:update' },
    schema: {
      tags,
      summary: 'Delete a comment',
      description: "Its author may, and an admin. The alert's history keeps what it said.",
      params: CommentParams,
      response: { 204: Type.Null({ description: 'Deleted' }), ...errors(400, 401, 403, 404) }
    },
    handler: async (request, reply) => {
      const p = request.principal
      const admin = p?.kind === 'user' && p.role === 'admin'
      await deleteComment(app.db, actorOf(request), request.params.id, request.params.comment_id, admin)
      return reply.code(204).send(null)
    }
  })
}

export default alertRoutes
