// Who a request acts as, once authenticated: a user (their current row: active, role, token
// version, read on every request through the principal cache) or an ingest key. Resolving a
// request's credential into one lives here; plugins/auth.ts only hangs it on the request.
import { and, eq, isNull, sql } from 'drizzle-orm'
import type { Db } from '../db/index.js'
import { ingestKeys, users, type Role } from '../db/schema.js'
import { UNAUTHENTICATED } from '../errors.js'
import type { TokenService } from '../services/tokens.js'
import { invalidToken } from '../services/tokens.js'
import { hashIngestKey, readCredential } from './ingest-keys.js'
import type { PrincipalCache } from './principal-cache.js'

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

/** What a request carries for authentication and the audit trail. */
export interface RequestIdentity {
  principal: Principal | null
  ip: string
}

/**
 * Builds the function that turns a request's headers into its principal, or throws a 401. Its
 * per-request lookups are built once and prepared by the driver (postgres.js prepares them on
 * each connection): every request still reads the row, so revocation applies at once.
 */
export function principalResolver(db: Db, tokens: TokenService, principals: PrincipalCache) {
  const keyByHash = db
    .select({ id: ingestKeys.id, name: ingestKeys.name, defaults: ingestKeys.defaults })
    .from(ingestKeys)
    .where(and(eq(ingestKeys.keyHash, sql.placeholder('hash')), isNull(ingestKeys.revokedAt)))
    .prepare('vigil_auth_ingest_key')
  const userById = db
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

  /** The user's principal, if the user exists and is active (and holds token version `tv`, when given). */
  async function userPrincipal(id: number, tv?: number): Promise<UserPrincipal | undefined> {
    const user = await principals.load(id, async () => (await userById.execute({ id }))[0])
    if (!user || !user.isActive || (tv !== undefined && user.tokenVersion !== tv)) return undefined
    const { tokenVersion: _tv, ...rest } = user
    return { kind: 'user', ...rest }
  }

  async function resolve(headers: Record<string, string | string[] | undefined>): Promise<Principal> {
    const credential = readCredential(headers)
    if (!credential) throw invalidToken(UNAUTHENTICATED, 'not_authenticated')
    if (credential.kind === 'ingest-key') {
      const [key] = await keyByHash.execute({ hash: hashIngestKey(credential.key) })
      if (!key) throw invalidToken('Invalid or revoked API key.')
      return { kind: 'ingest-key', id: key.id, name: key.name, role: 'ingest-key', defaults: (key.defaults ?? {}) as Record<string, unknown> }
    }
    const claims = tokens.verify(credential.token)
    if (claims.typ !== 'access') throw invalidToken('Token has wrong type')
    const id = Number(claims.sub)
    if (!Number.isSafeInteger(id)) throw invalidToken()
    const user = await userPrincipal(id, claims.tv)
    if (!user) throw invalidToken()
    return user
  }
  return { resolve, userPrincipal }
}
