// Opens the database (PostgreSQL or embedded PGlite), applies pending migrations and exposes
// Drizzle as `app.db` (and `app.lists`, where list routes read), and the notification hub (one
// LISTEN connection for every channel of src/db/channels.ts) as `app.notifications`. Both are
// closed when the app closes.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { SERVER_OWNER } from '../src/db/data-dir-lock.js'
import { openDatabase, type Database, type Db } from '../src/db/index.js'
import { NotificationHub } from '../src/db/notify.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Db
    /** Where list routes read their pages (Database.lists). */
    lists: Db
    database: Database
    notifications: NotificationHub
  }
}

export interface DbPluginOptions {
  /** See DatabaseOptions.image: a PGlite data directory to start from (tests). */
  pgliteImage?: Blob
}

async function dbPlugin(app: FastifyInstance, opts: DbPluginOptions) {
  const { config } = app
  const database = await openDatabase({
    url: config.DATABASE_URL,
    dataDir: config.DATA_DIR,
    image: opts.pgliteImage,
    poolMax: config.DB_POOL_MAX,
    listPoolMax: config.DB_LIST_POOL_MAX,
    timeoutMs: config.DB_TIMEOUT_MS,
    owner: SERVER_OWNER
  })
  try {
    await database.migrate()
  } catch (err) {
    await database.close().catch(() => {})
    throw err
  }
  app.log.info({ database: database.kind }, 'database ready')
  app.decorate('database', database)
  app.decorate('db', database.db)
  app.decorate('lists', database.lists)
  const notifications = new NotificationHub(database, database.db, app.log.child({ component: 'notifications' }))
  app.decorate('notifications', notifications)
  app.addHook('onClose', async () => {
    await notifications.close()
    await database.close()
  })
}

export default fp(dbPlugin, { name: 'db', dependencies: ['config'] })
