// /api/incidents: case management. Every role reads; analysts and admins create and update
// (linking alerts and adding entities are updates); only admins delete. The writes, their
// checks and their audit records live in src/services/incidents.ts.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { HttpError } from '../../src/errors.js'
import { described, errors, IdParams, Page } from '../../src/schemas.js'
import { actorOf } from '../../src/services/actor.js'
import {
  addEntity,
  createIncident,
  deleteIncident,
  entityOut,
  getIncident,
  incidentOut,
  linkAlerts,
  listIncidents,
  removeEntity,
  unlinkAlert,
  updateIncident
} from '../../src/services/incidents.js'
import {
  AlertLinkParams,
  EntityBody,
  EntityOut,
  EntityParams,
  IncidentBody,
  IncidentOut,
  IncidentPatch,
  IncidentQuery,
  LinkBody
} from './schema.js'

const tags = ['incidents']
const deleted = { 204: Type.Null({ description: 'Done' }) }

const incidentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/', {
    config: { permission: 'incidents:read' },
    schema: {
      tags,
      summary: 'List incidents',
      description:
        'Newest first (created_at, then id), each with its linked alerts and entities. Filters combine with AND, ' +
        'e.g. `?status=Open&severity=High&assignee=2&search=ssh` (search: case-insensitive substring of the title).',
      querystring: IncidentQuery,
      response: { 200: Page(IncidentOut), ...errors(400, 401, 403, 404) }
    },
    handler: (request) => listIncidents(app.lists, request.query, request)
  })

  app.post('/', {
    config: { permission: 'incidents:write' },
    schema: {
      tags,
      summary: 'Create an incident',
      description:
        'Links the alerts and adds the entities in one transaction: an unknown alert id or assignee, or an invalid ' +
        'entity, creates nothing and answers 400 naming the field (`alert_ids`, `assignee`, `entities.<index>.value`). ' +
        'The caller becomes `created_by`.',
      body: IncidentBody,
      response: {
        201: IncidentOut,
        ...errors(401, 403, 409, 413, 415, {
          400: {
            description: 'Invalid request: a field is not valid, an alert id or the assignee does not exist, or an entity value is not valid for its type (`errors` names it)',
            code: 'validation_failed',
            detail: "Invalid body field 'alert_ids': Alert 7 does not exist.",
            errors: { alert_ids: ['Alert 7 does not exist.'] }
          }
        })
      }
    },
    handler: async (request, reply) => {
      const incident = await createIncident(app.db, actorOf(request), request.body)
      return reply.code(201).send(incidentOut(incident))
    }
  })

  app.get('/:id', {
    config: { permission: 'incidents:read' },
    schema: {
      tags,
      summary: 'Get an incident',
      description: 'With its linked alerts and entities.',
      params: IdParams,
      response: { 200: IncidentOut, ...errors(400, 401, 403, 404) }
    },
    handler: async (request) => incidentOut(await getIncident(app.db, request.params.id))
  })

  app.patch('/:id', {
    config: { permission: 'incidents:write' },
    schema: {
      tags,
      summary: 'Update an incident',
      description:
        'Any of title, description, severity, status and assignee (null unassigns). Changed fields are recorded ' +
        'in the audit trail with their values before and after.',
      params: IdParams,
      body: IncidentPatch,
      response: { 200: IncidentOut, ...errors(400, 401, 403, 404, 409, 413, 415) }
    },
    handler: async (request) => incidentOut(await updateIncident(app.db, actorOf(request), request.params.id, request.body))
  })

  app.delete('/:id', {
    config: { permission: 'incidents:delete' },
    schema: {
      tags,
      summary: 'Delete an incident',
      description: 'Admins only. Removes its alert links and entities; the alerts themselves stay.',
      params: IdParams,
      response: { ...deleted, ...errors(400, 401, 403, { 404: 'No such incident' }) }
    },
    handler: async (request, reply) => {
      await deleteIncident(app.db, actorOf(request), request.params.id)
      return reply.code(204).send(null)
    }
  })

  app.post('/:id/alerts', {
    config: { permission: 'incidents:write' },
    schema: {
      tags,
      summary: 'Link alerts to an incident',
      description:
        'Send `alert_ids` (a list) or `alert_id` (one). Alerts already linked stay linked; an unknown alert id ' +
        'links nothing and answers 400 naming it. Answers with the updated incident.',
      params: IdParams,
      body: LinkBody,
      response: {
        200: described(IncidentOut, 'The incident, with the alerts linked'),
        ...errors(401, 403, 404, 409, 413, 415, {
          400: {
            description: 'Neither or both of `alert_ids` and `alert_id`, or an alert id that does not exist (nothing is linked)',
            code: 'validation_failed',
            detail: "Invalid body field 'alert_ids': Alert 9 does not exist.",
            errors: { alert_ids: ['Alert 9 does not exist.'] }
          }
        })
      }
    },
    handler: async (request) => {
      const { alert_ids, alert_id } = request.body
      if ((alert_ids === undefined) === (alert_id === undefined)) {
        const msg = 'Send either alert_ids or alert_id.'
        throw new HttpError('validation_failed', msg, { errors: { non_field_errors: [msg] } })
      }
      const ids = alert_ids ?? [alert_id!]
      return incidentOut(await linkAlerts(app.db, actorOf(request), request.params.id, ids))
    }
  })

  app.delete('/:id/alerts/:alert_id', {
    config: { permission: 'incidents:write' },
    schema: {
      tags,
      summary: 'Unlink an alert from an incident',
      description: 'The alert itself stays. 404 when the incident does not exist or the alert is not linked to it.',
      params: AlertLinkParams,
      response: {
        ...deleted,
        ...errors(400, 401, 403, {
          404: { description: 'No such incident, or the alert is not linked to it', code: 'not_found', detail: 'Alert 7 is not linked to incident 5.' }
        })
      }
    },
    handler: async (request, reply) => {
      await unlinkAlert(app.db, actorOf(request), request.params.id, request.params.alert_id)
      return reply.code(204).send(null)
    }
  })

  app.post('/:id/entities', {
    config: { permission: 'incidents:write' },
    schema: {
      tags,
      summary: 'Add an entity to an incident',
      description:
        'The value is validated and normalised for its type (see the `type` field). The same type and value twice ' +
        'on one incident is a 409.',
      params: IdParams,
      body: EntityBody,
      response: {
        201: described(EntityOut, 'Added: the entity, its value normalised'),
        ...errors(400, 401, 403, 413, 415, {
          404: 'No such incident',
          409: {
            description: 'The incident already has this entity (same type and value)',
            code: 'conflict',
            detail: 'This incident already has the ip entity "203.0.113.7".',
            errors: { value: ['This incident already has the ip entity "203.0.113.7".'] }
          }
        })
      }
    },
    handler: async (request, reply) => {
      const entity = await addEntity(app.db, actorOf(request), request.params.id, request.body)
      return reply.code(201).send(entityOut(entity))
    }
  })

  app.delete('/:id/entities/:entity_id', {
    config: { permission: 'incidents:write' },
    schema: {
      tags,
      summary: 'Remove an entity from an incident',
      description: '404 when the incident does not exist or the entity belongs to another incident.',
      params: EntityParams,
      response: {
        ...deleted,
        ...errors(400, 401, 403, {
          404: { description: 'No such incident, or the entity is not one of its', code: 'not_found', detail: 'Entity 3 does not belong to incident 5.' }
        })
      }
    },
    handler: async (request, reply) => {
      await removeEntity(app.db, actorOf(request), request.params.id, request.params.entity_id)
      return reply.code(204).send(null)
    }
  })
}

export default incidentRoutes
