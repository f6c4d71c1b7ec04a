// Schemas of the OAuth2-style authentication routes. The user shape is the one /api/users uses.
import { Type } from '@sinclair/typebox'
import { Email, Password, Username } from '../users/schema.js'

export { UserOut } from '../users/schema.js'

/** Only these three fields are read: a role or is_active sent along is dropped, never applied. */
export const RegisterBody = Type.Object(
  { username: Username, email: Email, password: Password },
  {
    additionalProperties: false,
    examples: [{ username: 'alice', email: 'alice@example.com', password: 'correct horse battery staple' }]
  }
)

/** RFC 6749 section 4.3: the resource owner password credentials grant. */
export const TokenRequest = Type.Object(
  {
    grant_type: Type.Optional(Type.String({ enum: ['password'], description: 'Must be "password" when sent' })),
    username: Type.String({ minLength: 1, maxLength: 150 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    scope: Type.Optional(Type.String({ maxLength: 1024, description: 'Accepted and ignored: roles decide access' })),
    client_id: Type.Optional(Type.String({ maxLength: 255, description: 'Accepted and ignored' })),
    client_secret: Type.Optional(Type.String({ maxLength: 255, description: 'Accepted and ignored' }))
  },
  {
    additionalProperties: false,
    examples: [{ grant_type: 'password', username: 'alice', password: 'correct horse battery staple' }]
  }
)

export const TokenResponse = Type.Object(
  {
    access_token: Type.String({ description: 'Access token (Bearer), short-lived' }),
    token_type: Type.Literal('bearer'),
    expires_in: Type.Integer({ description: 'Seconds until the access token expires' }),
    refresh_token: Type.String({ description: 'Refresh token for /api/token/refresh/; each one works once' })
  },
  {
    examples: [
      {
        access_token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIzIn0.c2lnbmF0dXJl',
        token_type: 'bearer',
        expires_in: 900,
        refresh_token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIzIiwidHlwIjoicmVmcmVzaCJ9.c2lnbmF0dXJl'
      }
    ]
  }
)

export const LogoutBody = Type.Object(
  { refresh: Type.String({ minLength: 1, maxLength: 4096, description: 'A refresh token of the caller' }) },
  { additionalProperties: false, examples: [{ refresh: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...' }] }
)
