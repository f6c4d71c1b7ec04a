// Opens the system of record: PostgreSQL through postgres.js when a URL is given, otherwise the
// embedded PGlite in DATA_DIR. Both expose the same Drizzle API, schema and migrations.
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { sql } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import postgres from 'postgres'
import { PROJECT_ROOT } from '../paths.js'
import * as schema from './schema.js'

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>
/** What a Drizzle transaction callback receives; same query API as Db. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]

export const MIGRATIONS_DIR = join(PROJECT_ROOT, 'drizzle')

export interface Database {
  db: Db
  kind: 'postgres' | 'pglite'
  /** The postgres.js client, for the ingestion hot path (COPY); undefined on PGlite. */
  pg?: postgres.Sql
  /**
   * Subscribes to a notification channel, resubscribing after the connection is lost. `onLost`
   * runs when it drops (notifications sent until it is back are lost); `onListen` each time it is
   * made again. Rejects if the first subscription fails; later failures are retried.
   */
  listen(channel: string, handlers: ListenHandlers): Promise<void>
  /** Resolves after a real round trip, rejects when the database does not answer in time. */
  ping(timeoutMs: number): Promise<void>
  migrate(): Promise<void>
  close(): Promise<void>
}

// Properties, not methods: callers pass them on as plain callbacks (no `this`).
export interface ListenHandlers {
  onNotify: (payload: string) => void
  onListen: () => void
  onLost: () => void
}

export interface DatabaseOptions {
  /** PostgreSQL URL; when absent PGlite is used. */
  url?: string
  /** PGlite data directory; `memory://` keeps it in memory (tests). */
  dataDir?: string
  poolMax?: number
  /** Bounds on connecting and on each statement, so a dead database gives errors, not hangs. */
  timeoutMs?: number
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  return opts.url ? openPostgres(opts.url, opts) : openPglite(opts.dataDir ?? './data')
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} timed out`), { code: 'DB_TIMEOUT' })), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

async function openPostgres(url: string, opts: DatabaseOptions): Promise<Database> {
  const timeoutMs = opts.timeoutMs ?? 5000
  const connectTimeout = Math.max(1, Math.ceil(timeoutMs / 1000))
  const subscriptions: (() => Promise<void>)[] = []
  const pg = postgres(url, {
    max: opts.poolMax ?? 10,
    connect_timeout: connectTimeout,
    idle_timeout: 30,
    onnotice: () => {},
    connection: { statement_timeout: timeoutMs * 6, application_name: 'vigil' }
  })
  const pdb = drizzlePostgres(pg, { schema })
  return {
    db: pdb as unknown as Db,
    kind: 'postgres',
    pg,
    async listen(channel, handlers) {
      const subscription = await subscribe(url, connectTimeout, channel, handlers)
      subscriptions.push(subscription)
    },
    ping: (ms) => withTimeout(pg`select 1`.then(() => undefined), ms, 'database ping'),
    async migrate() {
      // An advisory lock, held on a reserved connection while the migrator runs on the pool,
      // keeps two instances starting together from migrating at once.
      const lockConn = await pg.reserve()
      try {
        await lockConn`select pg_advisory_lock(727274)`
        await migratePostgres(pdb, { migrationsFolder: MIGRATIONS_DIR })
      } finally {
        await lockConn`select pg_advisory_unlock(727274)`.catch(() => {})
        lockConn.release()
      }
    },
    async close() {
      await Promise.all(subscriptions.map((close) => close()))
      await pg.end({ timeout: 5 })
    }
  }
}

const RESUBSCRIBE_MS = 1000

/**
 * LISTEN on a connection of its own. postgres.js has sql.listen, but while the database is down it
 * retries without pause (it starved the event loop in test/db-faults.test.ts) and never says that
 * the subscription was lost, which a cache fed by notifications must know. Returns its closer.
 */
async function subscribe(url: string, connectTimeout: number, channel: string, handlers: ListenHandlers): Promise<() => Promise<void>> {
  // LISTEN takes an identifier, not a parameter: only plain names are accepted here.
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`not a channel name: ${channel}`)
  let closing = false
  let timer: NodeJS.Timeout | undefined
  const conn = postgres(url, {
    max: 1,
    idle_timeout: 0,
    max_lifetime: null,
    fetch_types: false,
    connect_timeout: connectTimeout,
    onnotice: () => {},
    // Supported by postgres.js (it is how its own listen works) though missing from its types.
    ...{
      onnotify: (name: string, payload: string) => {
        if (name === channel) handlers.onNotify(payload)
      }
    },
    onclose: () => {
      if (closing) return
      handlers.onLost()
      retry()
    },
    connection: { application_name: 'vigil-listen' }
  })
  const listen = async () => {
    await conn.unsafe(`listen ${channel}`)
    handlers.onListen()
  }
  const retry = () => {
    clearTimeout(timer)
    timer = setTimeout(() => void listen().catch(retry), RESUBSCRIBE_MS)
    timer.unref()
  }
  try {
    await listen()
  } catch (err) {
    await conn.end({ timeout: 0 })
    throw err
  }
  return async () => {
    closing = true
    clearTimeout(timer)
    await conn.end({ timeout: 1 })
  }
}

async function openPglite(dataDir: string): Promise<Database> {
  let client: PGlite
  if (dataDir.startsWith('memory://')) {
    client = new PGlite()
  } else {
    const dir = resolve(dataDir, 'pglite')
    mkdirSync(dir, { recursive: true })
    client = new PGlite(dir)
  }
  await client.waitReady
  const db = drizzlePglite(client, { schema }) as unknown as Db
  return {
    db,
    kind: 'pglite',
    // The database lives in this process: the subscription cannot be lost.
    async listen(channel, handlers) {
      await client.listen(channel, handlers.onNotify)
      handlers.onListen()
    },
    ping: (ms) => withTimeout(db.execute(sql`select 1`).then(() => undefined), ms, 'database ping'),
    migrate: () => migratePglite(drizzlePglite(client), { migrationsFolder: MIGRATIONS_DIR }),
    // Idempotent like postgres.js's end(): a test (or a shutdown path) may close the database
    // before the app's own onClose hook does.
    close: async () => {
      if (!client.closed) await client.close()
    }
  }
}

export { schema }
