// Users: creation (shared by the admin API, self-registration, the CLI and the bootstrap admin),
// the public shape a user is shown in, token revocation and the last-admin guard.
import { and, asc, eq, isNull, or, sql } from 'drizzle-orm'
import { hashPassword } from '../auth/passwords.js'
import type { Db, Tx } from '../db/index.js'
import { refreshTokens, users, type Role, type User } from '../db/schema.js'
import { conflict, isUniqueViolation } from '../errors.js'

export interface NewUser {
  username: string
  email?: string | null
  password: string
  role: Role
  isActive?: boolean
}

/** The fields a user may be shown with: never the password hash or the token version. */
export type PublicUserSource = Pick<User, 'id' | 'username' | 'email' | 'role' | 'isActive' | 'createdAt'>

export function publicUser(u: PublicUserSource) {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    role: u.role,
    is_active: u.isActive,
    created_at: u.createdAt.toISOString()
  }
}

/** Turns a violation of the case-insensitive unique indexes into a 409 naming the field. */
export function userConflict(err: unknown): unknown {
  if (isUniqueViolation(err, 'users_username_lower_idx')) return conflict('A user with that username already exists.', 'username')
  if (isUniqueViolation(err, 'users_email_lower_idx')) return conflict('A user with that email already exists.', 'email')
  return err
}

/**
 * Inserts a user whose password is already hashed, so callers can hash (about 140 ms of argon2)
 * before they open a transaction rather than while holding one.
 */
export async function insertUser(db: Db | Tx, input: Omit<NewUser, 'password'> & { passwordHash: string }): Promise<User> {
  try {
    const [user] = await db
      .insert(users)
      .values({
        username: input.username,
        email: input.email ?? null,
        passwordHash: input.passwordHash,
        role: input.role,
        isActive: input.isActive ?? true
      })
      .returning()
    return user
  } catch (err) {
    throw userConflict(err)
  }
}

/** Inserts a user; a username or email taken in any letter case is a 409 naming the field. */
export async function createUser(db: Db | Tx, input: NewUser): Promise<User> {
  const passwordHash = await hashPassword(input.password)
  const { password: _password, ...rest } = input
  return insertUser(db, { ...rest, passwordHash })
}

export async function findUserByName(db: Db, username: string): Promise<User | undefined> {
  const [user] = await db.select().from(users).where(eq(sql`lower(${users.username})`, username.toLowerCase()))
  return user
}

/**
 * Makes every token the user holds stop working at once: access tokens carry the token version
 * they were issued under (checked on every request), and refresh tokens are marked revoked.
 */
export async function revokeUserTokens(tx: Db | Tx, userId: number): Promise<void> {
  await tx
    .update(users)
    .set({ tokenVersion: sql`${users.tokenVersion} + 1` })
    .where(eq(users.id, userId))
  await tx
    .update(refreshTokens)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt)))
}

export const LAST_ADMIN =
  'This is the last active admin: it cannot be deleted, deactivated or demoted. Make another user an active admin first.'

/**
 * Locks the active admins' rows (in id order, so concurrent callers cannot deadlock) and
 * returns their ids. A transaction that then demotes, deactivates or deletes one of them while
 * another locked admin remains is safe: that other admin cannot change until it commits, and a
 * concurrent caller waiting on the same locks re-reads the rows and sees the change.
 * Callers must take these locks before locking any other user row.
 */
export async function lockActiveAdmins(tx: Tx): Promise<number[]> {
  const rows = await tx
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.role, 'admin'), eq(users.isActive, true)))
    .orderBy(asc(users.id))
    .for('update')
  return rows.map((r) => r.id)
}

/** Throws the 409 when `target` is an active admin and no other locked active admin remains. */
export function assertNotLastAdmin(target: Pick<User, 'id' | 'role' | 'isActive'>, lockedAdminIds: number[]): void {
  if (target.role !== 'admin' || !target.isActive) return
  if (!lockedAdminIds.some((id) => id !== target.id)) throw conflict(LAST_ADMIN)
}

/** Creates ADMIN_USERNAME as an admin at start when no such user exists yet. */
export async function ensureBootstrapAdmin(
  db: Db,
  admin: { username: string; password: string; email: string | null }
): Promise<boolean> {
  const existing = await db
    .select({ id: users.id })
    .from(users)
    .where(
      or(
        eq(sql`lower(${users.username})`, admin.username.toLowerCase()),
        admin.email ? eq(sql`lower(${users.email})`, admin.email.toLowerCase()) : undefined
      )
    )
  if (existing.length > 0) return false
  await createUser(db, { ...admin, role: 'admin' })
  return true
}
