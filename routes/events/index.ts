// /api/events: the admin's CRUD over security events. Creating or updating an event to High or
// Critical raises its alert in the same transaction (src/services/events.ts).
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors, IdParams, Page, type ErrorDoc } from '../../src/schemas.js'
import { createEvent, deleteEvent, getEvent, listEvents, updateEvent, type EventInput } from '../../src/services/events.js'
import { EventBody, EventOut, EventPatch, EventQuery } from './schema.js'

const tags = ['events']

const DUPLICATE: ErrorDoc = {
  description: 'An event with this source and external_id is already stored',
  code: 'conflict',
  detail: 'An event with this source and external_id already exists.',
  errors: { external_id: ['An event with this source and external_id already exists.'] }
}

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
    handler: (request) => listEvents(app.lists, request.query, request)
  })

  app.post('/', {
    config: { permission: 'events:write' },
    schema: {
      tags,
      summary: 'Create an event',
      description: 'High and Critical events raise one Open alert in the same transaction.',
      body: EventBody,
      response: { 201: EventOut, ...errors(400, 401, 403, 413, 415, { 409: DUPLICATE }) }
    },
    handler: async (request, reply) => reply.code(201).send(await createEvent(app.database, request.body, maxAttributesBytes, app.detector, app.alertScreen))
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
    handler: (request) => getEvent(app.db, request.params.id)
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
        response: { 200: EventOut, ...errors(400, 401, 403, 404, 413, 415, { 409: DUPLICATE }) }
      },
      handler: (request) => updateEvent(app.db, request.params.id, request.body as Partial<EventInput>, maxAttributesBytes)
    })
  }

  app.delete('/:id', {
    config: { permission: 'events:write' },
    schema: {
      tags,
      summary: 'Delete an event',
      description: "Also deletes the event's alerts (ON DELETE CASCADE).",
      params: IdParams,
      response: { 204: Type.Null({ description: 'Deleted' }), ...errors(400, 401, 403, { 404: 'No such event' }) }
    },
    handler: async (request, reply) => {
      await deleteEvent(app.db, request.params.id)
      return reply.code(204).send(null)
    }
  })
}

export default eventRoutes
