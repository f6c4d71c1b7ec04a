// Creating users: shared by the admin API, self-registration, the CLI and the bootstrap admin.
import { eq, or, sql } from 'drizzle-orm'
import { hashPassword } from '../auth/passwords.js'
import type { Db } from '../db/index.js'
import { users, type Role, type User } from '../db/schema.js'
import { conflict, isUniqueViolation } from '../errors.js'

export interface NewUser {
  username: string
  email?: string | null
  password: string
  role: Role
  isActive?: boolean
}

/** Inserts a user; a username or email taken in any letter case is a 409 naming the field. */
export async function createUser(db: Db, input: NewUser): Promise<User> {
  const passwordHash = await hashPassword(input.password)
  try {
    const [user] = await db
      .insert(users)
      .values({
        username: input.username,
        email: input.email ?? null,
        passwordHash,
        role: input.role,
        isActive: input.isActive ?? true
      })
      .returning()
    return user
  } catch (err) {
    if (isUniqueViolation(err, 'users_username_lower_idx')) throw conflict('A user with that username already exists.', 'username')
    if (isUniqueViolation(err, 'users_email_lower_idx')) throw conflict('A user with that email already exists.', 'email')
    throw err
  }
}

export async function findUserByName(db: Db, username: string): Promise<User | undefined> {
  const [user] = await db.select().from(users).where(eq(sql`lower(${users.username})`, username.toLowerCase()))
  return user
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
