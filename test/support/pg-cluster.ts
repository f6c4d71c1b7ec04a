// A private PostgreSQL cluster for tests that stop and start the database: initdb and pg_ctl from
// Debian's postgresql package, on a spare port, so stopping it disturbs nothing else. As root,
// the server programs run as the `postgres` user (initdb refuses root).
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from './net.js'

const run = promisify(execFile)

export function findPgBin(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a))
  for (const v of versions) {
    const bin = join(root, v, 'bin')
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return bin
  }
  return undefined
}


export interface PrivateCluster {
  url: string
  port: number
  /** The directory of its Unix-domain socket. */
  socketDir: string
  start(): Promise<void>
  /** Stops the server; `immediate` is a crash-like stop with no checkpoint. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>
  destroy(): Promise<void>
}

export async function startPrivateCluster(): Promise<PrivateCluster> {
  const bin = findPgBin()
  if (!bin) throw new Error('PostgreSQL server programs (initdb, pg_ctl) are not installed')
  const asRoot = process.getuid?.() === 0
  const dir = mkdtempSync(join(tmpdir(), 'vigil-pg-'))
  const data = join(dir, 'data')
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres'])
    const { stdout: gid } = await run('id', ['-g', 'postgres'])
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()))
  }
  const pg = (cmd: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]) : run(join(bin, cmd), args)
  const port = await freePort()
  await pg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'])
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`
  const cluster: PrivateCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    socketDir: dir,
    start: async () => {
      await pg('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', '-t', '30', 'start'])
    },
    stop: async (mode = 'fast') => {
      await pg('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop'])
    },
    destroy: async () => {
      await pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {})
      rmSync(dir, { recursive: true, force: true })
    }
  }
  await cluster.start()
  return cluster
}
