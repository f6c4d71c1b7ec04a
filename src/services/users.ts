// Users: every query, transaction, password check and audit record of the resource. Creation is
// one function for the admin API, the CLI and the bootstrap admin (self-registration differs only
// in its fixed role and its actor), so all of them apply the password policy and are audited. A
// change that takes away access (deactivation, deletion, a new role or password) revokes the
// user's tokens at once; the last active admin cannot be removed.
import { and, asc, eq, getTableColumns, ilike, isNull, or, sql } from 'drizzle-orm'
import { hashPassword } from '../auth/passwords.js'
import type { Db, Tx } from '../db/index.js'
import { containing } from '../db/queries.js'
import { refreshTokens, users, type Role, type User } from '../db/schema.js'
import { badRequest, conflict, HttpError, isUniqueViolation, notFound } from '../errors.js'
import { filter, listPage, type PageEnvelope, type PageLocation, type PageParams, type PageSource } from '../pagination.js'
import { recordAudit, type Actor } from './audit.js'

/** Longest password accepted; argon2 hashes any length, but a body limit of our own is kinder. */
export const MAX_PASSWORD = 1024

export interface PasswordPolicyInput {
  password: string
  username?: string | null
  email?: string | null
  minLength: number
}

/** Returns what is wrong with a new password, or undefined when it is acceptable. */
export function passwordProblem({ password, username, email, minLength }: PasswordPolicyInput): string | undefined {
  if ([...password].length < minLength) return `Password must be at least ${minLength} characters long.`
  if (password.length > MAX_PASSWORD) return `Password must be at most ${MAX_PASSWORD} characters long.`
  const lower = password.toLowerCase()
  if (username && lower === username.toLowerCase()) return 'Password must not be the same as the username.'
  if (email && lower === email.toLowerCase()) return 'Password must not be the same as the email.'
  return undefined
}

/** Who changes users, and the configured policy (PASSWORD_MIN_LENGTH) their passwords meet. */
export interface UserContext {
  actor: Actor
  passwordMinLength: number
}

/** Applies the policy and hashes: a 400 naming the password field when it fails. */
async function acceptPassword(
  password: string,
  who: { username: string; email?: string | null },
  minLength: number
): Promise<string> {
  const problem = passwordProblem({ password, username: who.username, email: who.email, minLength })
  if (problem) throw badRequest(problem, 'password')
  // Callers hash before they open a transaction, so no lock is held during argon2's ~140 ms.
  return hashPassword(password)
}

/** What the audit trail records of a user: never the password hash. */
const auditView = (u: User) => ({ username: u.username, email: u.email, role: u.role, is_active: u.isActive })

/** Turns a violation of the case-insensitive unique indexes into a 409 naming the field. */
function userConflict(err: unknown): unknown {
  if (isUniqueViolation(err, 'users_username_lower_idx')) return conflict('A user with that username already exists.', 'username')
  if (isUniqueViolation(err, 'users_email_lower_idx')) return conflict('A user with that email already exists.', 'email')
  return err
}

async function insertUser(
  tx: Tx,
  input: { username: string; email: string | null; passwordHash: string; role: Role; isActive: boolean }
): Promise<User> {
  try {
    const [user] = await tx.insert(users).values(input).returning()
    return user
  } catch (err) {
    throw userConflict(err)
  }
}

export interface NewUser {
  username: string
  email?: string | null
  password: string
  role: Role
  isActive?: boolean
}

/** Creates a user (audited as user.created); a username or email taken in any letter case is a 409. */
export async function createUser(db: Db, ctx: UserContext, input: NewUser): Promise<User> {
  const email = input.email ?? null
  const passwordHash = await acceptPassword(input.password, { username: input.username, email }, ctx.passwordMinLength)
  return db.transaction(async (tx) => {
    const created = await insertUser(tx, { username: input.username, email, passwordHash, role: input.role, isActive: input.isActive ?? true })
    await recordAudit(tx, ctx.actor, { action: 'user.created', targetType: 'user', targetId: created.id, after: auditView(created) })
    return created
  })
}

/**
 * Self-registration: always an active viewer (an admin grants more), audited as user.registered
 * with the new user as its own actor.
 */
export async function registerUser(
  db: Db,
  ctx: { ip: string; passwordMinLength: number },
  input: { username: string; email: string; password: string }
): Promise<User> {
  const passwordHash = await acceptPassword(input.password, input, ctx.passwordMinLength)
  return db.transaction(async (tx) => {
    const created = await insertUser(tx, { username: input.username, email: input.email, passwordHash, role: 'viewer', isActive: true })
    await recordAudit(tx, { id: created.id, label: created.username, ip: ctx.ip }, {
      action: 'user.registered',
      targetType: 'user',
      targetId: created.id,
      after: auditView(created)
    })
    return created
  })
}

/** The fields a user is shown with: never the password hash or the token version. */
export const userOut = (u: Pick<User, 'id' | 'username' | 'email' | 'role' | 'isActive' | 'createdAt'>) => ({
  id: u.id,
  username: u.username,
  email: u.email,
  role: u.role,
  is_active: u.isActive,
  created_at: u.createdAt.toISOString()
})

export type UserView = ReturnType<typeof userOut>

export interface UserFilter extends PageParams {
  role?: Role
  is_active?: boolean
  /** Case-insensitive substring of the username or email. */
  search?: string
}

/** One page of users, newest first; filters combine with AND. */
export async function listUsers(db: Db, f: UserFilter, at: PageLocation): Promise<PageEnvelope<UserView>> {
  const filters = [
    filter('role', f.role || undefined, (v) => eq(users.role, v)),
    filter('is_active', f.is_active, (v) => eq(users.isActive, v)),
    filter('search', f.search !== undefined ? containing(f.search) : undefined, (v) => or(ilike(users.username, v), ilike(users.email, v))!)
  ]
  return listPage(db, at, f, { table: users, filters, newest: users.createdAt, select: getTableColumns(users) } as PageSource<User>, (rows) => rows.map(userOut))
}

export async function getUser(db: Db, id: number): Promise<User> {
  const [user] = await db.select().from(users).where(eq(users.id, id))
  if (!user) throw notFound()
  return user
}

export async function findUserByName(db: Db, username: string): Promise<User | undefined> {
  const [user] = await db.select().from(users).where(eq(sql`lower(${users.username})`, username.toLowerCase()))
  return user
}

export interface UserPatch {
  role?: Role
  email?: string | null
  isActive?: boolean
  password?: string
}

/**
 * Changes role, email, activity or password, audited as user.updated (a new password only as
 * `password_changed`). A change that takes access away revokes the user's tokens; the last
 * active admin cannot be demoted or deactivated (409). Changing nothing records nothing.
 */
export async function updateUser(db: Db, ctx: UserContext, id: number, patch: UserPatch): Promise<User> {
  let passwordHash: string | undefined
  if (patch.password !== undefined) {
    const current = await getUser(db, id)
    const email = patch.email !== undefined ? patch.email : current.email
    passwordHash = await acceptPassword(patch.password, { username: current.username, email }, ctx.passwordMinLength)
  }
  const removesAdmin = (patch.role !== undefined && patch.role !== 'admin') || patch.isActive === false

  return db.transaction(async (tx) => {
    // Admin rows first, then the target: every caller locks in this order.
    const admins = removesAdmin ? await lockActiveAdmins(tx) : []
    const [before] = await tx.select().from(users).where(eq(users.id, id)).for('update')
    if (!before) throw notFound()
    if (removesAdmin) assertNotLastAdmin(before, admins)

    const changes: Partial<typeof users.$inferInsert> = {}
    if (patch.role !== undefined && patch.role !== before.role) changes.role = patch.role
    if (patch.email !== undefined && patch.email !== before.email) changes.email = patch.email
    if (patch.isActive !== undefined && patch.isActive !== before.isActive) changes.isActive = patch.isActive
    if (passwordHash) changes.passwordHash = passwordHash
    if (Object.keys(changes).length === 0) return before

    let after: User
    try {
      ;[after] = await tx
        .update(users)
        .set({ ...changes, updatedAt: sql`now()` })
        .where(eq(users.id, id))
        .returning()
    } catch (err) {
      throw userConflict(err)
    }
    if (changes.role !== undefined || changes.isActive === false || passwordHash) await revokeUserTokens(tx, id)

    const pick = (u: User) => ({
      ...(changes.role !== undefined && { role: u.role }),
      ...(changes.email !== undefined && { email: u.email }),
      ...(changes.isActive !== undefined && { is_active: u.isActive })
    })
    await recordAudit(tx, ctx.actor, {
      action: 'user.updated',
      targetType: 'user',
      targetId: id,
      before: pick(before),
      after: { ...pick(after), ...(passwordHash && { password_changed: true }) }
    })
    return after
  })
}

/**
 * Deletes a user, audited as user.deleted. Incidents and audit entries that name them keep their
 * history; the last active admin cannot be deleted (409).
 */
export async function deleteUser(db: Db, actor: Actor, id: number): Promise<void> {
  await db.transaction(async (tx) => {
    const admins = await lockActiveAdmins(tx)
    const [before] = await tx.select().from(users).where(eq(users.id, id)).for('update')
    if (!before) throw notFound()
    assertNotLastAdmin(before, admins)
    // Audited before the row goes: an admin deleting their own account is still the actor
    // (the entry's actor_id becomes null with the row, its actor label stays).
    await recordAudit(tx, actor, { action: 'user.deleted', targetType: 'user', targetId: id, before: auditView(before) })
    // Refresh tokens go with the row (ON DELETE CASCADE); access tokens fail because
    // authentication no longer finds the user.
    await tx.delete(users).where(eq(users.id, id))
  })
}

/**
 * Makes every token the user holds stop working at once: access tokens carry the token version
 * they were issued under (checked on every request), and refresh tokens are marked revoked.
 */
async function revokeUserTokens(tx: Tx, userId: number): Promise<void> {
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
async function lockActiveAdmins(tx: Tx): Promise<number[]> {
  const rows = await tx
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.role, 'admin'), eq(users.isActive, true)))
    .orderBy(asc(users.id))
    .for('update')
  return rows.map((r) => r.id)
}

/** Throws the 409 when `target` is an active admin and no other locked active admin remains. */
function assertNotLastAdmin(target: Pick<User, 'id' | 'role' | 'isActive'>, lockedAdminIds: number[]): void {
  if (target.role !== 'admin' || !target.isActive) return
  if (!lockedAdminIds.some((id) => id !== target.id)) throw conflict(LAST_ADMIN)
}

/** Audit actors of changes made outside any request; a colon never appears in a username. */
export const BOOTSTRAP_ACTOR = 'system:bootstrap'
export const CLI_ACTOR = 'system:cli'

/**
 * Creates ADMIN_USERNAME as an admin at start when no user has that name or ADMIN_EMAIL yet;
 * returns the new user, or undefined when one existed. A password the policy refuses stops the
 * start, naming ADMIN_PASSWORD.
 */
export async function ensureBootstrapAdmin(
  db: Db,
  admin: { username: string; password: string; email: string | null },
  passwordMinLength: number
): Promise<User | undefined> {
  const existing = await db
    .select({ id: users.id })
    .from(users)
    .where(
      or(
        eq(sql`lower(${users.username})`, admin.username.toLowerCase()),
        admin.email ? eq(sql`lower(${users.email})`, admin.email.toLowerCase()) : undefined
      )
    )
  if (existing.length > 0) return undefined
  try {
    return await createUser(db, { actor: { label: BOOTSTRAP_ACTOR }, passwordMinLength }, { ...admin, role: 'admin' })
  } catch (err) {
    // Another instance starting at the same moment created it first.
    if (err instanceof HttpError && err.statusCode === 409) return undefined
    if (err instanceof HttpError && err.fieldErrors?.password) throw new Error(`ADMIN_PASSWORD: ${err.detail}`)
    throw err
  }
}
