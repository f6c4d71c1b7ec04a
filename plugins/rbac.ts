// Role-based access control. Every route declares either `config.permission` or
// `config.public: true`; a route that declares neither refuses to register, so nothing is
// exposed by omission. One onRequest hook authenticates (401) before it authorizes (403).
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { can, type Permission } from '../src/auth/permissions.js'
import type { Principal } from '../src/auth/principal.js'
import { forbidden } from '../src/errors.js'
import { redeemTicket, ticketRefused } from '../src/services/stream-tickets.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The permission a caller needs; see src/auth/permissions.ts. */
    permission?: Permission
    /** Explicitly open to anonymous callers. */
    public?: boolean
    /**
     * Also accepts a single-use stream ticket in `?ticket=` instead of a bearer token (for
     * EventSource, which cannot send headers; src/services/stream-tickets.ts). The permission
     * is still checked against the ticket's user.
     */
    ticket?: boolean
  }
}

// Routes registered by third-party plugins (the docs UI and its assets) are public documentation.
const THIRD_PARTY_PUBLIC = /^\/docs(\/|$)/

async function rbacPlugin(app: FastifyInstance) {
  async function byTicket(request: FastifyRequest, ticket: string): Promise<Principal> {
    const principal = await app.userPrincipal(await redeemTicket(app.db, ticket))
    if (!principal) throw ticketRefused()
    request.principal = principal
    return principal
  }

  app.addHook('onRoute', (route) => {
    const cfg = (route.config ?? {}) as { permission?: Permission; public?: boolean }
    if (cfg.permission || cfg.public) return
    if (THIRD_PARTY_PUBLIC.test(route.url)) {
      route.config = { ...cfg, public: true }
      return
    }
    throw new Error(`Route ${String(route.method)} ${route.url} declares neither a permission nor public: true`)
  })

  app.addHook('onRequest', async (request) => {
    if (request.is404) return
    const cfg = request.routeOptions.config
    if (cfg.public) return
    const ticket = cfg.ticket ? (request.query as { ticket?: unknown } | undefined)?.ticket : undefined
    const principal = typeof ticket === 'string' && request.headers.authorization === undefined ? await byTicket(request, ticket) : await app.authenticate(request)
    if (!cfg.permission || !can(principal.role, cfg.permission)) {
      throw forbidden()
    }
  })
}

export default fp(rbacPlugin, { name: 'rbac', dependencies: ['auth'] })
