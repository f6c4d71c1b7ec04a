// OpenAPI generated from the route schemas (/docs/json) and the docs UI (/docs). Routes that are
// not public get the bearer requirement, so the UI's Authorize button (bearer token or the OAuth2
// password flow against /api/auth/token) works on every route.
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { VERSION } from '../src/version.js'

async function swaggerPlugin(app: FastifyInstance) {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Vigil API',
        version: VERSION,
        description:
          'Threat monitoring and alert management: ingest security events, triage the alerts they raise, manage incidents.'
      },
      tags: [
        { name: 'auth', description: 'Tokens, login, registration and the current user' },
        { name: 'events', description: 'Security events (admin)' },
        { name: 'alerts', description: 'Alerts raised by High and Critical events' },
        { name: 'incidents', description: 'Case management: incidents, linked alerts and entities' },
        { name: 'users', description: 'User management (admin)' },
        { name: 'ingest', description: 'Bulk ingestion and ingest keys for log shippers' },
        { name: 'compat', description: 'Splunk HEC and Elasticsearch compatible ingestion' },
        { name: 'audit', description: 'Audit trail (admin)' },
        { name: 'health', description: 'Liveness and readiness' }
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          oauth2: {
            type: 'oauth2',
            flows: { password: { tokenUrl: '/api/auth/token', refreshUrl: '/api/token/refresh/', scopes: {} } }
          },
          ingestKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' }
        }
      }
    },
    transform: ({ schema, url, route }) => {
      const cfg = (route.config ?? {}) as { public?: boolean; permission?: string }
      const out: Record<string, unknown> = { ...(schema as object) }
      if (cfg.public) out.security = []
      else if (cfg.permission === 'events:ingest') out.security = [{ ingestKey: [] }, { bearerAuth: [] }]
      else out.security = [{ bearerAuth: [] }, { oauth2: [] }]
      if (cfg.permission) {
        out['x-permission'] = cfg.permission
      }
      return { schema: out as typeof schema, url }
    }
  })
  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    // No validator badge: it would load an image from validator.swagger.io, which the policy refuses.
    uiConfig: { persistAuthorization: true, deepLinking: true, validatorUrl: null },
    // The UI's files get Vigil's own policy (plugins/security.ts), not the plugin's, which would
    // allow framing by the same origin and always upgrade to https.
    staticCSP: false
  })
}

export default fp(swaggerPlugin, { name: 'swagger', dependencies: ['rbac'] })
