// /api/models: detection models (Sigma rules and correlations, learned baselines). Every role
// reads; analysts and admins create, change, retrain and delete. The writes, their checks (a
// definition is compiled before it is stored) and their audit records live in
// src/services/models.ts; every instance picks a change up through the database (vigil_models).
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { described, errors, IdParams, Page, type ErrorDoc } from '../../src/schemas.js'
import { actorOf } from '../../src/services/actor.js'
import {
  createModel,
  deleteModel,
  getModel,
  importModels,
  listModels,
  modelOut,
  retrainModel,
  testModel,
  updateModel,
  type ModelContext
} from '../../src/services/models.js'
import { ImportBody, ImportOut, MODEL_BODY_LIMIT, ModelBody, ModelOut, ModelPatch, ModelQuery, RetrainOut, TestBody, TestOut } from './schema.js'

/** The media types a Sigma file is sent as. */
const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml']

const tags = ['models']

const DUPLICATE: ErrorDoc = {
  description: 'Another model has this name (names are unique regardless of case)',
  code: 'conflict',
  detail: 'A model with that name already exists.',
  errors: { name: ['A model with that name already exists.'] }
}

const INVALID: ErrorDoc = {
  description:
    'Invalid request: a field is not valid (`validation_failed`: a model_type other than sigma or anomaly_detection, ' +
    'metadata_json that is not JSON), or the definition is one Vigil cannot run exactly (`invalid_definition`, naming the problem and where)',
  code: 'invalid_definition',
  detail: "Invalid definition: detection.condition: unknown search 'selection' in condition 'selection'",
  errors: { definition: ["detection.condition: unknown search 'selection' in condition 'selection'"] }
}

const TOO_LARGE: ErrorDoc = {
  description: 'The request body is larger than the limit of the model routes (4 MiB and more, or BODY_LIMIT when larger)',
  code: 'payload_too_large',
  detail: 'The request body is too large.'
}

const modelRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // The `expand` placeholders definitions may name, as the detection engine compiles them.
  const sigma = app.detector.options
  const context = (request: Parameters<typeof actorOf>[0]): ModelContext => ({ actor: actorOf(request), sigma })
  // A definition may be up to 1 MiB: the routes that take one accept bodies that hold it.
  const bodyLimit = Math.max(app.config.BODY_LIMIT, MODEL_BODY_LIMIT)
  // Sigma files are sent as they are (POST /import); only these routes read YAML bodies.
  app.addContentTypeParser(YAML_TYPES, { parseAs: 'string', bodyLimit }, (_request, body, done) => done(null, body))
  // A training to do starts at once on this instance (any instance's trainer would take it later).
  const train = () => void app.trainModels()
  /** PUT and PATCH: the change, and its training when it needs one (a baseline's new settings). */
  const change = async (request: Parameters<typeof context>[0], id: number, patch: Parameters<typeof updateModel>[3]) => {
    const model = await updateModel(app.db, context(request), id, patch)
    if (model.status === 'training') train()
    return modelOut(model)
  }

  app.get('/', {
    config: { permission: 'models:read' },
    schema: {
      tags,
      summary: 'List detection models',
      description:
        'Newest first (created_at, then id). Filters combine with AND, e.g. `?model_type=sigma&status=ready&is_active=true&q=ssh` ' +
        '(q: case-insensitive substring of the name or the description).',
      querystring: ModelQuery,
      response: { 200: Page(ModelOut), ...errors(400, 401, 403, 404) }
    },
    handler: (request) => listModels(app.lists, request.query, request)
  })

  app.post('/', {
    config: { permission: 'models:write' },
    bodyLimit,
    schema: {
      tags,
      summary: 'Create a detection model',
      description:
        'The definition is compiled first: one Vigil cannot run exactly is refused (400 `invalid_definition`) and nothing ' +
        'is stored. The caller becomes `created_by`. Active, ready models run on every event stored from then on, on every instance.',
      body: ModelBody,
      response: { 201: ModelOut, ...errors(401, 403, 415, { 400: INVALID, 409: DUPLICATE, 413: TOO_LARGE }) }
    },
    handler: async (request, reply) => {
      const model = await createModel(app.db, context(request), request.body)
      if (model.status === 'training') train()
      return reply.code(201).send(modelOut(model))
    }
  })

  app.get('/:id', {
    config: { permission: 'models:read' },
    schema: {
      tags,
      summary: 'Get a detection model',
      description: 'One model by id, with its definition and match counters.',
      params: IdParams,
      response: { 200: ModelOut, ...errors(400, 401, 403, 404) }
    },
    handler: async (request) => modelOut(await getModel(app.db, request.params.id))
  })

  app.put('/:id', {
    config: { permission: 'models:write' },
    bodyLimit,
    schema: {
      tags,
      summary: 'Replace a detection model',
      description:
        'name, model_type and definition are required; the optional fields sent are set and the others kept. A new ' +
        'model_type or definition is compiled first (400 `invalid_definition`). Changed fields are recorded in the audit trail.',
      params: IdParams,
      body: ModelBody,
      response: { 200: ModelOut, ...errors(401, 403, 404, 415, { 400: INVALID, 409: DUPLICATE, 413: TOO_LARGE }) }
    },
    handler: (request) => change(request, request.params.id, request.body)
  })

  app.patch('/:id', {
    config: { permission: 'models:write' },
    bodyLimit,
    schema: {
      tags,
      summary: 'Update a detection model',
      description:
        'Any of the fields. A new model_type or definition is compiled first (400 `invalid_definition`); a new status clears ' +
        'status_reason. Changed fields are recorded in the audit trail with their values before and after.',
      params: IdParams,
      body: ModelPatch,
      response: { 200: ModelOut, ...errors(401, 403, 404, 415, { 400: INVALID, 409: DUPLICATE, 413: TOO_LARGE }) }
    },
    handler: (request) => change(request, request.params.id, request.body)
  })

  app.delete('/:id', {
    config: { permission: 'models:write' },
    schema: {
      tags,
      summary: 'Delete a detection model',
      description: 'It stops running on every instance at once. Detections it recorded on events and alerts stay.',
      params: IdParams,
      response: { 204: Type.Null({ description: 'Deleted' }), ...errors(400, 401, 403, { 404: 'No such model' }) }
    },
    handler: async (request, reply) => {
      await deleteModel(app.db, actorOf(request), request.params.id)
      return reply.code(204).send(null)
    }
  })

  app.post('/:id/retrain', {
    config: { permission: 'models:write' },
    schema: {
      tags,
      summary: 'Retrain a detection model',
      description:
        'Sets the model `training` (clearing status_reason) and answers at once: a trainer on any instance learns its ' +
        'baseline from the stored events in the background, then sets it `ready`, or `failed` with the reason in status_reason.',
      params: IdParams,
      response: { 202: described(RetrainOut, 'Accepted: the model is training'), ...errors(400, 401, 403, { 404: 'No such model' }) }
    },
    handler: async (request, reply) => {
      const answer = await retrainModel(app.db, actorOf(request), request.params.id)
      train()
      return reply.code(202).send(answer)
    }
  })

  app.post('/:id/test', {
    config: { permission: 'models:write' },
    schema: {
      tags,
      summary: 'Dry-run a detection model',
      description:
        'Runs the model on the records given, as ingestion would run it (logsource routing, field mappings, keywords on the ' +
        'message), and reports per record whether it matched and which rules did. Stores nothing and counts no match. ' +
        'Correlations and baselines need a stream of stored events: their rules are reported, not their firings.',
      params: IdParams,
      body: TestBody,
      response: { 200: TestOut, ...errors(401, 403, 413, 415, { 400: INVALID, 404: 'No such model' }) }
    },
    handler: async (request) => testModel(app.db, sigma, request.params.id, request.body.records)
  })

  app.post('/import', {
    config: { permission: 'models:write' },
    bodyLimit,
    schema: {
      tags,
      summary: 'Import Sigma rules',
      description:
        'A body of Sigma YAML (`Content-Type: application/yaml`), many documents: one model per rule, named after its title; ' +
        'a correlation and the rules it reads make one model. Each is compiled and created as by POST /api/models/; one that ' +
        'does not compile or whose name is taken is reported in `errors` with its place and reason, and the others are created.',
      consumes: YAML_TYPES,
      body: ImportBody,
      response: { 200: ImportOut, ...errors(401, 403, 415, { 400: INVALID, 413: TOO_LARGE }) }
    },
    handler: async (request) => importModels(app.db, context(request), request.body)
  })
}

export default modelRoutes
