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

/**
 * The socket directory of the PostgreSQL at `url` when it runs on this machine, for both sides of
 * a benchmark to reach it the same way a local deployment would (and pgbench does by default):
 * BENCH_SOCKET_DIR, else /var/run/postgresql; undefined for TCP (BENCH_SOCKET_DIR=none, a remote
 * server, or no socket there).
 */
export function localSocketDir(url: string): string | undefined {
  const u = new URL(url)
  const dir = process.env.BENCH_SOCKET_DIR ?? '/var/run/postgresql'
  if (dir === 'none' || !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) return undefined
  return existsSync(join(dir, `.s.PGSQL.${u.port || '5432'}`)) ? dir : undefined
}

/** `url` through the socket in `dir` (libpq's ?host=, which psql and Vigil read), or as it is. */
export const viaSocket = (url: string, dir: string | undefined) =>
  dir ? `${url}${url.includes('?') ? '&' : '?'}host=${encodeURIComponent(dir)}` : url
