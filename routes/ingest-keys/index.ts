// /api/ingest-keys: admins create, list and revoke the machine credentials of log shippers.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors, IdParams, Page } from '../../src/schemas.js'
import { actorOf } from '../../src/services/actor.js'
import { createIngestKey, getIngestKey, ingestKeyOut, listIngestKeys, revokeIngestKey } from '../../src/services/ingest-keys.js'
import { IngestKeyCreate, IngestKeyCreated, IngestKeyOut, IngestKeyQuery } from './schema.js'

const tags = ['ingest']

const ingestKeyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/', {
    config: { permission: 'ingest-keys:manage' },
    schema: {
      tags,
      summary: 'Create an ingest key',
      description:
        'Returns the key once: only its SHA-256 is stored. A shipper presents it as `Authorization: Bearer <key>`, ' +
        '`Splunk <key>`, `ApiKey base64(id:key)`, HTTP Basic with the key as password, or `X-API-Key`. The key can ' +
        'only ingest. `defaults` fill the fields a record lacks. Audited as ingest_key.created (without the key).',
      body: IngestKeyCreate,
      response: { 201: IngestKeyCreated, ...errors(400, 401, 403, 415) }
    },
    handler: async (request, reply) => {
      const { row, key } = await createIngestKey(app.db, actorOf(request), request.body)
      const out = ingestKeyOut(row)
      return reply.code(201).send({ id: out.id, name: out.name, key, prefix: out.prefix, defaults: out.defaults, created_at: out.created_at })
    }
  })

  app.get('/', {
    config: { permission: 'ingest-keys:manage' },
    schema: {
      tags,
      summary: 'List ingest keys',
      description: 'Newest first (created_at, then id). No secrets: the prefix tells keys apart.',
      querystring: IngestKeyQuery,
      response: { 200: Page(IngestKeyOut), ...errors(400, 401, 403, 404) }
    },
    handler: (request) => listIngestKeys(app.lists, request.query, request)
  })

  app.get('/:id', {
    config: { permission: 'ingest-keys:manage' },
    schema: {
      tags,
      summary: 'Get an ingest key',
      description: 'Its name, prefix, defaults and when it was created, last used and revoked; never the secret.',
      params: IdParams,
      response: { 200: IngestKeyOut, ...errors(400, 401, 403, 404) }
    },
    handler: async (request) => {
      return ingestKeyOut(await getIngestKey(app.db, request.params.id))
    }
  })

  app.delete('/:id', {
    config: { permission: 'ingest-keys:manage' },
    schema: {
      tags,
      summary: 'Revoke an ingest key',
      description:
        'Takes effect at once: the next request with the key is refused (401). The key stays listed with its ' +
        'revoked_at. Revoking a revoked key changes nothing. Audited as ingest_key.revoked.',
      params: IdParams,
      response: { 204: Type.Null({ description: 'Revoked' }), ...errors(400, 401, 403, { 404: 'No such ingest key' }) }
    },
    handler: async (request, reply) => {
      await revokeIngestKey(app.db, actorOf(request), request.params.id)
      return reply.code(204).send(null)
    }
  })
}

export default ingestKeyRoutes
