// `npm run db:migrate`: applies pending migrations from drizzle/ to DATABASE_URL, or to the
// embedded database in DATA_DIR when no URL is set. The server also does this at start.
import { loadConfig } from '../config.js'
import { openDatabase } from '../db/index.js'

const config = loadConfig()
const database = await openDatabase({ url: config.DATABASE_URL, dataDir: config.DATA_DIR, timeoutMs: config.DB_TIMEOUT_MS })
try {
  await database.migrate()
  process.stdout.write(`migrations applied (${database.kind})\n`)
} finally {
  await database.close()
}
