// /health: public probes for load balancers and orchestrators. Readiness (`/health`) makes a real
// round trip to the database, bounded well below 2 seconds so a dead or hung database is reported
// as 503 promptly instead of hanging the probe; liveness (`/health/live`) never touches it.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorCodeSchema } from '../../src/schemas.js'
import { VERSION } from '../../src/version.js'

/** How long the readiness probe waits for the database before answering 503. */
export const DB_PING_TIMEOUT_MS = 1500

const tags = ['health']

const Healthy = Type.Object(
  {
    status: Type.Literal('ok'),
    database: Type.Literal('ok'),
    version: Type.String({ description: "Vigil's version" })
  },
  { description: 'Ready: the database answered', examples: [{ status: 'ok', database: 'ok', version: VERSION }] }
)
const Unhealthy = Type.Object(
  {
    status: Type.Literal('error'),
    database: Type.Literal('unreachable'),
    code: ErrorCodeSchema
  },
  { description: 'Not ready: the database did not answer in time', examples: [{ status: 'error', database: 'unreachable', code: 'database_unavailable' }] }
)
const Live = Type.Object({ status: Type.Literal('ok') }, { description: 'Alive: the process answers', examples: [{ status: 'ok' }] })

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/', {
    config: { public: true },
    schema: {
      tags,
      summary: 'Readiness: the service and its database',
      description: `200 after a real database round trip; 503 when the database does not answer within ${DB_PING_TIMEOUT_MS} ms.`,
      response: { 200: Healthy, 503: Unhealthy }
    },
    handler: async (request, reply) => {
      reply.header('cache-control', 'no-store')
      try {
        await app.database.ping(DB_PING_TIMEOUT_MS)
      } catch (err) {
        request.log.warn({ err }, 'health check: database unreachable')
        return reply.code(503).send({ status: 'error' as const, database: 'unreachable' as const, code: 'database_unavailable' as const })
      }
      return { status: 'ok' as const, database: 'ok' as const, version: VERSION }
    }
  })

  app.get('/live', {
    config: { public: true },
    schema: {
      tags,
      summary: 'Liveness: the process serves requests',
      description: 'Does not touch the database.',
      response: { 200: Live }
    },
    handler: async (_request, reply) => {
      reply.header('cache-control', 'no-store')
      return { status: 'ok' as const }
    }
  })
}

export default healthRoutes
