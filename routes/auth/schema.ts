// Schemas of the OAuth2-style authentication routes. The user shape is the one /api/users uses.
import { Type } from '@sinclair/typebox'
import type { ErrorCode } from '../../src/errors.js'
import { ErrorResponse, namedExamples, StringEnum, type ErrorBody } from '../../src/schemas.js'
import { LOGIN_FAILED } from '../../src/services/login.js'
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

/**
 * RFC 6749 section 4.3: the resource owner password credentials grant. The docs page shows the
 * form's fields with each property's example: empty, for the caller's own username and password,
 * rather than Swagger UI's "string" (the optional fields, left empty, are not sent).
 */
export const TokenRequest = Type.Object(
  {
    grant_type: Type.Optional(Type.String({ enum: ['password'], description: 'Must be "password" when sent' })),
    username: Type.String({ minLength: 1, maxLength: 150, description: 'Your username', examples: [''] }),
    password: Type.String({ minLength: 1, maxLength: 1024, format: 'password', description: 'Your password', examples: [''] }),
    scope: Type.Optional(Type.String({ maxLength: 1024, description: 'Accepted and ignored: roles decide access', examples: [''] })),
    client_id: Type.Optional(Type.String({ maxLength: 255, description: 'Accepted and ignored', examples: [''] })),
    client_secret: Type.Optional(Type.String({ maxLength: 255, description: 'Accepted and ignored', examples: [''] }))
  },
  {
    additionalProperties: false,
    ...namedExamples({
      login: {
        summary: 'Your username and password',
        description: 'alice is a placeholder: an account of this server (the first admin is ADMIN_USERNAME, or one made with `npm run user:create`).',
        value: { grant_type: 'password', username: 'alice', password: 'correct horse battery staple' }
      }
    })
  }
)

/**
 * The token endpoint's errors, in the house shape plus RFC 6749 section 5.2's `error` and
 * `error_description`, which OAuth2 clients read: the docs page's Authorize dialog shows them.
 */
export const OAUTH_ERRORS = ['invalid_request', 'invalid_grant', 'temporarily_unavailable', 'server_error'] as const
export type OAuthError = (typeof OAUTH_ERRORS)[number]

/** RFC 6749's error code for a refusal of the token endpoint, from Vigil's. */
export function oauthError(code: ErrorCode, status: number): OAuthError {
  if (code === 'login_failed') return 'invalid_grant'
  if (status === 429 || status === 503) return 'temporarily_unavailable'
  return status >= 500 ? 'server_error' : 'invalid_request'
}

export const TokenError = Type.Object(
  {
    ...ErrorResponse.properties,
    error: StringEnum(OAUTH_ERRORS, { description: 'RFC 6749 error code: invalid_grant for wrong credentials' }),
    error_description: Type.String({ description: 'What went wrong, for people (the same as `detail`)' })
  },
  { title: 'Token error', description: "Vigil's error body with RFC 6749's `error` and `error_description`" }
)

const tokenError = (status: number, description: string, example: ErrorBody) =>
  ({
    ...TokenError,
    'x-response-description': description,
    examples: [{ ...example, error: oauthError(example.code, status), error_description: example.detail }]
  }) as typeof TokenError

/** The token endpoint's error replies (module-level: compiled once). */
export const TOKEN_ERRORS = {
  400: tokenError(400, 'Invalid request: a field is missing or not valid (`errors` names it), or grant_type is not "password"', {
    code: 'validation_failed',
    detail: "Invalid body field 'password': This field is required.",
    errors: { password: ['This field is required.'] }
  }),
  401: tokenError(401, 'Wrong username or password, or the account is deactivated (all the same answer)', { code: 'login_failed', detail: LOGIN_FAILED }),
  413: tokenError(413, 'The request body is larger than the limit (BODY_LIMIT)', { code: 'payload_too_large', detail: 'The request body is too large.' }),
  415: tokenError(415, 'Unsupported Content-Type: send application/x-www-form-urlencoded or application/json', { code: 'unsupported_media_type', detail: 'Unsupported content type.' }),
  429: tokenError(429, 'Too many attempts for this client or username: retry after the Retry-After seconds', { code: 'rate_limited', detail: 'Too many attempts; retry later.' })
}

export const TokenResponse = Type.Object(
  {
    access_token: Type.String({ description: 'Access token (Bearer), short-lived' }),
    token_type: Type.Literal('bearer'),
    expires_in: Type.Integer({ description: 'Seconds until the access token expires' }),
    refresh_token: Type.String({ description: 'Refresh token for /api/token/refresh/; each one works once' })
  },
  {
    title: 'OAuth2 token',
    description: 'Logged in: a Bearer access token and its refresh token',
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
  {
    additionalProperties: false,
    ...namedExamples({
      logout: {
        summary: 'Log out of one login',
        description: 'A placeholder: paste the refresh token of your login (refresh_token of /api/auth/token, refresh of /api/token/).',
        value: { refresh: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...' }
      }
    })
  }
)
