// OpenAPI generated from the route schemas (/docs/json) and the docs UI (/docs). Each operation
// states the credentials it takes (the lock the UI shows, and what Authorize sends): user routes
// a bearer token or the OAuth2 password flow against /api/auth/token, ingestion routes an ingest
// key or an admin's token from either. Every response is described for its route: what the
// status means there, with an example that fits it.
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { can, PERMISSION_ACTIONS, type Permission } from '../src/auth/permissions.js'
import { ROLES } from '../src/db/schema.js'
import { ERROR_STATUS_DOCS, ErrorResponse, MEDIA_DOCS, type ErrorBody, type MediaDoc } from '../src/schemas.js'
import { VERSION } from '../src/version.js'

const list = (items: string[]) => (items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`)

/** The 403 of a route that needs `permission`: who may, so a refused caller knows why. */
function forbiddenDescription(permission: Permission): string {
  const action = PERMISSION_ACTIONS[permission]
  const roles = ROLES.filter((role) => can(role, permission))
  const callers = [...roles.map((role) => `${role}s`), ...(can('ingest-key', permission) ? ['ingest keys'] : [])]
  if (roles.length === ROLES.length) return `An ingest key may not ${action}: only users may`
  return `Your role may not ${action}: only ${list(callers)} may`
}

type RouteConfig = { public?: boolean; permission?: Permission }
type Schema = Record<string, unknown>

const isIngest = (cfg: RouteConfig) => cfg.permission === 'events:ingest'

/** The security requirement of a route: any one of the schemes listed lets a caller in. */
function securityOf(cfg: RouteConfig) {
  if (cfg.public) return []
  // Ingestion takes an ingest key, or an admin's access token, whether pasted as a bearer token
  // or obtained by logging in on the page (admins may ingest; the key's defaults do not apply).
  if (isIngest(cfg)) return [{ ingestKey: [] }, { bearerAuth: [] }, { oauth2: [] }]
  return [{ bearerAuth: [] }, { oauth2: [] }]
}

/** The documented request body of an ingestion route: one media type per content type it documents. */
function mediaBody(body: Schema): Schema {
  const media = body[MEDIA_DOCS] as Record<string, MediaDoc>
  const content = Object.fromEntries(
    Object.entries(media).map(([type, doc]) => [
      type,
      {
        schema: {
          ...(typeof doc.example === 'string' ? { type: 'string' } : {}),
          description: doc.description ?? body.description,
          examples: [doc.example]
        }
      }
    ])
  )
  return { content }
}

const isErrorStatus = (status: string) => /^[45]\d\d$/.test(status)

const propertiesOf = (schema: unknown) => ((schema as Schema | undefined)?.properties ?? {}) as Schema

/** A validation error this route can really answer: its first required body field, its page size or its id. */
function validationExample(doc: Schema): ErrorBody | undefined {
  const field = (where: string, name: string, message: string): ErrorBody => ({
    code: 'validation_failed',
    detail: `Invalid ${where} '${name}': ${message}`,
    errors: { [name]: [message] }
  })
  const required = (doc.body as Schema | undefined)?.required
  if (Array.isArray(required) && typeof required[0] === 'string') return field('body field', required[0], 'This field is required.')
  if ('page_size' in propertiesOf(doc.querystring)) return field('query parameter', 'page_size', 'Ensure this value is less than or equal to 100.')
  const [param] = Object.keys(propertiesOf(doc.params))
  if (param) return field('path parameter', param, 'Must be of type integer.')
  return undefined
}

/**
 * The description of one response of a route, and its example when the route's context words it
 * better: a route's own wording (`x-response-description`, set by `errors` and `described` in
 * src/schemas.ts) first, then what the status means for this route, then the standard meaning.
 */
function describeResponse(status: string, schema: Schema, route: { method: string; cfg: RouteConfig; doc: Schema; title?: string }): Schema {
  if (typeof schema['x-response-description'] === 'string') return schema
  const { method, cfg, doc, title } = route
  const noun = title?.toLowerCase()
  let description: string | undefined
  let example: unknown
  if (isErrorStatus(status)) {
    switch (status) {
      case '400':
        // The house error body only (the ingestion shapes word their own 400s).
        if (schema.properties === ErrorResponse.properties) example = validationExample(doc)
        break
      case '401':
        if (!cfg.public) {
          description = isIngest(cfg)
            ? 'Not authenticated: no ingest key or admin token was sent, or it is unknown, revoked or expired'
            : 'Not authenticated: no bearer token was sent (log in with Authorize), or it is expired, revoked or invalid'
        }
        break
      case '403':
        if (cfg.permission) description = forbiddenDescription(cfg.permission)
        break
      case '404':
        if (doc.params && noun) description = `No such ${noun}`
        else if (doc.params) description = 'Nothing has this id'
        else if ('page' in propertiesOf(doc.querystring)) {
          description = 'No such page: `page` is past the last one'
          example = { code: 'not_found', detail: 'Invalid page.' }
        }
        break
    }
    // A schema of its own (a health reply) describes itself; the house error body describes only its shape.
    if (!description && typeof schema.description === 'string' && schema.properties !== ErrorResponse.properties) description = schema.description
    description ??= ERROR_STATUS_DOCS[Number(status)]?.description
  } else {
    description = typeof schema.description === 'string' ? schema.description : undefined
    if (!description && noun) {
      if (status === '201') description = `Created: the new ${noun}`
      else if (method === 'PUT' || method === 'PATCH') description = `The ${noun}, as changed`
      else description = `The ${noun}`
    }
  }
  if (!description) return schema
  return { ...schema, 'x-response-description': description, ...(example ? { examples: [example] } : {}) }
}

/** The title of the record a route answers with (its lowest 2xx), to word its responses. */
function successTitle(response: Record<string, Schema>): string | undefined {
  const status = Object.keys(response)
    .filter((s) => /^2\d\d$/.test(s))
    .sort()[0]
  const title = status ? response[status].title : undefined
  return typeof title === 'string' ? title : undefined
}

/**
 * A function for uiConfig that is the name of a global of the page. @fastify/swagger-ui writes
 * uiConfig into the page's initializer script, each function as its source (toString); this one's
 * source is the name of a plugin defined by the theme script below (a file: the policy allows
 * no inline script).
 */
const pageGlobal = (name: string) => Object.assign(() => ({}), { toString: () => name })

/**
 * Vigil's additions to Swagger UI, served as /docs/static/theme/vigil-docs.js. Swagger UI treats
 * every content type that says "json" as JSON, so it would show and send an NDJSON example (a
 * string) as one quoted JSON string, which the ingestion routes refuse. Here a string example of
 * an NDJSON content type is the body's text, shown and sent as it is; everything else is sampled
 * as Swagger UI does (objects as indented JSON, strings of JSON types quoted).
 */
const VIGIL_DOCS_JS = `'use strict';
window.VigilDocs = {
  plugin: function (system) {
    return {
      fn: {
        getJsonSampleSchema: function (schema, config, contentType, example) {
          var sample = system.getSystem().fn.memoizedSampleFromSchema(schema, config, example);
          var type = String(contentType || '');
          if (typeof sample === 'string' && /ndjson/.test(type)) return sample;
          if (typeof sample === 'object' || (typeof sample === 'string' && /json/.test(type))) return JSON.stringify(sample, null, 2);
          return sample;
        }
      }
    };
  }
};
`

async function swaggerPlugin(app: FastifyInstance) {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Vigil API',
        version: VERSION,
        description:
          'Threat monitoring and alert management: ingest security events, triage the alerts they raise, manage incidents.\n\n' +
          'Log in with **Authorize**: the OAuth2 password flow with your username and password (leave client_id and ' +
          'client_secret empty), or paste an access token as bearerAuth. Ingestion routes also take an ingest key ' +
          '(ingestKey); an admin may ingest with their own login.'
      },
      tags: [
        { name: 'auth', description: 'Tokens, login, registration and the current user' },
        { name: 'events', description: 'Security events (admin)' },
        { name: 'alerts', description: 'Alerts raised by High and Critical events' },
        { name: 'incidents', description: 'Case management: incidents, linked alerts and entities' },
        { name: 'models', description: 'Detection models: Sigma rules, correlations and learned baselines' },
        { name: 'views', description: 'Saved views: named filters of the alert, event and incident lists, your own and shared ones' },
        { name: 'suppressions', description: 'Suppressions: exceptions that expire; matching events are stored, flagged, and raise no alert (admin)' },
        { name: 'webhooks', description: 'Webhooks: signed, retried deliveries of alert changes (Standard Webhooks), their log and redelivery (admin)' },
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
            description: 'Log in with your username and password; client_id and client_secret are not used',
            flows: { password: { tokenUrl: '/api/auth/token', refreshUrl: '/api/token/refresh/', scopes: {} } }
          },
          ingestKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An ingest key (POST /api/ingest-keys); ingestion routes only' }
        }
      }
    },
    transform: ({ schema, url, route }) => {
      const cfg = (route.config ?? {}) as RouteConfig
      const out: Schema = { ...(schema as Schema) }
      out.security = securityOf(cfg)
      if (cfg.permission) out['x-permission'] = cfg.permission
      const body = out.body as Schema | undefined
      if (body?.[MEDIA_DOCS]) {
        out.body = mediaBody(body)
        delete out.consumes
      }
      const response = out.response as Record<string, Schema> | undefined
      if (response) {
        const method = Array.isArray(route.method) ? String(route.method[0]) : String(route.method)
        const context = { method, cfg, doc: out, title: successTitle(response) }
        out.response = Object.fromEntries(Object.entries(response).map(([status, s]) => [status, describeResponse(status, s, context)]))
      }
      return { schema: out as typeof schema, url }
    }
  })
  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    theme: { title: 'Vigil API docs', js: [{ filename: 'vigil-docs.js', content: VIGIL_DOCS_JS }] },
    uiConfig: {
      persistAuthorization: true,
      deepLinking: true,
      // No validator badge: it would load an image from validator.swagger.io, which the policy refuses.
      validatorUrl: null,
      // Without the top bar: its Swagger logo carries an inline <style>, which the policy refuses,
      // and its box for loading another document has nothing to load here.
      layout: 'BaseLayout',
      plugins: [pageGlobal('SwaggerUIBundle.plugins.DownloadUrl'), pageGlobal('VigilDocs.plugin')]
    },
    // The UI's files get Vigil's own policy (plugins/security.ts), not the plugin's, which would
    // allow framing by the same origin and always upgrade to https.
    staticCSP: false
  })
}

export default fp(swaggerPlugin, { name: 'swagger', dependencies: ['rbac'] })
