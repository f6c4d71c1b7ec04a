// `npm run db:migrate`: applies pending migrations from drizzle/ to DATABASE_URL, or to the
// embedded database in DATA_DIR when no URL is set. The server also does this at start. The
// embedded database admits one process at a time: while the server runs on it, this refuses.
import { loadConfig } from '../config.js'
import { DataDirBusyError } from '../db/data-dir-lock.js'
import { openDatabase } from '../db/index.js'

const config = loadConfig()
let database
try {
  database = await openDatabase({ url: config.DATABASE_URL, dataDir: config.DATA_DIR, timeoutMs: config.DB_TIMEOUT_MS, owner: 'npm run db:migrate' })
} catch (err) {
  if (!(err instanceof DataDirBusyError)) throw err
  // The server migrates at start: a running one has applied every migration it knows.
  process.stderr.write(`${err.message}\nThe server applies migrations itself at start.\n`)
  process.exit(2)
}
try {
  await database.migrate()
  process.stdout.write(`migrations applied (${database.kind})\n`)
} finally {
  await database.close()
}
