// Role-based access control. Every route declares either `config.permission` or
// `config.public: true`; a route that declares neither refuses to register, so nothing is
// exposed by omission. One onRequest hook authenticates (401) before it authorizes (403).
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { can, type Permission } from '../src/auth/permissions.js'
import { forbidden } from '../src/errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The permission a caller needs; see src/auth/permissions.ts. */
    permission?: Permission
    /** Explicitly open to anonymous callers. */
    public?: boolean
  }
}

// Routes registered by third-party plugins (the docs UI and its assets) are public documentation.
const THIRD_PARTY_PUBLIC = /^\/docs(\/|$)/

async function rbacPlugin(app: FastifyInstance) {
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
    const principal = await app.authenticate(request)
    if (!cfg.permission || !can(principal.role, cfg.permission)) {
      throw forbidden()
    }
  })
}

export default fp(rbacPlugin, { name: 'rbac', dependencies: ['auth'] })
