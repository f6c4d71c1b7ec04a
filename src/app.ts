// The app factory shared by the server entry and the tests: the same Fastify options and plugins
// in both, so tests exercise what production runs. Order: core plugins (config, database, auth,
// rbac, errors, security, docs), then routes.
import { randomUUID } from 'node:crypto'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import AjvModule, { type Options as AjvOptions } from 'ajv'
import addFormatsModule from 'ajv-formats'
import Fastify, { type FastifyInstance } from 'fastify'
import authPlugin from '../plugins/auth.js'
import configPlugin from '../plugins/config.js'
import dbPlugin from '../plugins/db.js'
import errorsPlugin, { frameworkErrors } from '../plugins/errors.js'
import ingestPlugin from '../plugins/ingest.js'
import rbacPlugin from '../plugins/rbac.js'
import securityPlugin from '../plugins/security.js'
import swaggerPlugin from '../plugins/swagger.js'
import alertRoutes from '../routes/alerts/index.js'
import auditRoutes from '../routes/audit/index.js'
import authRoutes from '../routes/auth/index.js'
import elasticRoutes from '../routes/elastic/index.js'
import eventRoutes from '../routes/events/index.js'
import healthRoutes from '../routes/health/index.js'
import hecRoutes from '../routes/hec/index.js'
import incidentRoutes from '../routes/incidents/index.js'
import ingestKeyRoutes from '../routes/ingest-keys/index.js'
import bulkRoutes from '../routes/ingest/index.js'
import tokenRoutes from '../routes/token/index.js'
import userRoutes from '../routes/users/index.js'
import type { Config } from './config.js'
import { boundArrays } from './validation.js'

/** Header names whose values never reach a log line. */
const REDACT = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]'
]

// ajv and ajv-formats are CommonJS: their default export sits one level down under ESM.
const Ajv = AjvModule.default
const addFormats = addFormatsModule.default

function makeAjv(opts: AjvOptions) {
  const ajv = new Ajv({
    removeAdditional: true,
    useDefaults: true,
    // Bounded by src/validation.ts (boundArrays) and plugins/errors.ts (MAX_FIELD_ERRORS).
    allErrors: true,
    verbose: true,
    strict: false,
    ...opts
  })
  addFormats(ajv)
  // ISO 8601 date or date-time, as DRF filters accept.
  ajv.addFormat('iso-date', {
    type: 'string',
    validate: (s: string) => /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}(:?\d{2})?)?)?$/.test(s) && !Number.isNaN(Date.parse(s))
  })
  return ajv
}

export function createServer(config: Config, logStream?: { write(msg: string): void }): FastifyInstance {
  // Query strings and path params arrive as text and are coerced to the schema's types; bodies
  // are JSON and must carry the right types already ("5" is not a number, an object is not a string).
  const coercing = makeAjv({ coerceTypes: 'array' })
  const strict = makeAjv({ coerceTypes: false })

  const app = Fastify({
    logger: {
      level: config.LOG_LEVEL,
      redact: { paths: REDACT, censor: '[redacted]' },
      ...(logStream && { stream: logStream })
    },
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    bodyLimit: config.BODY_LIMIT,
    trustProxy: config.TRUST_PROXY,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Errors met before routing (a URL that does not decode) get the same {code, detail} body.
    frameworkErrors
  }).withTypeProvider<TypeBoxTypeProvider>()

  // allErrors, bounded: see src/validation.ts.
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : coercing).compile(boundArrays(schema as object))
  )
  // While closing, answers ask keep-alive clients to hang up, so connections busy when the
  // shutdown began do not hold the process open once their request is done.
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  // Callback style, like the other per-request hooks that never wait: no promise per request.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id)
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })
  return app
}

export interface BuildOptions {
  config: Config
  /** Where log lines go (stdout by default); tests read them to prove secrets stay out. */
  logStream?: { write(msg: string): void }
}

export async function buildApp({ config, logStream }: BuildOptions): Promise<FastifyInstance> {
  const app = createServer(config, logStream)
  await app.register(configPlugin, { config })
  await app.register(securityPlugin)
  await app.register(dbPlugin)
  await app.register(authPlugin)
  await app.register(rbacPlugin)
  await app.register(errorsPlugin)
  await app.register(swaggerPlugin)

  await app.register(tokenRoutes, { prefix: '/api/token' })
  await app.register(authRoutes, { prefix: '/api/auth' })
  await app.register(userRoutes, { prefix: '/api/users' })
  await app.register(eventRoutes, { prefix: '/api/events' })
  await app.register(alertRoutes, { prefix: '/api/alerts' })
  await app.register(incidentRoutes, { prefix: '/api/incidents' })
  await app.register(auditRoutes, { prefix: '/api/audit' })
  await app.register(healthRoutes, { prefix: '/health' })
  await app.register(ingestKeyRoutes, { prefix: '/api/ingest-keys' })
  // Ingestion from log shippers, in a scope of its own: its any-content-type body parser, body
  // limit, back-pressure and error shapes stay out of the JSON API.
  await app.register(async (ingest) => {
    await ingest.register(ingestPlugin)
    await ingest.register(bulkRoutes, { prefix: '/api/events/bulk' })
    await ingest.register(hecRoutes, { prefix: '/services/collector' })
    await ingest.register(elasticRoutes)
  })
  await app.ready()
  return app
}
