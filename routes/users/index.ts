// /api/users: user management, admin only. Every change is audited in its own transaction; a
// change that takes away access (deactivation, deletion, a new role or password) revokes the
// user's tokens at once; the last active admin cannot be removed.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { and, eq, ilike, or, sql } from 'drizzle-orm'
import { hashPassword, passwordProblem } from '../../src/auth/passwords.js'
import { users, type User } from '../../src/db/schema.js'
import { badRequest, notFound } from '../../src/errors.js'
import { envelope, pageRequest, selectPage } from '../../src/pagination.js'
import { getById } from '../../src/db/queries.js'
import { errors, IdParams, Page } from '../../src/schemas.js'
import { actorOf } from '../../src/services/actor.js'
import { recordAudit } from '../../src/services/audit.js'
import {
  assertNotLastAdmin,
  insertUser,
  lockActiveAdmins,
  publicUser,
  revokeUserTokens,
  userConflict
} from '../../src/services/users.js'
import { UserCreate, UserOut, UserPatch, UserQuery } from './schema.js'

const tags = ['users']

/** LIKE treats % and _ as wildcards and \ as the escape: a search for "a_b" means those characters. */
const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`)

/** What the audit trail records of a user: never the password hash. */
const auditView = (u: User) => ({ username: u.username, email: u.email, role: u.role, is_active: u.isActive })

const userRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const checkPassword = (password: string, username: string, email: string | null | undefined) => {
    const problem = passwordProblem({ password, username, email, minLength: app.config.PASSWORD_MIN_LENGTH })
    if (problem) throw badRequest(problem, 'password')
  }

  app.get('/', {
    config: { permission: 'users:manage' },
    schema: {
      tags,
      summary: 'List users',
      description:
        'Newest first (created_at, then id). Filters combine with AND; `search` matches a case-insensitive substring of the username or email.',
      querystring: UserQuery,
      response: { 200: Page(UserOut), ...errors(400, 401, 403, 404) }
    },
    handler: async (request) => {
      const q = request.query
      const p = pageRequest(q)
      const pattern = q.search !== undefined ? `%${likeEscape(q.search)}%` : undefined
      const where = and(
        q.role ? eq(users.role, q.role) : undefined,
        q.is_active !== undefined ? eq(users.isActive, q.is_active) : undefined,
        pattern ? or(ilike(users.username, pattern), ilike(users.email, pattern)) : undefined
      )
      const { rows, total } = await selectPage(app.db, users, where, users.createdAt, p)
      return envelope(request, p, total, rows.map(publicUser))
    }
  })

  app.post('/', {
    config: { permission: 'users:manage' },
    schema: {
      tags,
      summary: 'Create a user',
      description: 'The admin sets the role (default viewer). The password policy applies; a username or email taken in any letter case is a 409.',
      body: UserCreate,
      response: { 201: UserOut, ...errors(400, 401, 403, 409, 413, 415) }
    },
    handler: async (request, reply) => {
      const body = request.body
      checkPassword(body.password, body.username, body.email)
      const passwordHash = await hashPassword(body.password)
      const user = await app.db.transaction(async (tx) => {
        const created = await insertUser(tx, {
          username: body.username,
          email: body.email ?? null,
          passwordHash,
          role: body.role ?? 'viewer',
          isActive: body.is_active ?? true
        })
        await recordAudit(tx, actorOf(request), {
          action: 'user.created',
          targetType: 'user',
          targetId: created.id,
          after: auditView(created)
        })
        return created
      })
      return reply.code(201).send(publicUser(user))
    }
  })

  app.get('/:id', {
    config: { permission: 'users:manage' },
    schema: {
      tags,
      summary: 'Get a user',
      description: 'One user by id (never the password or its hash).',
      params: IdParams,
      response: { 200: UserOut, ...errors(400, 401, 403, 404) }
    },
    handler: async (request) => {
      return publicUser(await getById(app.db, users, request.params.id))
    }
  })

  app.patch('/:id', {
    config: { permission: 'users:manage' },
    schema: {
      tags,
      summary: 'Update a user',
      description:
        "Sets role, email, is_active or password. A new role or password, or deactivation, revokes the user's existing tokens at once. The last active admin cannot be demoted or deactivated (409).",
      params: IdParams,
      body: UserPatch,
      response: { 200: UserOut, ...errors(400, 401, 403, 404, 409, 413, 415) }
    },
    handler: async (request) => {
      const id = request.params.id
      const body = request.body
      let passwordHash: string | undefined
      if (body.password !== undefined) {
        const [current] = await app.db.select().from(users).where(eq(users.id, id))
        if (!current) throw notFound()
        checkPassword(body.password, current.username, body.email !== undefined ? body.email : current.email)
        // Hashed before the transaction so no row stays locked during argon2's work.
        passwordHash = await hashPassword(body.password)
      }
      const removesAdmin = (body.role !== undefined && body.role !== 'admin') || body.is_active === false

      const user = await app.db.transaction(async (tx) => {
        // Admin rows first, then the target: every caller locks in this order.
        const admins = removesAdmin ? await lockActiveAdmins(tx) : []
        const [before] = await tx.select().from(users).where(eq(users.id, id)).for('update')
        if (!before) throw notFound()
        if (removesAdmin) assertNotLastAdmin(before, admins)

        const changes: Partial<typeof users.$inferInsert> = {}
        if (body.role !== undefined && body.role !== before.role) changes.role = body.role
        if (body.email !== undefined && body.email !== before.email) changes.email = body.email
        if (body.is_active !== undefined && body.is_active !== before.isActive) changes.isActive = body.is_active
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
        if (changes.role !== undefined || changes.isActive === false || passwordHash) {
          await revokeUserTokens(tx, id)
        }

        const pick = (u: User) => ({
          ...(changes.role !== undefined && { role: u.role }),
          ...(changes.email !== undefined && { email: u.email }),
          ...(changes.isActive !== undefined && { is_active: u.isActive })
        })
        await recordAudit(tx, actorOf(request), {
          action: 'user.updated',
          targetType: 'user',
          targetId: id,
          before: pick(before),
          after: { ...pick(after), ...(passwordHash && { password_changed: true }) }
        })
        return after
      })
      // The database announces the change to every instance too; this one need not wait for it.
      app.principals.invalidate(id)
      return publicUser(user)
    }
  })

  app.delete('/:id', {
    config: { permission: 'users:manage' },
    schema: {
      tags,
      summary: 'Delete a user',
      description:
        "Their tokens stop working at once. Incidents and audit entries that name them keep their history. The last active admin cannot be deleted (409).",
      params: IdParams,
      response: { 204: Type.Null({ description: 'Deleted' }), ...errors(400, 401, 403, 404, 409) }
    },
    handler: async (request, reply) => {
      const id = request.params.id
      await app.db.transaction(async (tx) => {
        const admins = await lockActiveAdmins(tx)
        const [before] = await tx.select().from(users).where(eq(users.id, id)).for('update')
        if (!before) throw notFound()
        assertNotLastAdmin(before, admins)
        // Audited before the row goes: an admin deleting their own account is still the actor
        // (the entry's actor_id becomes null with the row, its actor label stays).
        await recordAudit(tx, actorOf(request), {
          action: 'user.deleted',
          targetType: 'user',
          targetId: id,
          before: auditView(before)
        })
        // Refresh tokens go with the row (ON DELETE CASCADE); access tokens fail because the
        // auth plugin no longer finds the user.
        await tx.delete(users).where(eq(users.id, id))
      })
      app.principals.invalidate(id)
      return reply.code(204).send(null)
    }
  })
}

export default userRoutes
