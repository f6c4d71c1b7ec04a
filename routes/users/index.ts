// /api/users: user management, admin only. The queries, transactions, password policy and audit
// records live in src/services/users.ts; a change that takes away access revokes the user's
// tokens there, and drops this instance's cached copy of the user here.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RequestIdentity } from '../../src/auth/principal.js'
import { errors, IdParams, Page, type ErrorDoc } from '../../src/schemas.js'
import { actorOf } from '../../src/services/actor.js'
import { createUser, deleteUser, getUser, LAST_ADMIN, listUsers, updateUser, userOut } from '../../src/services/users.js'
import { UserCreate, UserOut, UserPatch, UserQuery } from './schema.js'

const tags = ['users']

const TAKEN: ErrorDoc = {
  description: 'The username or email is taken (in any letter case)',
  code: 'conflict',
  detail: 'A user with that username already exists.',
  errors: { username: ['A user with that username already exists.'] }
}

const userRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const context = (request: RequestIdentity) => ({
    actor: actorOf(request),
    passwordMinLength: app.config.PASSWORD_MIN_LENGTH
  })

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
    handler: (request) => listUsers(app.lists, request.query, request)
  })

  app.post('/', {
    config: { permission: 'users:manage' },
    schema: {
      tags,
      summary: 'Create a user',
      description: 'The admin sets the role (default viewer). The password policy applies; a username or email taken in any letter case is a 409.',
      body: UserCreate,
      response: { 201: UserOut, ...errors(400, 401, 403, 413, 415, { 409: TAKEN }) }
    },
    handler: async (request, reply) => {
      const b = request.body
      const user = await createUser(app.db, context(request), {
        username: b.username,
        email: b.email,
        password: b.password,
        role: b.role ?? 'viewer',
        isActive: b.is_active
      })
      return reply.code(201).send(userOut(user))
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
    handler: async (request) => userOut(await getUser(app.db, request.params.id))
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
      response: {
        200: UserOut,
        ...errors(400, 401, 403, 404, 413, 415, {
          409: { description: 'The email is taken, or the change would leave no active admin', code: 'conflict', detail: LAST_ADMIN }
        })
      }
    },
    handler: async (request) => {
      const { id } = request.params
      const b = request.body
      const user = await updateUser(app.db, context(request), id, {
        role: b.role,
        email: b.email,
        isActive: b.is_active,
        password: b.password
      })
      // The database announces the change to every instance too; this one need not wait for it.
      app.principals.invalidate(id)
      return userOut(user)
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
      response: {
        204: Type.Null({ description: 'Deleted' }),
        ...errors(400, 401, 403, {
          404: 'No such user',
          409: { description: 'The last active admin cannot be deleted', code: 'conflict', detail: LAST_ADMIN }
        })
      }
    },
    handler: async (request, reply) => {
      await deleteUser(app.db, actorOf(request), request.params.id)
      app.principals.invalidate(request.params.id)
      return reply.code(204).send(null)
    }
  })
}

export default userRoutes
