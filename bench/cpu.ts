// CPU time spent by each party during a phase, read from /proc (Linux): the Vigil process, the
// PostgreSQL backends serving the scratch database, and this benchmark process (the load
// generator and the raw baselines). On 2 cores these compete, so where the CPU goes explains a
// ratio better than wall time alone. Shared PostgreSQL processes (WAL writer, checkpointer) and
// backends of other databases are not counted.
import { readdirSync, readFileSync } from 'node:fs'

/** Clock ticks per second for /proc/<pid>/stat; 100 on every Linux Node supports. */
const TICKS = 100

export interface Cpu {
  vigil: number
  pg: number
  bench: number
}

function ticks(pid: number | string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12]) // utime + stime
  } catch {
    return 0 // the process is gone
  }
}

/**
 * The PostgreSQL backends serving `dbName`. `known` remembers each process already looked at
 * (a backend keeps its database; a pid is not reused within a run), so a sampler reads the
 * command lines of new processes only.
 */
function backendsOf(dbName: string, known: Map<string, boolean>): string[] {
  const pids: string[] = []
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    let ours = known.get(pid)
    if (ours === undefined) {
      try {
        // A backend's title: "postgres: [<cluster>: ]<user> <database> <client> <state>".
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        ours = cmd.startsWith('postgres: ') && cmd.split(/[\s\0]+/).includes(dbName)
        // A backend just forked still has the postmaster's command line: asked again next time.
        if (cmd.startsWith('postgres: ') || !cmd.includes('postgres')) known.set(pid, ours)
      } catch {
        ours = false // gone, or not ours to read
        known.set(pid, ours)
      }
    }
    if (ours) pids.push(pid)
  }
  return pids
}

/**
 * Seconds of CPU each party used while `run` ran. The backends are sampled every `everyMs`: one
 * that ends with its client (psql's, pgbench's) is gone before a reading after the run could see
 * it, so each counts with the last reading taken of it (work in its last interval is missed: a
 * small part of a run of seconds). Backends already there count from the start, those that start
 * during the run from nothing.
 */
export async function cpuDuring<T>(vigilPid: number | undefined, dbName: string, run: () => Promise<T>, everyMs = 100): Promise<{ result: T; cpu: Cpu }> {
  const self = process.cpuUsage()
  const vigil0 = vigilPid === undefined ? 0 : ticks(vigilPid)
  const known = new Map<string, boolean>()
  const last = new Map<string, number>()
  const sample = () => {
    // A process gone between listing and reading reads 0: keep what was read before.
    for (const pid of backendsOf(dbName, known)) last.set(pid, Math.max(last.get(pid) ?? 0, ticks(pid)))
  }
  sample()
  const base = new Map(last)
  const timer = setInterval(sample, everyMs)
  try {
    const result = await run()
    sample()
    let pg = 0
    for (const [pid, t] of last) pg += t - (base.get(pid) ?? 0)
    const used = process.cpuUsage(self)
    return {
      result,
      cpu: {
        vigil: vigilPid === undefined ? 0 : (ticks(vigilPid) - vigil0) / TICKS,
        pg: pg / TICKS,
        bench: (used.user + used.system) / 1e6
      }
    }
  } finally {
    clearInterval(timer)
  }
}
