// Tokens: JWT access tokens (short-lived, carrying the user's token version) and refresh tokens
// that work once each. A refresh token belongs to a family started by one login; presenting one
// that was already rotated revokes the whole family (someone replays a stolen token). Signing and
// checking signatures is @fastify/jwt's (HS256, issuer and audience), passed in by plugins/auth.ts.
import { randomUUID } from 'node:crypto'
import { and, eq, gt, isNull, sql } from 'drizzle-orm'
import type { Db, Tx } from '../db/index.js'
import { refreshTokens, users } from '../db/schema.js'
import { forbidden, HttpError, INVALID_TOKEN } from '../errors.js'
import { recordAudit, type Actor } from './audit.js'
import { checkLogin } from './login.js'

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

export interface TokenPair {
  access: string
  refresh: string
  expiresIn: number
}

/** Signs and verifies (signature, algorithm, issuer, audience, expiry with `clockToleranceMs`). */
export interface Jwt {
  sign(claims: Pick<TokenClaims, 'sub' | 'typ' | 'tv' | 'fam'>, opts: { expiresIn: string; jti: string }): string
  verify(token: string): TokenClaims
  clockToleranceMs: number
}

export interface TokenOptions {
  accessTtlS: number
  refreshTtlS: number
}

/** The 401 of a missing, bad or revoked credential, with the challenge RFC 6750 asks for. */
export const invalidToken = (detail = INVALID_TOKEN, code: 'invalid_token' | 'not_authenticated' = 'invalid_token') =>
  new HttpError(code, detail, { headers: { 'www-authenticate': 'Bearer realm="api"' } })

/** Verified tokens remembered at most. */
const VERIFIED_TOKENS = 1000

export function tokenService(db: Db, jwt: Jwt, opts: TokenOptions) {
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
      claims = jwt.verify(token)
    } catch {
      verified.delete(token)
      throw invalidToken()
    }
    if (verified.size >= VERIFIED_TOKENS) verified.delete(verified.keys().next().value!)
    verified.set(token, { claims, until: claims.exp! * 1000 + jwt.clockToleranceMs })
    return claims
  }

  async function newPair(userId: number, tokenVersion: number, familyId: string, q: Db | Tx = db): Promise<TokenPair> {
    const jti = randomUUID()
    const expiresAt = new Date(Date.now() + opts.refreshTtlS * 1000)
    await q.insert(refreshTokens).values({ id: jti, familyId, userId, expiresAt })
    const sub = String(userId)
    return {
      access: jwt.sign({ sub, typ: 'access', tv: tokenVersion }, { expiresIn: `${opts.accessTtlS}s`, jti: randomUUID() }),
      refresh: jwt.sign({ sub, typ: 'refresh', tv: tokenVersion, fam: familyId }, { expiresIn: `${opts.refreshTtlS}s`, jti }),
      expiresIn: opts.accessTtlS
    }
  }

  const revokeFamilyRows = (familyId: string, q: Db | Tx = db) =>
    q
      .update(refreshTokens)
      .set({ revokedAt: sql`now()` })
      .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)))

  return {
    /** The claims of a validly signed, unexpired token, or a 401. */
    verify,

    /** Starts a new refresh-token family for a fresh login. */
    issue: (user: { id: number; tokenVersion: number }): Promise<TokenPair> => newPair(user.id, user.tokenVersion, randomUUID()),

    /**
     * The password grant: a new pair for an active user whose password matches, or undefined
     * (src/services/login.ts: the same refusal, work and audit record for every failure).
     */
    async login(username: string, password: string, ip: string): Promise<TokenPair | undefined> {
      const user = await checkLogin(db, username, password, ip)
      return user ? newPair(user.id, user.tokenVersion, randomUUID()) : undefined
    },

    /** Exchanges a refresh token for a new pair; reuse of a rotated token revokes its family. */
    async rotate(refreshToken: string): Promise<TokenPair & { userId: number }> {
      const claims = verify(refreshToken)
      if (claims.typ !== 'refresh' || !claims.jti || !claims.fam) throw invalidToken('Token has wrong type')
      const userId = Number(claims.sub)
      const result = await db.transaction(async (tx) => {
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
      // Already rotated (or revoked): someone replays an old token, so the whole family goes.
      // Outside the transaction above, so the revocation is not rolled back with the refusal.
      if (result === 'reused') await revokeFamilyRows(claims.fam)
      if (typeof result === 'string') throw invalidToken('Token is invalid or expired')
      return result
    },

    /** Logout: revokes the family of the caller's own refresh token, audited as auth.logout. */
    async logout(refreshToken: string, actor: Actor & { id: number }): Promise<void> {
      const claims = verify(refreshToken)
      if (claims.typ !== 'refresh' || !claims.fam) throw invalidToken('Token has wrong type')
      if (Number(claims.sub) !== actor.id) throw forbidden('This refresh token belongs to another user.')
      await db.transaction(async (tx) => {
        await revokeFamilyRows(claims.fam!, tx)
        await recordAudit(tx, actor, { action: 'auth.logout', targetType: 'user', targetId: actor.id })
      })
    }
  }
}

export type TokenService = ReturnType<typeof tokenService>
