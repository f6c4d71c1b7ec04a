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

function backendsOf(dbName: string): string[] {
  const pids: string[] = []
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    try {
      // A backend's title: "postgres: [<cluster>: ]<user> <database> <client> <state>".
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      if (cmd.startsWith('postgres: ') && cmd.split(/[\s\0]+/).includes(dbName)) pids.push(pid)
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids
}

/** Seconds of CPU used so far by each party. */
export function cpuNow(vigilPid: number | undefined, dbName: string): Cpu {
  const self = process.cpuUsage()
  return {
    vigil: vigilPid === undefined ? 0 : ticks(vigilPid) / TICKS,
    pg: backendsOf(dbName).reduce((n, pid) => n + ticks(pid), 0) / TICKS,
    bench: (self.user + self.system) / 1e6
  }
}

export const cpuSince = (start: Cpu, end: Cpu): Cpu => ({
  vigil: end.vigil - start.vigil,
  pg: end.pg - start.pg,
  bench: end.bench - start.bench
})
