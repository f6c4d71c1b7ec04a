// A migrated, empty PGlite data directory, so each in-memory test database starts from it instead
// of running initdb (seconds per database) and every migration again.
//
// Built once per migrations and PGlite version with the production migrator, and kept as a file
// in the system's temporary folder, shared by tap's parallel processes and later runs: written to a
// unique name, then renamed into place, so no process ever reads half a file. A change of
// migrations or of PGlite makes a new file. The app still runs its migrations at start (a no-op).
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { drizzle } from 'drizzle-orm/pglite'
import { migrate } from 'drizzle-orm/pglite/migrator'
import { MIGRATIONS_DIR, pgliteDir } from '../../src/db/index.js'
import { migrationsHash } from './pg-template.js'

// The package does not export its package.json; it is read where npm installs it.
const PGLITE_PACKAGE = join(MIGRATIONS_DIR, '..', 'node_modules', '@electric-sql', 'pglite', 'package.json')
const { version } = JSON.parse(readFileSync(PGLITE_PACKAGE, 'utf8')) as { version: string }
const FILE = join(tmpdir(), `vigil-pglite-${version}-${migrationsHash()}.tar`)

async function build(): Promise<Blob> {
  const client = new PGlite()
  try {
    await migrate(drizzle(client), { migrationsFolder: MIGRATIONS_DIR })
    const image = await client.dumpDataDir('none')
    const part = `${FILE}.${process.pid}.${randomBytes(4).toString('hex')}`
    writeFileSync(part, Buffer.from(await image.arrayBuffer()))
    renameSync(part, FILE)
    return image
  } finally {
    await client.close()
  }
}

let image: Promise<Blob> | undefined

/** The migrated image, read once per process (built first if no process has yet). */
export function migratedPgliteImage(): Promise<Blob> {
  image ??= (async () => {
    try {
      return new Blob([readFileSync(FILE)])
    } catch {
      return build()
    }
  })()
  return image
}

/**
 * Makes `dataDir` (a DATA_DIR for a Vigil process the test starts) hold the migrated database, as
 * if a first start had already run initdb and the migrations: the process under test opens it in
 * a fraction of a second. What a first start on a bare machine does is run by scripts/newman.sh.
 */
export async function seedPgliteDataDir(dataDir: string): Promise<void> {
  const dir = pgliteDir(dataDir)
  mkdirSync(dir, { recursive: true })
  const client = new PGlite(dir, { loadDataDir: await migratedPgliteImage() })
  await client.waitReady
  await client.close()
}
