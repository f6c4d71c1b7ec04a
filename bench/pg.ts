// What the benchmarks need from PostgreSQL's side: a scratch database of their own, and the C
// client programs (psql, pgbench) they compare Vigil with.
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'

/** A PostgreSQL client program: from Debian's server packages, else from PATH. */
export function findBin(name: string): string {
  const root = '/usr/lib/postgresql'
  if (existsSync(root)) {
    for (const v of readdirSync(root).sort((a, b) => Number(b) - Number(a))) {
      const p = join(root, v, 'bin', name)
      if (existsSync(p)) return p
    }
  }
  return name
}

/** Creates an empty database next to `baseUrl`'s, named `prefix` and random hex digits. */
export async function scratchDatabase(baseUrl: string, prefix: string) {
  const dbName = `${prefix}_${randomBytes(4).toString('hex')}`
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} })
  // A database name cannot be a bound parameter; this one is made here from hex digits only.
  await admin.unsafe(`create database ${dbName}`)
  const url = new URL(baseUrl)
  url.pathname = `/${dbName}`
  return {
    dbName,
    dbUrl: url.toString(),
    async drop() {
      await admin.unsafe(`drop database if exists ${dbName} with (force)`)
      await admin.end({ timeout: 5 })
    }
  }
}
