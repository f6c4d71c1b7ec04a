// /api/token: SimpleJWT-compatible login and refresh for clients of the Django original.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { HttpError } from '../../src/errors.js'
import { errors } from '../../src/schemas.js'
import { LOGIN_FAILED } from '../../src/services/login.js'

const tags = ['auth']

export const Credentials = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 150 }),
    password: Type.String({ minLength: 1, maxLength: 1024 })
  },
  { examples: [{ username: 'alice', password: 'correct horse battery staple' }] }
)

const Pair = Type.Object(
  {
    access: Type.String({ description: 'Access token (Bearer), short-lived' }),
    refresh: Type.String({ description: 'Refresh token; each one works once' })
  },
  {
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
  { examples: [{ refresh: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIzIiwidHlwIjoicmVmcmVzaCJ9.c2lnbmF0dXJl' }] }
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
      response: { 200: Pair, ...errors(400, 401, 415, 429) }
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
      response: { 200: Pair, ...errors(400, 401, 415, 429) }
    },
    handler: async (request) => {
      const pair = await app.tokens.rotate(request.body.refresh)
      return { access: pair.access, refresh: pair.refresh }
    }
  })
}

export default tokenRoutes
