// /api/suppressions: exceptions that expire (admins only). An event matching an unexpired one is
// stored, flagged with it, and raises no alert. Suppressions are ended, never deleted, so every
// flagged event keeps naming its own. The writes, their checks and their audit records live in
// src/services/suppressions.ts; every instance picks a change up through the database
// (vigil_suppressions, plugins/suppressions.ts).
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors, IdParams, Page, type ErrorDoc } from '../../src/schemas.js'
import { actorOf } from '../../src/services/actor.js'
import {
  createSuppression,
  endSuppression,
  getSuppression,
  listSuppressions,
  MAX_ACTIVE_SUPPRESSIONS,
  MAX_SUPPRESSION_DAYS,
  suppressionOut,
  updateSuppression
} from '../../src/services/suppressions.js'
import { SuppressionBody, SuppressionCreated, SuppressionOut, SuppressionPatch, SuppressionQuery } from './schema.js'

const tags = ['suppressions']

const INVALID: ErrorDoc = {
  description:
    'Invalid request: a field is not valid, no match condition is given, a field path is not one, the reason is not a note ' +
    `(control characters, direction overrides), expires_at is not in the future or more than ${MAX_SUPPRESSION_DAYS} days ahead, ` +
    'the owner is not an active user, or resolve_matching comes with fields',
  code: 'validation_failed',
  detail: 'Give at least one match condition: source, event_type, severity, rule_id or fields.',
  errors: { non_field_errors: ['Give at least one match condition: source, event_type, severity, rule_id or fields.'] }
}

const INVALID_PATCH: ErrorDoc = {
  description: `Invalid request: a field is not valid, expires_at is not in the future or more than ${MAX_SUPPRESSION_DAYS} days ahead, or the owner is not an active user`,
  code: 'validation_failed',
  detail: "Invalid body field 'expires_at': Must be in the future (DELETE ends a suppression now).",
  errors: { expires_at: ['Must be in the future (DELETE ends a suppression now).'] }
}

const FULL: ErrorDoc = {
  description: `There are ${MAX_ACTIVE_SUPPRESSIONS} unexpired suppressions already, the most there may be at once (with resolve_matching: or you have the most unfinished bulk jobs)`,
  code: 'conflict',
  detail: `There are ${MAX_ACTIVE_SUPPRESSIONS} unexpired suppressions, the most there may be at once; end one first.`
}

const FULL_AGAIN: ErrorDoc = {
  description: `The suppression had ended, and there are ${MAX_ACTIVE_SUPPRESSIONS} unexpired ones already: it cannot apply again until one ends`,
  code: 'conflict',
  detail: FULL.detail
}

const suppressionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/', {
    config: { permission: 'suppressions:write' },
    schema: {
      tags,
      summary: 'List suppressions',
      description: 'Newest first (created_at, then id), ended ones too. Filters combine with AND, e.g. `?active=true&owner=2` (active: unexpired; false: expired or ended).',
      querystring: SuppressionQuery,
      response: { 200: Page(SuppressionOut), ...errors(400, 401, 403, 404) }
    },
    handler: (request) => listSuppressions(app.lists, request.query, request)
  })

  app.post('/', {
    config: { permission: 'suppressions:write' },
    schema: {
      tags,
      summary: 'Create a suppression',
      description:
        'From now until `expires_at`, every event stored that matches (every condition given: source, event_type, severity after ' +
        'detection, rule_id of one of its detections, fields of its record) is stored flagged with it and raises no alert; the ' +
        'lowest id wins when several match. At least one condition; the match cannot be changed later. ' +
        `At most ${MAX_ACTIVE_SUPPRESSIONS} unexpired suppressions at once. The owner is you unless another active user is named. ` +
        'With `resolve_matching`, a bulk job also resolves the open alerts it matches (`bulk_job`). Recorded in the audit trail.',
      body: SuppressionBody,
      response: { 201: SuppressionCreated, ...errors(401, 403, 413, 415, { 400: INVALID, 409: FULL }) }
    },
    handler: async (request, reply) => {
      const { suppression, bulkJob } = await createSuppression(app.db, actorOf(request), request.body)
      if (bulkJob !== null) void app.runBulkJobs()
      return reply.code(201).send({ ...suppressionOut(suppression), bulk_job: bulkJob })
    }
  })

  app.get('/:id', {
    config: { permission: 'suppressions:write' },
    schema: {
      tags,
      summary: 'Get a suppression',
      description: 'One suppression by id, ended ones too, with its hits.',
      params: IdParams,
      response: { 200: SuppressionOut, ...errors(400, 401, 403, 404) }
    },
    handler: async (request) => suppressionOut(await getSuppression(app.db, request.params.id))
  })

  app.patch('/:id', {
    config: { permission: 'suppressions:write' },
    schema: {
      tags,
      summary: 'Update a suppression',
      description:
        'Its reason, owner or expiry (extended or shortened, to a time in the future: an ended one applies again, within the bound ' +
        'of unexpired ones). The match is fixed: to change it, end this one and create another. Changed fields are recorded in the ' +
        'audit trail with their values before and after.',
      params: IdParams,
      body: SuppressionPatch,
      response: { 200: SuppressionOut, ...errors(401, 403, 404, 413, 415, { 400: INVALID_PATCH, 409: FULL_AGAIN }) }
    },
    handler: async (request) => suppressionOut(await updateSuppression(app.db, actorOf(request), request.params.id, request.body))
  })

  app.delete('/:id', {
    config: { permission: 'suppressions:write' },
    schema: {
      tags,
      summary: 'End a suppression',
      description:
        'It stops applying at once, on every instance: its expiry becomes now. It is kept (and still listed), so the events it ' +
        'flagged keep naming it; ending one already ended changes nothing. Recorded in the audit trail.',
      params: IdParams,
      response: { 204: Type.Null({ description: 'Ended' }), ...errors(400, 401, 403, { 404: 'No such suppression' }) }
    },
    handler: async (request, reply) => {
      await endSuppression(app.db, actorOf(request), request.params.id)
      return reply.code(204).send(null)
    }
  })
}

export default suppressionRoutes
