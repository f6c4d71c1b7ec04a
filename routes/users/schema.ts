// User schemas: the public user shape (the allow-list of what leaves the server: never a password
// or its hash) and the request shapes of the admin API, reused by /api/auth.
import { Type } from '@sinclair/typebox'
import { ROLES } from '../../src/db/schema.js'
import { PageQuery, RoleSchema, StringEnum, Timestamp } from '../../src/schemas.js'
import { MAX_PASSWORD } from '../../src/services/users.js'

/** As Django's: letters, digits and @ . + - _, 1 to 150 characters. */
export const Username = Type.String({
  minLength: 1,
  maxLength: 150,
  pattern: '^[A-Za-z0-9@.+_-]+$',
  description: 'Letters, digits and @ . + - _ only; unique regardless of case'
})
export const Email = Type.String({ format: 'email', maxLength: 254, description: 'Unique regardless of case' })
/** Length and content are checked by the password policy, which names the field in its 400. */
export const Password = Type.String({
  maxLength: MAX_PASSWORD,
  description: 'At least PASSWORD_MIN_LENGTH (default 12) characters, not the username or email'
})

const exampleUser = {
  id: 3,
  username: 'alice',
  email: 'alice@example.com',
  role: 'analyst',
  is_active: true,
  created_at: '2026-11-24T10:00:00.000Z'
}

export const UserOut = Type.Object(
  {
    id: Type.Integer(),
    username: Type.String(),
    email: Type.Union([Type.String(), Type.Null()]),
    role: RoleSchema,
    is_active: Type.Boolean(),
    created_at: Timestamp
  },
  { title: 'User', examples: [exampleUser] }
)

export const UserCreate = Type.Object(
  {
    username: Username,
    email: Type.Optional(Type.Union([Email, Type.Null()])),
    password: Password,
    role: Type.Optional(StringEnum(ROLES, { description: 'admin, analyst, responder or viewer (default viewer)' })),
    is_active: Type.Optional(Type.Boolean({ description: 'Default true' }))
  },
  {
    additionalProperties: false,
    examples: [{ username: 'alice', email: 'alice@example.com', password: 'correct horse battery staple', role: 'analyst' }]
  }
)

export const UserPatch = Type.Object(
  {
    role: Type.Optional(RoleSchema),
    email: Type.Optional(Type.Union([Email, Type.Null()])),
    is_active: Type.Optional(Type.Boolean()),
    password: Type.Optional(Password)
  },
  {
    additionalProperties: false,
    description: "Changing role, is_active to false or the password revokes the user's existing tokens.",
    examples: [{ role: 'viewer' }, { is_active: false }]
  }
)

export const UserQuery = Type.Object({
  ...PageQuery,
  role: Type.Optional(RoleSchema),
  is_active: Type.Optional(Type.Boolean({ description: 'true or false' })),
  search: Type.Optional(
    Type.String({ minLength: 1, maxLength: 254, description: 'Case-insensitive substring of the username or email' })
  )
})
