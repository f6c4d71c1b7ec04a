// Builds the real app (same factory and options as production) on a fresh database of its own:
// a new PostgreSQL database when TEST_DATABASE_URL is set, otherwise an in-memory PGlite.
import { randomBytes } from 'node:crypto'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { sql } from 'drizzle-orm'
import postgres from 'postgres'
import { buildApp } from '../src/app.js'
import { useTestHashing } from '../src/auth/passwords.js'
import { loadConfig, type ConfigSchema } from '../src/config.js'
import type { Role, User } from '../src/db/schema.js'
import { createUser } from '../src/services/users.js'
import { createMigratedDatabase } from './support/pg-template.js'
import { migratedPgliteImage } from './support/pglite-image.js'
import type { Static } from '@sinclair/typebox'

// Fixture users are hashed at the cheapest argon2id cost (test/cli.test.ts proves that users made
// outside the suite get the production cost). Every test file imports this module.
useTestHashing()

/**
 * The suite runs against PostgreSQL when TEST_DATABASE_URL is set. Process and load tests that
 * PGlite adds nothing to (their subject does not depend on the database) run there only.
 */
export const onPostgres = Boolean(process.env.TEST_DATABASE_URL)

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789'

interface Teardown {
  teardown(fn: () => unknown): void
}

/**
 * Creates a PostgreSQL database for one test and drops it afterwards: a copy of a template with
 * every migration applied (test/support/pg-template.ts), so the app's own migration at start
 * finds nothing to do.
 */
export async function freshDatabaseUrl(t: Teardown): Promise<string | undefined> {
  const base = process.env.TEST_DATABASE_URL
  if (!base) return undefined
  const name = `vigil_test_${randomBytes(6).toString('hex')}`
  await createMigratedDatabase(base, name)
  t.teardown(async () => {
    const a = postgres(base, { max: 1, onnotice: () => {} })
    await a.unsafe(`drop database if exists ${name} with (force)`)
    await a.end()
  })
  const url = new URL(base)
  url.pathname = `/${name}`
  return url.toString()
}

/**
 * Makes the partitions of events for every UTC day from `from` to `to`, so a test can give events
 * an old storage time (the server stamps each event it stores with the present).
 */
export async function partitionDays(app: FastifyInstance, from: Date | string, to: Date | string = from): Promise<void> {
  await app.db.execute(
    sql`select vigil_event_partition(d::date, d::date + 1)
        from generate_series((${new Date(from).toISOString()}::timestamptz at time zone 'UTC')::date,
                             (${new Date(to).toISOString()}::timestamptz at time zone 'UTC')::date, interval '1 day') d`
  )
}

/** Polls until `check` holds, for at most `ms`; returns whether it did. */
export async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check()) return true
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export type Overrides = Partial<Static<typeof ConfigSchema>>

export async function build(
  t: Teardown,
  overrides: Overrides = {},
  logStream?: { write(msg: string): void }
): Promise<FastifyInstance> {
  const url = await freshDatabaseUrl(t)
  const config = loadConfig(
    {},
    {
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      JWT_SECRET: TEST_JWT_SECRET,
      DATA_DIR: 'memory://',
      // Tests log in far more often than a person; test/security.test.ts sets its own limit.
      LOGIN_RATE_LIMIT: 1000,
      // The event-loop guard answers 503 whenever this shared machine stalls the process, which
      // says nothing about the feature under test; the test of the guard itself (test/ingest-pressure.test.ts) turns it on.
      INGEST_MAX_EVENT_LOOP_DELAY_MS: 0,
      ...(url ? { DATABASE_URL: url } : {}),
      ...overrides
    }
  )
  const app = await buildApp({ config, logStream, pgliteImage: url ? undefined : await migratedPgliteImage() })
  // Registered after the database teardown, so it runs first (tap runs teardowns in reverse).
  t.teardown(() => app.close())
  return app
}

export interface TestUser {
  user: User
  password: string
  token: string
  refresh: string
  auth: { authorization: string }
}

let counter = 0
export async function makeUser(app: FastifyInstance, role: Role, opts: { username?: string; email?: string } = {}): Promise<TestUser> {
  counter += 1
  const username = opts.username ?? `${role}${counter}`
  const password = `pw-${randomBytes(8).toString('hex')}-long`
  const user = await createUser(
    app.db,
    { actor: { label: 'test-fixture' }, passwordMinLength: app.config.PASSWORD_MIN_LENGTH },
    { username, email: opts.email ?? `${username}@example.test`, password, role }
  )
  const pair = await app.tokens.issue(user)
  return { user, password, token: pair.access, refresh: pair.refresh, auth: { authorization: `Bearer ${pair.access}` } }
}

/** One user of each role, for role-matrix tests. */
export async function makeRoles(app: FastifyInstance) {
  const [admin, analyst, viewer] = await Promise.all([makeUser(app, 'admin'), makeUser(app, 'analyst'), makeUser(app, 'viewer')])
  return { admin, analyst, viewer }
}

export async function inject(app: FastifyInstance, opts: InjectOptions) {
  const res = await app.inject(opts)
  let body: any
  try {
    body = res.body ? JSON.parse(res.body) : undefined
  } catch {
    body = res.body
  }
  return { status: res.statusCode, body, headers: res.headers, raw: res }
}
