// Opens the database (PostgreSQL or embedded PGlite), applies pending migrations and exposes
// Drizzle as `app.db`. The pool is closed when the app closes.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { openDatabase, type Database, type Db } from '../src/db/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Db
    database: Database
  }
}

async function dbPlugin(app: FastifyInstance) {
  const { config } = app
  const database = await openDatabase({
    url: config.DATABASE_URL,
    dataDir: config.DATA_DIR,
    poolMax: config.DB_POOL_MAX,
    timeoutMs: config.DB_TIMEOUT_MS
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
  app.addHook('onClose', async () => {
    await database.close()
  })
}

export default fp(dbPlugin, { name: 'db', dependencies: ['config'] })
