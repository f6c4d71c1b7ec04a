// /api/token: SimpleJWT-compatible login and refresh for clients of the Django original.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { HttpError } from '../../src/errors.js'
import { described, errors, namedExamples } from '../../src/schemas.js'
import { LOGIN_FAILED } from '../../src/services/login.js'

const tags = ['auth']

export const Credentials = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 150 }),
    password: Type.String({ minLength: 1, maxLength: 1024 })
  },
  {
    ...namedExamples({
      login: {
        summary: 'Your username and password',
        description: 'alice is a placeholder: an account of this server (the first admin is ADMIN_USERNAME, or one made with `npm run user:create`).',
        value: { username: 'alice', password: 'correct horse battery staple' }
      }
    })
  }
)

const Pair = Type.Object(
  {
    access: Type.String({ description: 'Access token (Bearer), short-lived' }),
    refresh: Type.String({ description: 'Refresh token; each one works once' })
  },
  {
    title: 'Token pair',
    description: 'An access token (Bearer) and the refresh token that renews it',
    examples: [
      {
        access: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIzIn0.c2lnbmF0dXJl',
        refresh: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIzIiwidHlwIjoicmVmcmVzaCJ9.c2lnbmF0dXJl'
      }
    ]
  }
)

const RefreshBody = Type.Object(
  { refresh: Type.String({ minLength: 1, maxLength: 4096, description: 'The refresh token of the last pair' }) },
  {
    ...namedExamples({
      refresh: {
        summary: 'Renew a login',
        description: 'A placeholder: paste the refresh token of your last pair (refresh of /api/token/, refresh_token of /api/auth/token).',
        value: { refresh: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIzIiwidHlwIjoicmVmcmVzaCJ9.c2lnbmF0dXJl' }
      }
    })
  }
)

const tokenRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/', {
    config: { public: true },
    preHandler: app.loginRateLimit,
    schema: {
      tags,
      summary: 'Obtain a token pair',
      description: 'Wrong password, unknown user and deactivated user all give the same 401.',
      body: Credentials,
      response: {
        200: Pair,
        ...errors(400, 415, 429, {
          401: { description: 'Wrong username or password, or the account is deactivated (all the same answer)', code: 'login_failed', detail: LOGIN_FAILED }
        })
      }
    },
    handler: async (request) => {
      const pair = await app.tokens.login(request.body.username, request.body.password, request.ip)
      if (!pair) throw new HttpError('login_failed', LOGIN_FAILED)
      return { access: pair.access, refresh: pair.refresh }
    }
  })

  app.post('/refresh', {
    config: { public: true },
    preHandler: app.loginRateLimit,
    schema: {
      tags,
      summary: 'Rotate a refresh token',
      description:
        'Returns a new access token and a new refresh token. Each refresh token works once; presenting one that was already rotated revokes every token of its login.',
      body: RefreshBody,
      response: {
        200: described(Pair, 'The new pair: use both from now on'),
        ...errors(400, 415, 429, {
          401: {
            description: 'The refresh token is expired, revoked, already used (which revokes its login) or an access token',
            code: 'invalid_token',
            detail: 'Token is invalid or expired'
          }
        })
      }
    },
    handler: async (request) => {
      const pair = await app.tokens.rotate(request.body.refresh)
      return { access: pair.access, refresh: pair.refresh }
    }
  })
}

export default tokenRoutes
