// /api/auth: the OAuth2-style routes clients of the FastAPI original use: self-registration (off
// unless REGISTRATION_ENABLED), the password grant at /token (the OpenAPI security scheme's token
// URL, so the docs UI can log in), the current user, and logout.
import formbody from '@fastify/formbody'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError } from 'fastify'
import { errorReply } from '../../plugins/errors.js'
import { forbidden, HttpError } from '../../src/errors.js'
import { described, errors } from '../../src/schemas.js'
import { actorOf } from '../../src/services/actor.js'
import { LOGIN_FAILED } from '../../src/services/login.js'
import { registerUser } from '../../src/services/users.js'
import { userOut } from '../../src/services/users.js'
import { LogoutBody, oauthError, RegisterBody, TOKEN_ERRORS, TokenRequest, TokenResponse, UserOut } from './schema.js'

const tags = ['auth']

export const REGISTRATION_DISABLED = 'Self-registration is disabled on this server; ask an administrator for an account.'

const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/register', {
    config: { public: true },
    preHandler: app.loginRateLimit,
    schema: {
      tags,
      summary: 'Register an account',
      description:
        'Only when REGISTRATION_ENABLED is true (otherwise 403). The new account is always an active viewer; an admin grants more. The password policy applies; a username or email taken in any letter case is a 409.',
      body: RegisterBody,
      response: {
        201: described(UserOut, 'Registered: the new account, an active viewer'),
        ...errors(400, 413, 415, {
          403: { description: 'Self-registration is off (REGISTRATION_ENABLED is false)', code: 'permission_denied', detail: REGISTRATION_DISABLED },
          409: { description: 'The username or email is taken (in any letter case)', code: 'conflict', detail: 'A user with that username already exists.', errors: { username: ['A user with that username already exists.'] } }
        })
      }
    },
    // Refused before the body is validated: a closed door says so whatever is sent.
    preValidation: async () => {
      if (!app.config.REGISTRATION_ENABLED) throw forbidden(REGISTRATION_DISABLED)
    },
    handler: async (request, reply) => {
      // Role and activity are fixed by the service, never read from the request.
      const user = await registerUser(app.db, { ip: request.ip, passwordMinLength: app.config.PASSWORD_MIN_LENGTH }, request.body)
      return reply.code(201).send(userOut(user))
    }
  })

  // The password grant sends a form (RFC 6749); the form parser is registered in this scope
  // only, so no other route accepts form bodies (which browsers send cross-site without CORS).
  const passwordGrant: FastifyPluginAsyncTypebox = async (scope) => {
    await scope.register(formbody)
    // Vigil's error body, plus RFC 6749's `error` and `error_description` (section 5.2), which
    // OAuth2 clients read: the docs page's Authorize dialog shows the description.
    scope.setErrorHandler((err: FastifyError, request, reply) => {
      const { status, body, headers } = errorReply(err, request)
      if (headers) reply.headers(headers)
      return reply.code(status).send({ ...body, error: oauthError(body.code, status), error_description: body.detail })
    })
    scope.post('/token', {
      config: { public: true },
      preHandler: app.loginRateLimit,
      schema: {
        tags,
        summary: 'Log in (OAuth2 password grant)',
        description:
          'Form-encoded (`application/x-www-form-urlencoded`) `username` and `password`, as OAuth2 clients and the docs UI send them; JSON is accepted too. Failures are the same 401 as `/api/token/`.',
        consumes: ['application/x-www-form-urlencoded', 'application/json'],
        body: TokenRequest,
        response: { 200: TokenResponse, ...TOKEN_ERRORS }
      },
      handler: async (request, reply) => {
        const pair = await app.tokens.login(request.body.username, request.body.password, request.ip)
        if (!pair) throw new HttpError('login_failed', LOGIN_FAILED, { headers: { 'www-authenticate': 'Bearer' } })
        // RFC 6749 5.1: token responses must not be cached.
        reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
        return { access_token: pair.access, token_type: 'bearer' as const, expires_in: pair.expiresIn, refresh_token: pair.refresh }
      }
    })
  }
  await app.register(passwordGrant)

  app.get('/me', {
    config: { permission: 'self' },
    schema: {
      tags,
      summary: 'The current user',
      description: 'The account the bearer token belongs to.',
      response: { 200: described(UserOut, 'Your account'), ...errors(401, { 403: { description: 'An ingest key has no account: sign in as a user', code: 'permission_denied', detail: 'Only users have an account.' } }) }
    },
    handler: async (request) => {
      const p = request.principal
      // 'self' is a user permission; an ingest key never reaches this handler.
      if (p?.kind !== 'user') throw forbidden('Only users have an account.')
      return userOut(p)
    }
  })

  app.post('/logout', {
    config: { permission: 'self' },
    schema: {
      tags,
      summary: 'Log out',
      description:
        "Revokes the given refresh token and every token rotated from the same login, so none of them refreshes again. The refresh token must be the caller's own (403 otherwise). The access token stays valid until it expires (ACCESS_TOKEN_TTL).",
      body: LogoutBody,
      response: {
        204: Type.Null({ description: 'Logged out' }),
        ...errors(400, 401, 413, 415, {
          403: { description: "The refresh token is another user's, or the caller is an ingest key", code: 'permission_denied', detail: 'This refresh token belongs to another user.' }
        })
      }
    },
    handler: async (request, reply) => {
      const p = request.principal
      if (p?.kind !== 'user') throw forbidden('Only users have an account.')
      await app.tokens.logout(request.body.refresh, { ...actorOf(request), id: p.id })
      return reply.code(204).send(null)
    }
  })
}

export default authRoutes
