// The embedded database admits one process at a time: PGlite runs PostgreSQL inside the process
// that opens it, with no postmaster to arbitrate, so a second process on the same files works on
// its own copy of the buffers and one of them silently loses its writes (seen: `user:create`
// printed "created" while the server ran, and the user was gone after the server's shutdown).
//
// So whoever opens a data directory (the server, `npm run user:create`, `npm run db:migrate`)
// first takes `DATA_DIR/pglite.lock`: a file naming its process, made complete elsewhere and then
// linked into place (link fails if the name exists, so no one ever reads half a lock, and two
// processes cannot both succeed). The lock is released on close and at process exit. A lock
// left by a process that died (SIGKILL, a crash, a power cut) is stale: its pid no longer runs,
// or runs a different program (Linux: the process start time differs), and the next opener
// replaces it. A lock written on another host (a shared volume) cannot be checked from here and
// counts as held.
import { randomBytes } from 'node:crypto'
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'

/** Who holds a data directory, as written in its lock file. */
export interface LockHolder {
  pid: number
  /** What the process is, e.g. "the Vigil server" or "npm run user:create". */
  owner: string
  hostname: string
  /** When it took the lock (ISO 8601). */
  since: string
  /** Linux: the process start time (clock ticks since boot, /proc/<pid>/stat), to tell a reused pid. */
  start?: string
}

/** The owner the server (and every app built by buildApp) names in the lock. */
export const SERVER_OWNER = 'the Vigil server'

export const lockFileOf = (dataDir: string) => join(resolve(dataDir), 'pglite.lock')

/** Someone else holds the data directory. Its message names them and what to do. */
export class DataDirBusyError extends Error {
  readonly code = 'DATA_DIR_BUSY'
  readonly lockFile: string
  /** Who holds the directory, without advice (a caller may give better advice than the default). */
  readonly reason: string
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder
  ) {
    const remote = holder.hostname !== hostname()
    const lockFile = lockFileOf(dataDir)
    const reason =
      `The embedded database in ${resolve(dataDir)} is in use by ${holder.owner} (pid ${holder.pid}` +
      `${remote ? ` on host ${holder.hostname}` : ''}, since ${holder.since}); PGlite admits one process at a time.`
    super(
      `${reason} ` +
        (remote
          ? `Vigil cannot tell from here whether that process still runs; if it does not, delete ${lockFile}.`
          : 'Stop it first, or wait for it to finish.')
    )
    this.reason = reason
    this.lockFile = lockFile
  }
}

/** Data directories this process holds: a second open in the same process is refused too. */
const heldHere = new Set<string>()

function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Field 22 (starttime); fields are counted after the command name, which may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as Partial<LockHolder>
    if (typeof h.pid === 'number' && typeof h.owner === 'string' && typeof h.hostname === 'string' && typeof h.since === 'string') {
      return h as LockHolder
    }
  } catch {
    // Not a lock this code wrote: stale.
  }
  return undefined
}

/** Whether the process a lock names may still run (so the lock must be respected). */
function mayRun(holder: LockHolder): boolean {
  if (holder.hostname !== hostname()) return true
  // Our own pid, and not a lock this process holds: a lock from an earlier process that had the
  // same pid (a container restarted: the server is pid 1 again).
  if (holder.pid === process.pid) return false
  try {
    process.kill(holder.pid, 0)
  } catch (err) {
    // EPERM: the process exists, under another user.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false
  }
  if (holder.start !== undefined) {
    const start = processStart(holder.pid)
    if (start !== undefined && start !== holder.start) return false
  }
  return true
}

/** The live holder of `dataDir`, if any (for a clear refusal before any work starts). */
export function dataDirHolder(dataDir: string): LockHolder | undefined {
  const file = lockFileOf(dataDir)
  if (heldHere.has(file)) return { pid: process.pid, owner: 'this process', hostname: hostname(), since: new Date().toISOString() }
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  const holder = parseHolder(text)
  return holder && mayRun(holder) ? holder : undefined
}

/**
 * Removes a stale lock, unless someone replaced it since it was read: it is moved aside first
 * (atomic), and put back if what was moved is not the stale lock.
 */
function removeStale(file: string, staleText: string) {
  const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    renameSync(file, aside)
  } catch {
    return // Gone already: another opener removed it.
  }
  try {
    if (readFileSync(aside, 'utf8') !== staleText) linkSync(aside, file)
  } catch {
    // Someone locked meanwhile (link: EEXIST); their lock stands.
  } finally {
    unlinkSync(aside)
  }
}

/**
 * Takes the lock of `dataDir` for this process, or throws DataDirBusyError. Returns the release,
 * which is idempotent and also runs at process exit.
 */
export function lockDataDir(dataDir: string, owner: string): () => void {
  const dir = resolve(dataDir)
  const file = lockFileOf(dir)
  if (heldHere.has(file)) throw new DataDirBusyError(dir, dataDirHolder(dir)!)
  mkdirSync(dir, { recursive: true })
  const holder: LockHolder = { pid: process.pid, owner, hostname: hostname(), since: new Date().toISOString() }
  const start = processStart(process.pid)
  if (start !== undefined) holder.start = start
  const text = JSON.stringify(holder)
  const part = `${file}.${process.pid}-${randomBytes(4).toString('hex')}`
  writeFileSync(part, `${text}\n`, { mode: 0o644 })
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(part, file)
        break
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw err
      }
      let current: string
      try {
        current = readFileSync(file, 'utf8')
      } catch {
        continue // Released meanwhile: try again.
      }
      const other = parseHolder(current)
      if (other && mayRun(other)) throw new DataDirBusyError(dir, other)
      removeStale(file, current)
    }
  } finally {
    unlinkSync(part)
  }
  heldHere.add(file)
  let released = false
  const release = () => {
    if (released) return
    released = true
    heldHere.delete(file)
    process.off('exit', release)
    try {
      // Only our own lock: never one that replaced it.
      if (readFileSync(file, 'utf8').trim() === text) unlinkSync(file)
    } catch {
      // Already gone.
    }
  }
  process.on('exit', release)
  return release
}
