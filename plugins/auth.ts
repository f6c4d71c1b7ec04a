// Authentication: issues and verifies JWTs (HS256 only, issuer and audience checked), rotates
// refresh tokens with reuse detection, and resolves every request's credential to a principal:
// a user (loaded fresh from the database, so deactivation and role changes apply at once) or an
// ingest key.
import { randomUUID } from 'node:crypto'
import fastifyJwt from '@fastify/jwt'
import { and, eq, gt, isNull, sql } from 'drizzle-orm'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { hashIngestKey, readCredential } from '../src/auth/ingest-keys.js'
import { PrincipalCache } from '../src/auth/principal-cache.js'
import type { Db, Tx } from '../src/db/index.js'
import { ingestKeys, refreshTokens, users, type Role } from '../src/db/schema.js'
import { forbidden, HttpError, INVALID_TOKEN, UNAUTHENTICATED } from '../src/errors.js'

export interface TokenClaims {
  sub: string
  typ: 'access' | 'refresh'
  /** The user's token version when issued: bumping it revokes every token issued before. */
  tv: number
  jti?: string
  fam?: string
  iat?: number
  exp?: number
}

export interface UserPrincipal {
  kind: 'user'
  id: number
  username: string
  email: string | null
  role: Role
  isActive: boolean
  createdAt: Date
}
export interface IngestKeyPrincipal {
  kind: 'ingest-key'
  id: number
  name: string
  role: 'ingest-key'
  defaults: Record<string, unknown>
}
export type Principal = UserPrincipal | IngestKeyPrincipal

export interface TokenPair {
  access: string
  refresh: string
  expiresIn: number
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: TokenClaims
    user: TokenClaims
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    tokens: {
      /** Starts a new refresh-token family for a fresh login. */
      issue(user: { id: number; tokenVersion: number }): Promise<TokenPair>
      /** Exchanges a refresh token for a new pair; reuse of a rotated token revokes its family. */
      rotate(refreshToken: string): Promise<TokenPair & { userId: number }>
      /** Revokes the family of a refresh token that belongs to `userId` (logout). */
      revokeFamily(refreshToken: string, userId: number): Promise<void>
    }
    /** Recently read user rows (src/auth/principal-cache.ts); drop a user's after changing it. */
    principals: PrincipalCache
    /** Resolves the request's credential into `request.principal`, or throws a 401. */
    authenticate(request: FastifyRequest): Promise<Principal>
  }
  interface FastifyRequest {
    principal: Principal | null
  }
}

const CLOCK_TOLERANCE_MS = 10_000
/** Verified tokens remembered at most. */
const VERIFIED_TOKENS = 1000

const invalid = (detail = INVALID_TOKEN, code: 'invalid_token' | 'not_authenticated' = 'invalid_token') =>
  new HttpError(code, detail, { headers: { 'www-authenticate': 'Bearer realm="api"' } })

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

  // Verified tokens, by their exact text, until they expire (clock tolerance included): a busy
  // client's token is not decoded, parsed and HMAC-checked again on every request. Only the very
  // same signed bytes hit; the oldest entry goes when it is full. (fast-jwt's own cache hashes
  // every token to make its key, and warns at start when given a cheaper key.)
  const verified = new Map<string, { claims: TokenClaims; until: number }>()
  const verify = (token: string): TokenClaims => {
    const hit = verified.get(token)
    if (hit && Date.now() <= hit.until) return hit.claims
    let claims: TokenClaims
    try {
      claims = app.jwt.verify<TokenClaims>(token)
    } catch {
      verified.delete(token)
      throw invalid()
    }
    if (verified.size >= VERIFIED_TOKENS) verified.delete(verified.keys().next().value!)
    verified.set(token, { claims, until: claims.exp! * 1000 + CLOCK_TOLERANCE_MS })
    return claims
  }

  async function newPair(userId: number, tokenVersion: number, familyId: string, db: Db | Tx = app.db): Promise<TokenPair> {
    const jti = randomUUID()
    const expiresAt = new Date(Date.now() + config.REFRESH_TOKEN_TTL * 1000)
    await db.insert(refreshTokens).values({ id: jti, familyId, userId, expiresAt })
    const sub = String(userId)
    return {
      access: app.jwt.sign({ sub, typ: 'access', tv: tokenVersion }, { expiresIn: `${config.ACCESS_TOKEN_TTL}s`, jti: randomUUID() }),
      refresh: app.jwt.sign({ sub, typ: 'refresh', tv: tokenVersion, fam: familyId }, { expiresIn: `${config.REFRESH_TOKEN_TTL}s`, jti }),
      expiresIn: config.ACCESS_TOKEN_TTL
    }
  }

  app.decorate('tokens', {
    issue: (user: { id: number; tokenVersion: number }) => newPair(user.id, user.tokenVersion, randomUUID()),

    async rotate(refreshToken: string) {
      const claims = verify(refreshToken)
      if (claims.typ !== 'refresh' || !claims.jti || !claims.fam) throw invalid('Token has wrong type')
      const userId = Number(claims.sub)
      const result = await app.db.transaction(async (tx) => {
        const [used] = await tx
          .update(refreshTokens)
          .set({ usedAt: sql`now()` })
          .where(
            and(
              eq(refreshTokens.id, claims.jti!),
              isNull(refreshTokens.usedAt),
              isNull(refreshTokens.revokedAt),
              gt(refreshTokens.expiresAt, sql`now()`)
            )
          )
          .returning({ familyId: refreshTokens.familyId, userId: refreshTokens.userId })
        if (!used) return 'reused' as const
        const [user] = await tx
          .select({ id: users.id, tokenVersion: users.tokenVersion, isActive: users.isActive })
          .from(users)
          .where(eq(users.id, used.userId))
        if (!user || !user.isActive || user.tokenVersion !== claims.tv || user.id !== userId) return 'invalid' as const
        const pair = await newPair(user.id, user.tokenVersion, used.familyId, tx)
        return { ...pair, userId: user.id }
      })
      if (result === 'reused') {
        // Already rotated (or revoked): someone replays an old token, so the whole family goes.
        // Outside the transaction above, so the revocation is not rolled back with the refusal.
        await app.db
          .update(refreshTokens)
          .set({ revokedAt: sql`now()` })
          .where(and(eq(refreshTokens.familyId, claims.fam), isNull(refreshTokens.revokedAt)))
      }
      if (typeof result === 'string') throw invalid('Token is invalid or expired')
      return result
    },

    async revokeFamily(refreshToken: string, userId: number) {
      const claims = verify(refreshToken)
      if (claims.typ !== 'refresh' || !claims.fam) throw invalid('Token has wrong type')
      if (Number(claims.sub) !== userId) throw forbidden('This refresh token belongs to another user.')
      await app.db
        .update(refreshTokens)
        .set({ revokedAt: sql`now()` })
        .where(and(eq(refreshTokens.familyId, claims.fam), isNull(refreshTokens.revokedAt)))
    }
  })

  app.decorateRequest('principal', null)

  // The per-request lookups, built once and prepared by the driver (postgres.js prepares them on
  // each connection): every request still reads the row, so revocation applies at once.
  const keyByHash = app.db
    .select({ id: ingestKeys.id, name: ingestKeys.name, defaults: ingestKeys.defaults })
    .from(ingestKeys)
    .where(and(eq(ingestKeys.keyHash, sql.placeholder('hash')), isNull(ingestKeys.revokedAt)))
    .prepare('vigil_auth_ingest_key')
  const userById = app.db
    .select({
      id: users.id,
      username: users.username,
      email: users.email,
      role: users.role,
      isActive: users.isActive,
      tokenVersion: users.tokenVersion,
      createdAt: users.createdAt
    })
    .from(users)
    .where(eq(users.id, sql.placeholder('id')))
    .prepare('vigil_auth_user')

  // Every request still checks the user's current row (active, role, token version); a busy
  // client's row is read from the database once per AUTH_CACHE_TTL_MS at most, and any change to
  // it is announced by the database (NOTIFY) and drops the copy at once.
  const principals = new PrincipalCache(config.AUTH_CACHE_TTL_MS)
  app.decorate('principals', principals)
  if (config.AUTH_CACHE_TTL_MS > 0) {
    try {
      await app.database.listen('vigil_users', {
        onNotify: (payload) => principals.onNotify(payload),
        onListen: () => principals.subscribedAgain(),
        onLost: () => principals.unsubscribed()
      })
    } catch (err) {
      // Without the announcements nothing is cached: every request reads the row.
      app.log.warn({ err }, 'cannot subscribe to user changes; user rows will not be cached')
    }
  }

  app.decorate('authenticate', async (request: FastifyRequest): Promise<Principal> => {
    const credential = readCredential(request.headers)
    if (!credential) throw invalid(UNAUTHENTICATED, 'not_authenticated')
    if (credential.kind === 'ingest-key') {
      const [key] = await keyByHash.execute({ hash: hashIngestKey(credential.key) })
      if (!key) throw invalid('Invalid or revoked API key.')
      request.principal = {
        kind: 'ingest-key',
        id: key.id,
        name: key.name,
        role: 'ingest-key',
        defaults: (key.defaults ?? {}) as Record<string, unknown>
      }
      return request.principal
    }
    const claims = verify(credential.token)
    if (claims.typ !== 'access') throw invalid('Token has wrong type')
    const id = Number(claims.sub)
    if (!Number.isSafeInteger(id)) throw invalid()
    const user = await principals.load(id, async () => (await userById.execute({ id }))[0])
    if (!user || !user.isActive || user.tokenVersion !== claims.tv) throw invalid()
    const { tokenVersion: _tv, ...rest } = user
    request.principal = { kind: 'user', ...rest }
    return request.principal
  })
}

export default fp(authPlugin, { name: 'auth', dependencies: ['config', 'db'] })
