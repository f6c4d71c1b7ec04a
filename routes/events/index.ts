// /api/events: the admin's CRUD over security events. Creating or updating an event to High or
// Critical raises its alert in the same transaction (src/services/events.ts).
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { and, eq, gte, lte } from 'drizzle-orm'
import { events } from '../../src/db/schema.js'
import { notFound } from '../../src/errors.js'
import { envelope, pageRequest, selectPage } from '../../src/pagination.js'
import { getById } from '../../src/db/queries.js'
import { errors, IdParams, Page } from '../../src/schemas.js'
import { attributesJson, createEvent, updateEvent, type EventInput } from '../../src/services/events.js'
import { EventBody, EventOut, eventOut, EventPatch, EventQuery } from './schema.js'

const tags = ['events']

const eventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const maxAttributesBytes = app.config.INGEST_MAX_ATTRIBUTES_BYTES

  app.get('/', {
    config: { permission: 'events:read' },
    schema: {
      tags,
      summary: 'List events',
      description: 'Newest first (timestamp, then id). Filters combine with AND.',
      querystring: EventQuery,
      response: { 200: Page(EventOut), ...errors(400, 401, 403, 404) }
    },
    handler: async (request) => {
      const q = request.query
      const p = pageRequest(q)
      const where = and(
        q.severity ? eq(events.severity, q.severity) : undefined,
        q.event_type ? eq(events.eventType, q.event_type) : undefined,
        q.source ? eq(events.source, q.source) : undefined,
        q.timestamp_after ? gte(events.timestamp, new Date(q.timestamp_after)) : undefined,
        q.timestamp_before ? lte(events.timestamp, new Date(q.timestamp_before)) : undefined
      )
      const { rows, total } = await selectPage(app.db, events, where, events.timestamp, p)
      return envelope(request, p, total, rows.map(eventOut))
    }
  })

  app.post('/', {
    config: { permission: 'events:write' },
    schema: {
      tags,
      summary: 'Create an event',
      description: 'High and Critical events raise one Open alert in the same transaction.',
      body: EventBody,
      response: { 201: EventOut, ...errors(400, 401, 403, 409, 413, 415) }
    },
    handler: async (request, reply) => {
      const event = await createEvent(app.database, request.body, maxAttributesBytes)
      return reply.code(201).send(eventOut(event))
    }
  })

  app.get('/:id', {
    config: { permission: 'events:read' },
    schema: {
      tags,
      summary: 'Get an event',
      description: 'One event by id, with the attributes its source sent.',
      params: IdParams,
      response: { 200: EventOut, ...errors(400, 401, 403, 404) }
    },
    handler: async (request) => {
      return eventOut(await getById(app.db, events, request.params.id))
    }
  })

  for (const method of ['PUT', 'PATCH'] as const) {
    app.route({
      method,
      url: '/:id',
      config: { permission: 'events:write' },
      schema: {
        tags,
        summary: method === 'PUT' ? 'Replace an event' : 'Update an event partially',
        description: 'Raising the severity to High or Critical creates the alert the event lacked.',
        params: IdParams,
        body: method === 'PUT' ? EventBody : EventPatch,
        response: { 200: EventOut, ...errors(400, 401, 403, 404, 409, 413, 415) }
      },
      handler: async (request) => {
        const body = request.body as Partial<EventInput>
        attributesJson(body.attributes, maxAttributesBytes)
        return eventOut(await updateEvent(app.db, request.params.id, body))
      }
    })
  }

  app.delete('/:id', {
    config: { permission: 'events:write' },
    schema: {
      tags,
      summary: 'Delete an event',
      description: "Also deletes the event's alerts (ON DELETE CASCADE).",
      params: IdParams,
      response: { 204: Type.Null({ description: 'Deleted' }), ...errors(400, 401, 403, 404) }
    },
    handler: async (request, reply) => {
      const deleted = await app.db.delete(events).where(eq(events.id, request.params.id)).returning({ id: events.id })
      if (deleted.length === 0) throw notFound()
      return reply.code(204).send(null)
    }
  })
}

export default eventRoutes
