// A migrated template database on the test server, so each test database is a copy
// (`CREATE DATABASE ... TEMPLATE`) instead of an empty database migrated again.
//
// The template's name carries a hash of drizzle/ (SQL and journal): runs and worktrees with the
// same migrations share one template, a change of migrations makes a new one, and no run ever
// drops a template (another run may be copying it). Building is serialised by an advisory lock,
// so tap's parallel jobs and concurrent runs build it once; a template is marked usable
// (`IS_TEMPLATE`) only after its migrations committed, so a build cut short is rebuilt.
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import { MIGRATIONS_DIR, openDatabase } from '../../src/db/index.js'

export function migrationsHash(): string {
  const hash = createHash('sha256')
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else hash.update(path.slice(MIGRATIONS_DIR.length)).update('\0').update(readFileSync(path)).update('\0')
    }
  }
  walk(MIGRATIONS_DIR)
  return hash.digest('hex').slice(0, 16)
}

const TEMPLATE = `vigil_tpl_${migrationsHash()}`
/** Advisory lock key for building templates (any fixed number; distinct from the app's own). */
const BUILD_LOCK = 727_275

const withDatabase = (base: string, name: string) => {
  const url = new URL(base)
  url.pathname = `/${name}`
  return url.toString()
}

async function isReady(admin: postgres.Sql): Promise<boolean> {
  const rows = await admin`select datistemplate from pg_database where datname = ${TEMPLATE}`
  return rows.length === 1 && rows[0].datistemplate === true
}

/** Returns the migrated template's name, building it first when no run has yet. */
async function ensureTemplate(admin: postgres.Sql, base: string): Promise<string> {
  if (await isReady(admin)) return TEMPLATE
  const lock = await admin.reserve()
  try {
    await lock`select pg_advisory_lock(${BUILD_LOCK})`
    if (await isReady(admin)) return TEMPLATE
    // Left over from a build that was cut short (no run copies an unfinished template).
    await admin.unsafe(`drop database if exists ${TEMPLATE} with (force)`)
    await admin.unsafe(`create database ${TEMPLATE}`)
    const database = await openDatabase({ url: withDatabase(base, TEMPLATE), poolMax: 2 })
    try {
      await database.migrate()
    } finally {
      await database.close()
    }
    await admin.unsafe(`alter database ${TEMPLATE} with is_template true`)
    return TEMPLATE
  } finally {
    await lock`select pg_advisory_unlock(${BUILD_LOCK})`.catch(() => {})
    lock.release()
  }
}

/** Creates database `name` as a copy of the migrated template. */
export async function createMigratedDatabase(base: string, name: string): Promise<void> {
  const admin = postgres(base, { max: 2, onnotice: () => {} })
  try {
    const template = await ensureTemplate(admin, base)
    await admin.unsafe(`create database ${name} template ${template}`)
  } finally {
    await admin.end()
  }
}
