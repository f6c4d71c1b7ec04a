// Login rate limits, shared by every instance: two fixed-window limits, per client IP and per
// username (so spreading guesses across IPs does not help against one account), counted in
// PostgreSQL (or Redis with REDIS_URL) so that N instances behind a load balancer allow what one
// would. If the shared store fails, this process's own counters take over (each instance then
// enforces its own share) and a warning is logged: logins neither stop nor go unlimited.
import type { FastifyInstance, FastifyRequest, preHandlerHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import { HttpError } from '../src/errors.js'
import { memoryCounter, postgresCounter, redisCounter, type Counter } from '../src/services/rate-limits.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler hooks for login-like routes: a limit per client IP and one per username. */
    loginRateLimit: preHandlerHookHandler[]
  }
}

/** The counted keys of a login attempt: its client IP, and the username it tries. */
function keysOf(request: FastifyRequest): string[] {
  const body = request.body as { username?: unknown } | undefined
  const user = typeof body?.username === 'string' ? `login:user:${body.username.toLowerCase()}` : `login:anon-ip:${request.ip}`
  return [`login:ip:${request.ip}`, user]
}

async function loginLimitPlugin(app: FastifyInstance) {
  const { config } = app
  let shared: Counter
  if (config.REDIS_URL) {
    // Fail fast rather than queue while Redis is away: the fallback answers meanwhile.
    const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true })
    redis.on('error', (err: Error) => app.log.warn({ err: { message: err.message } }, 'redis: connection error'))
    await redis.connect().catch((err: Error) => app.log.warn({ err: { message: err.message } }, 'redis: not reachable at start; login limits are per instance until it is'))
    app.addHook('onClose', async () => {
      await redis.quit().catch(() => redis.disconnect())
    })
    shared = redisCounter(redis)
  } else {
    shared = postgresCounter(app.db)
  }
  const local = memoryCounter()
  const count = async (keys: string[]) => {
    try {
      return await shared.hit(keys, config.LOGIN_RATE_WINDOW_MS)
    } catch (err) {
      app.log.warn({ err: { message: (err as Error).message } }, 'login limits: the shared store failed; counting in this instance')
      return local.hit(keys, config.LOGIN_RATE_WINDOW_MS)
    }
  }
  app.decorate('loginRateLimit', [
    async (request: FastifyRequest) => {
      const windows = await count(keysOf(request))
      const over = windows.filter((w) => w.count > config.LOGIN_RATE_LIMIT)
      if (over.length > 0) {
        const seconds = Math.max(1, Math.ceil(Math.max(...over.map((w) => w.ttlMs)) / 1000))
        throw new HttpError('rate_limited', 'Too many attempts; retry later.', { headers: { 'retry-after': String(seconds) } })
      }
    }
  ] as preHandlerHookHandler[])
}

export default fp(loginLimitPlugin, { name: 'login-limit', dependencies: ['config', 'db'] })
