// The app factory shared by the server entry and the tests: the same Fastify options and plugins
// in both, so tests exercise what production runs. Order: core plugins (config, database, auth,
// rbac, errors, security, docs, metrics), then routes.
import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import alertScreenPlugin from '../plugins/alert-screen.js'
import alertStreamPlugin from '../plugins/alert-stream.js'
import authPlugin from '../plugins/auth.js'
import bulkJobsPlugin from '../plugins/bulk-jobs.js'
import configPlugin from '../plugins/config.js'
import dbPlugin from '../plugins/db.js'
import detectionPlugin from '../plugins/detection.js'
import suppressionsPlugin from '../plugins/suppressions.js'
import maintenancePlugin from '../plugins/maintenance.js'
import errorsPlugin, { frameworkErrors } from '../plugins/errors.js'
import ingestPlugin from '../plugins/ingest.js'
import loginLimitPlugin from '../plugins/login-limit.js'
import metricsPlugin from '../plugins/metrics.js'
import rbacPlugin from '../plugins/rbac.js'
import securityPlugin from '../plugins/security.js'
import swaggerPlugin from '../plugins/swagger.js'
import webhooksPlugin from '../plugins/webhooks.js'
import alertRoutes from '../routes/alerts/index.js'
import auditRoutes from '../routes/audit/index.js'
import authRoutes from '../routes/auth/index.js'
import elasticRoutes from '../routes/elastic/index.js'
import eventRoutes from '../routes/events/index.js'
import healthRoutes from '../routes/health/index.js'
import hecRoutes from '../routes/hec/index.js'
import incidentRoutes from '../routes/incidents/index.js'
import modelRoutes from '../routes/models/index.js'
import ingestKeyRoutes from '../routes/ingest-keys/index.js'
import bulkRoutes from '../routes/ingest/index.js'
import tokenRoutes from '../routes/token/index.js'
import userRoutes from '../routes/users/index.js'
import suppressionRoutes from '../routes/suppressions/index.js'
import viewRoutes from '../routes/views/index.js'
import webhookRoutes from '../routes/webhooks/index.js'
import { serializerCompiler, validatorCompiler } from './compilers.js'
import type { Config } from './config.js'
import { HttpError, statusOf, type ErrorCode } from './errors.js'
import { ensureBootstrapAdmin } from './services/users.js'

/** Header names whose values never reach a log line. */
const REDACT = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]'
]

/**
 * How often Node looks for requests past their headers or request bound (its default, 30 s,
 * would let a 1 s bound run 31 s): a tenth of the shorter bound, between 50 ms and 1 s.
 */
export function connectionsCheckingInterval(config: Config): number {
  const bounds = [config.HTTP_REQUEST_TIMEOUT_MS, config.HTTP_HEADERS_TIMEOUT_MS].filter((ms) => ms > 0)
  if (bounds.length === 0) return 30_000
  return Math.min(1000, Math.max(50, Math.floor(Math.min(...bounds) / 10)))
}

/** Node's client errors Vigil names; any other is malformed HTTP. The status follows the code. */
const CLIENT_ERRORS: Record<string, [ErrorCode, string, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: ['request_timeout', 'Request Timeout', 'The request was not received in time.'],
  HPE_HEADER_OVERFLOW: ['headers_too_large', 'Request Header Fields Too Large', 'The request headers are too large.']
}

/**
 * Errors Node meets before a request reaches Fastify (a request or headers timeout, malformed
 * HTTP): answered in Vigil's JSON error shape, then the connection is closed. Closing it also
 * ends any ingestion slot the request held.
 */
function clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket) {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [code, reason, detail] = CLIENT_ERRORS[err.code ?? ''] ?? ['malformed_request', 'Bad Request', 'The request is not valid HTTP.']
  const status = statusOf(code)
  this.log.info({ code: err.code, status }, 'client error')
  // Only when no answer has begun on this connection: a second status line would corrupt it.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent: boolean } })._httpMessage
  if (socket.writable && !inFlight?.headersSent) {
    const body = JSON.stringify({ detail, code })
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
    )
  }
  socket.destroy(err)
}

/** Query parameters that carry a credential (a stream ticket in a browser's EventSource URL). */
const SECRET_QUERY = /([?&]ticket=)[^&#]*/gi

/** A request as log lines show it (Fastify's fields), with credentials in the URL censored. */
function requestForLog(req: FastifyRequest) {
  return {
    method: req.method,
    url: req.url.replace(SECRET_QUERY, '$1[redacted]'),
    version: req.headers['accept-version'] as string | undefined,
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort
  }
}

export function createServer(config: Config, logStream?: { write(msg: string): void }): FastifyInstance {

  const app = Fastify({
    logger: {
      level: config.LOG_LEVEL,
      redact: { paths: REDACT, censor: '[redacted]' },
      serializers: { req: requestForLog },
      ...(logStream && { stream: logStream })
    },
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    bodyLimit: config.BODY_LIMIT,
    trustProxy: config.TRUST_PROXY,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // Fastify's own 503 while closing has no error code; the onRequest hook below answers instead.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    requestTimeout: config.HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeout: config.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    connectionTimeout: config.HTTP_CONNECTION_TIMEOUT_MS,
    // Node's own options, for what Fastify has no option of its own (the request bound is given
    // twice: Node checks the headers bound against it when the server is made).
    http: {
      requestTimeout: config.HTTP_REQUEST_TIMEOUT_MS,
      headersTimeout: config.HTTP_HEADERS_TIMEOUT_MS,
      connectionsCheckingInterval: connectionsCheckingInterval(config)
    },
    clientErrorHandler,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Errors met before routing (a URL that does not decode) get the same {code, detail} body.
    frameworkErrors
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  // While closing, answers ask keep-alive clients to hang up, so connections busy when the
  // shutdown began do not hold the process open once their request is done.
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  // Callback style, like the other per-request hooks that never wait: no promise per request.
  // A request that arrives while closing (on a connection that was busy when the shutdown began)
  // is refused before any work, as Fastify's return503OnClosing would, with the error shape.
  // Ingestion routes go on to their gate, which refuses them in the shape their shippers retry.
  app.addHook('onRequest', (request, _reply, done) => {
    if (closing && !request.routeOptions.config?.ingestion) {
      return done(new HttpError('shutting_down', 'Vigil is shutting down; retry later.', { headers: { 'retry-after': '1' } }))
    }
    done()
  })
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
  /**
   * An in-memory PGlite starts from this data directory instead of an empty cluster (initdb costs
   * seconds); the suite passes one already migrated. Migrations still run at start, as always.
   */
  pgliteImage?: Blob
}

export async function buildApp({ config, logStream, pgliteImage }: BuildOptions): Promise<FastifyInstance> {
  const app = createServer(config, logStream)
  await app.register(configPlugin, { config })
  await app.register(securityPlugin)
  await app.register(dbPlugin, { pgliteImage })
  await app.register(maintenancePlugin)
  await app.register(loginLimitPlugin)
  await app.register(authPlugin)
  await app.register(rbacPlugin)
  await app.register(errorsPlugin)
  await app.register(swaggerPlugin)
  await app.register(metricsPlugin)
  await app.register(detectionPlugin)
  await app.register(suppressionsPlugin)
  await app.register(bulkJobsPlugin)
  await app.register(alertScreenPlugin)
  await app.register(webhooksPlugin)
  await app.register(alertStreamPlugin)

  await app.register(tokenRoutes, { prefix: '/api/token' })
  await app.register(authRoutes, { prefix: '/api/auth' })
  await app.register(userRoutes, { prefix: '/api/users' })
  await app.register(eventRoutes, { prefix: '/api/events' })
  await app.register(alertRoutes, { prefix: '/api/alerts' })
  await app.register(incidentRoutes, { prefix: '/api/incidents' })
  await app.register(modelRoutes, { prefix: '/api/models' })
  await app.register(viewRoutes, { prefix: '/api/views' })
  await app.register(suppressionRoutes, { prefix: '/api/suppressions' })
  await app.register(auditRoutes, { prefix: '/api/audit' })
  await app.register(webhookRoutes, { prefix: '/api/webhooks' })
  await app.register(healthRoutes, { prefix: '/health' })
  await app.register(ingestKeyRoutes, { prefix: '/api/ingest-keys' })
  // Ingestion from log shippers, in a scope of its own: its any-content-type body parser, body
  // limit, back-pressure and error shapes stay out of the JSON API.
  await app.register(async (ingest) => {
    await ingest.register(ingestPlugin)
    // The gate is shared state worth watching from outside the scope (tests, health, metrics).
    app.decorate('ingestGate', ingest.ingestGate)
    await ingest.register(bulkRoutes, { prefix: '/api/events/bulk' })
    await ingest.register(hecRoutes, { prefix: '/services/collector' })
    await ingest.register(elasticRoutes)
  })
  await app.ready()
  // Here rather than in the server entry, so the tests start the app exactly as production does.
  if (config.ADMIN_USERNAME && config.ADMIN_PASSWORD) {
    try {
      const created = await ensureBootstrapAdmin(
        app.db,
        { username: config.ADMIN_USERNAME, password: config.ADMIN_PASSWORD, email: config.ADMIN_EMAIL ?? null },
        config.PASSWORD_MIN_LENGTH
      )
      if (created) app.log.info({ username: created.username }, 'bootstrap admin created')
    } catch (err) {
      await app.close()
      throw err
    }
  }
  return app
}
