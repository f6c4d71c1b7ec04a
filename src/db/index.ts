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
import { POOL_END_S } from '../closing.js'
import { PROJECT_ROOT } from '../paths.js'
import { lockDataDir } from './data-dir-lock.js'
import { makeEventPartitions } from './partitions.js'
import * as schema from './schema.js'

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>
/** What a Drizzle transaction callback receives; same query API as Db. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]

export const MIGRATIONS_DIR = join(PROJECT_ROOT, 'drizzle')

export interface Database {
  db: Db
  /**
   * Where lists are read (src/pagination.ts): on PostgreSQL a small pool of its own, so a list's
   * statement never waits behind an ingestion chunk or a dashboard's statistics on a busy
   * connection, and the lists' short statements share round trips (postgres.js pipelines the
   * statements of one connection; each connection's statements cost a system call to write and
   * to read, and a backend woken for each). On PGlite the one session, as `db`.
   */
  lists: Db
  kind: 'postgres' | 'pglite'
  /** The postgres.js client, for the ingestion hot path (COPY); undefined on PGlite. */
  pg?: postgres.Sql
  /**
   * Opens the one connection that LISTENs for notifications (src/db/notify.ts drives it: use
   * `app.notifications`, not this). Nothing connects until the first `listen`.
   */
  openListener(events: ListenerEvents): Listener
  /** Resolves after a real round trip, rejects when the database does not answer in time. */
  ping(timeoutMs: number): Promise<void>
  /** Applies pending migrations, then makes the partitions of events for the days ahead. */
  migrate(): Promise<void>
  close(): Promise<void>
}

/** What the listening connection reports. */
export interface ListenerEvents {
  onNotify(channel: string, payload: string): void
  /** The connection dropped: every LISTEN made on it is gone until made again. */
  onLost(): void
}

/** A connection that LISTENs. Channel names are checked by the caller (defineChannel). */
export interface Listener {
  /** Rejects when the connection cannot be made or is lost meanwhile. */
  listen(channel: string): Promise<void>
  unlisten(channel: string): Promise<void>
  close(): Promise<void>
}

export interface DatabaseOptions {
  /** PostgreSQL URL; when absent PGlite is used. */
  url?: string
  /** PGlite data directory; `memory://` keeps it in memory (tests). */
  dataDir?: string
  /**
   * PGlite in memory only: start from this data directory (a `dumpDataDir()` tarball) instead of
   * running initdb, which costs seconds per database. The suite passes a migrated empty one.
   */
  image?: Blob
  poolMax?: number
  /** Connections of the lists' pool (Database.lists); 0: lists use the main pool. */
  listPoolMax?: number
  /** Bounds on connecting and on each statement, so a dead database gives errors, not hangs. */
  timeoutMs?: number
  /**
   * PGlite on disk: who opens it, named in the data directory's lock (src/db/data-dir-lock.ts)
   * and so in the refusal another process gets while this one holds it.
   */
  owner?: string
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  return opts.url ? openPostgres(opts.url, opts) : openPglite(opts.dataDir ?? './data', opts.image, opts.owner ?? 'a Vigil process')
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} timed out`), { code: 'DB_TIMEOUT' })), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/**
 * postgres.js options for a URL, taking libpq's way of naming a Unix-domain socket:
 * `postgres://user@/db?host=/var/run/postgresql` (the socket's directory; `localhost` may stand
 * in the host's place). postgres.js reads neither form itself: it needs a host in the URL and the
 * socket as `path`, and would send `host` to the server as a setting. On the database's own
 * machine a socket costs the kernel less per statement than TCP over loopback.
 */
export function connectionOf(url: string): { url: string; path?: string } {
  const at = url.indexOf('?')
  if (at < 0) return { url }
  const query = new URLSearchParams(url.slice(at + 1))
  const dir = query.get('host')
  if (dir === null || !dir.startsWith('/')) return { url }
  const port = query.get('port') ?? /:(\d+)\//.exec(url.slice(0, at))?.[1] ?? '5432'
  query.delete('host')
  query.delete('port')
  const rest = query.toString()
  // A URL with no host (postgres://user@/db) is one postgres.js cannot parse: name localhost.
  const base = url.slice(0, at).replace(/^(postgres(?:ql)?:\/\/(?:[^@/]*@)?)\//, '$1localhost/')
  return { url: rest ? `${base}?${rest}` : base, path: `${dir.replace(/\/$/, '')}/.s.PGSQL.${port}` }
}

/** Seconds before a pool connection is attempted again after `failures` failed ones: from 50 ms, doubling, at most 1 s. */
const reconnectPause = (failures: number) => Math.min(0.05 * 2 ** Math.max(0, failures - 1), 1)

/**
 * How every session writes times as text, whatever the server's or the role's defaults: in UTC,
 * ISO style (2026-12-03 19:07:33.123456+00). Timestamps reach Vigil as that text, which src/views.ts
 * rewrites as RFC 3339 without a Date, and the day buckets of stats fall on UTC days.
 */
const TEXT_OF_TIMES = { TimeZone: 'UTC', DateStyle: 'ISO, MDY' }

async function openPostgres(given: string, opts: DatabaseOptions): Promise<Database> {
  const { url, path } = connectionOf(given)
  const timeoutMs = opts.timeoutMs ?? 5000
  const connectTimeout = Math.max(1, Math.ceil(timeoutMs / 1000))
  const listeners = new Set<Listener>()
  const pool = (max: number, applicationName: string) =>
    postgres(url, {
      path,
      max,
      connect_timeout: connectTimeout,
      idle_timeout: 30,
      // postgres.js waits longer before each reconnect while connections keep failing, up to 20 s,
      // counted across the pool: after an outage of a few seconds, queries queued on a connection
      // waited out that pause with the database long back (recovery took up to 20 s). A connection
      // is attempted only when a query needs one and each attempt fails at once, so a short pause
      // is enough.
      backoff: reconnectPause,
      onnotice: () => {},
      connection: { statement_timeout: timeoutMs * 6, application_name: applicationName, ...TEXT_OF_TIMES }
    })
  const pg = pool(opts.poolMax ?? 10, 'vigil')
  const listPoolMax = opts.listPoolMax ?? 4
  const listPg = listPoolMax > 0 ? pool(listPoolMax, 'vigil-lists') : undefined
  const pdb = drizzlePostgres(pg, { schema })
  return {
    db: pdb as unknown as Db,
    lists: (listPg ? drizzlePostgres(listPg, { schema }) : pdb) as unknown as Db,
    kind: 'postgres',
    pg,
    openListener(events) {
      const listener = openPostgresListener(url, path, connectTimeout, events)
      listeners.add(listener)
      return listener
    },
    ping: (ms) => withTimeout(pg`select 1`.then(() => undefined), ms, 'database ping'),
    async migrate() {
      // An advisory lock, held on a connection of its own while the migrator runs on the pool,
      // keeps two instances starting together from migrating at once. Not one of the pool's: with
      // DB_POOL_MAX=1 the migrator would wait for the connection holding the lock for it.
      const lockConn = pool(1, 'vigil-migrate')
      try {
        await lockConn`select pg_advisory_lock(727274)`
        await migratePostgres(pdb, { migrationsFolder: MIGRATIONS_DIR })
        await makeEventPartitions(pdb as unknown as Db)
      } finally {
        await lockConn`select pg_advisory_unlock(727274)`.catch(() => {})
        await lockConn.end({ timeout: POOL_END_S })
      }
    },
    async close() {
      await Promise.all([...listeners].map((listener) => listener.close()))
      await Promise.all([pg.end({ timeout: POOL_END_S }), listPg?.end({ timeout: POOL_END_S })])
    }
  }
}

/**
 * A connection of its own for LISTEN, kept open (no idle timeout, no lifetime). postgres.js has
 * sql.listen, but while the database is down it retries without pause (it starved the event loop
 * in test/db-faults.test.ts) and never says that the subscription was lost, which a cache fed by
 * notifications must know. Reconnecting, with backoff, is the hub's job: a query after a loss
 * makes a new connection.
 */
function openPostgresListener(url: string, path: string | undefined, connectTimeout: number, events: ListenerEvents): Listener {
  let closing = false
  const conn = postgres(url, {
    path,
    max: 1,
    idle_timeout: 0,
    max_lifetime: null,
    fetch_types: false,
    connect_timeout: connectTimeout,
    // postgres.js waits up to 20 s before reconnecting after repeated failures; the hub paces its
    // own attempts, so keep only a floor (a server that hangs up at once cannot spin this).
    backoff: () => 0.1,
    onnotice: () => {},
    // Supported by postgres.js (it is how its own listen works) though missing from its types.
    ...{ onnotify: (channel: string, payload: string) => events.onNotify(channel, payload) },
    // Also called after each failed attempt to connect; the hub ignores a loss it already knows of.
    onclose: () => {
      if (!closing) events.onLost()
    },
    connection: { application_name: 'vigil-listen' }
  })
  return {
    // LISTEN takes an identifier, not a parameter: conn(name) quotes it as one.
    listen: async (channel) => void (await conn`listen ${conn(channel)}`),
    unlisten: async (channel) => void (await conn`unlisten ${conn(channel)}`),
    async close() {
      closing = true
      await conn.end({ timeout: 1 })
    }
  }
}

/** Where the embedded database keeps its files inside DATA_DIR. */
export const pgliteDir = (dataDir: string) => resolve(dataDir, 'pglite')

async function openPglite(dataDir: string, image: Blob | undefined, owner: string): Promise<Database> {
  const onDisk = !dataDir.startsWith('memory://')
  // One process at a time on a data directory (see data-dir-lock.ts): throws DataDirBusyError
  // while another holds it.
  const unlock = onDisk ? lockDataDir(dataDir, owner) : () => {}
  let client: PGlite
  try {
    if (onDisk) {
      const dir = pgliteDir(dataDir)
      mkdirSync(dir, { recursive: true })
      client = new PGlite(dir)
    } else {
      client = new PGlite(image ? { loadDataDir: image } : {})
    }
    await client.waitReady
    // One session for the process, so settings made once hold for every statement.
    for (const [name, value] of Object.entries(TEXT_OF_TIMES)) await client.query('select set_config($1, $2, false)', [name, value])
  } catch (err) {
    unlock()
    throw err
  }
  const db = drizzlePglite(client, { schema }) as unknown as Db
  return {
    db,
    lists: db,
    kind: 'pglite',
    // The database lives in this process: the listener is never lost.
    openListener(events) {
      const unlisten = new Map<string, () => Promise<void>>()
      return {
        async listen(channel) {
          if (!unlisten.has(channel)) unlisten.set(channel, await client.listen(channel, (payload) => events.onNotify(channel, payload)))
        },
        async unlisten(channel) {
          const stop = unlisten.get(channel)
          unlisten.delete(channel)
          if (stop && !client.closed) await stop()
        },
        async close() {
          const stops = [...unlisten.values()]
          unlisten.clear()
          if (!client.closed) await Promise.all(stops.map((stop) => stop()))
        }
      }
    },
    ping: (ms) => withTimeout(db.execute(sql`select 1`).then(() => undefined), ms, 'database ping'),
    async migrate() {
      await migratePglite(drizzlePglite(client), { migrationsFolder: MIGRATIONS_DIR })
      await makeEventPartitions(db)
    },
    // Idempotent like postgres.js's end(): a test (or a shutdown path) may close the database
    // before the app's own onClose hook does.
    close: async () => {
      try {
        if (!client.closed) await client.close()
      } finally {
        unlock()
      }
    }
  }
}

export { schema }
