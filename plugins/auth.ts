// Authentication wiring: registers @fastify/jwt (HS256 only, issuer and audience checked), hands
// it to the token service (issuance, refresh rotation with reuse detection: src/services/tokens.ts),
// and resolves every request's credential to its principal (src/auth/principal.ts): a user, read
// through the principal cache so deactivation and role changes apply at once, or an ingest key.
import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { principalResolver, type Principal, type UserPrincipal } from '../src/auth/principal.js'
import { PrincipalCache } from '../src/auth/principal-cache.js'
import { userChanges } from '../src/db/channels.js'
import { tokenService, type TokenClaims, type TokenService } from '../src/services/tokens.js'

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: TokenClaims
    user: TokenClaims
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Login, token issuance, refresh rotation and logout (src/services/tokens.ts). */
    tokens: Pick<TokenService, 'login' | 'issue' | 'rotate' | 'logout'>
    /** Recently read user rows (src/auth/principal-cache.ts); drop a user's after changing it. */
    principals: PrincipalCache
    /** Resolves the request's credential into `request.principal`, or throws a 401. */
    authenticate(request: FastifyRequest): Promise<Principal>
    /** The current principal of an active user (undefined for a deactivated or deleted one, or one whose token version moved). */
    userPrincipal(id: number, tokenVersion?: number): Promise<UserPrincipal | undefined>
  }
  interface FastifyRequest {
    principal: Principal | null
  }
}

const CLOCK_TOLERANCE_MS = 10_000

async function authPlugin(app: FastifyInstance) {
  const { config } = app
  await app.register(fastifyJwt, {
    secret: config.JWT_SECRET,
    sign: { algorithm: 'HS256', iss: config.JWT_ISSUER, aud: config.JWT_AUDIENCE },
    verify: {
      algorithms: ['HS256'],
      allowedIss: config.JWT_ISSUER,
      allowedAud: config.JWT_AUDIENCE,
      clockTolerance: CLOCK_TOLERANCE_MS,
      requiredClaims: ['exp', 'sub', 'typ']
    }
  })

  const tokens = tokenService(
    app.db,
    {
      sign: (claims, opts) => app.jwt.sign(claims, opts),
      verify: (token) => app.jwt.verify<TokenClaims>(token),
      clockToleranceMs: CLOCK_TOLERANCE_MS
    },
    { accessTtlS: config.ACCESS_TOKEN_TTL, refreshTtlS: config.REFRESH_TOKEN_TTL }
  )
  app.decorate('tokens', tokens)

  app.decorateRequest('principal', null)

  // Every request still checks the user's current row (active, role, token version); a busy
  // client's row is read from the database once per AUTH_CACHE_TTL_MS at most, and any change to
  // it is announced by the database (NOTIFY) and drops the copy at once.
  const principals = new PrincipalCache(config.AUTH_CACHE_TTL_MS)
  app.decorate('principals', principals)
  if (config.AUTH_CACHE_TTL_MS > 0) {
    // Until the subscription is confirmed, and whenever it is lost, nothing is cached.
    const stop = new AbortController()
    app.addHook('onClose', async () => stop.abort())
    app.notifications.subscribe(
      userChanges,
      {
        onMessage: (change) => principals.invalidate(change),
        onReady: () => principals.subscribedAgain(),
        onGap: () => principals.unsubscribed()
      },
      { signal: stop.signal }
    )
  }

  const { resolve, userPrincipal } = principalResolver(app.db, tokens, principals)
  app.decorate('authenticate', async (request: FastifyRequest): Promise<Principal> => {
    request.principal = await resolve(request.headers)
    return request.principal
  })
  app.decorate('userPrincipal', userPrincipal)
}

export default fp(authPlugin, { name: 'auth', dependencies: ['config', 'db'] })
