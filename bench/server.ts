// Runs Vigil as `npm start` does (compiled, node dist/src/server.js) in a child process: on a
// 2-core machine the server then has its own event loop, not shared with the load generator, and
// its resident memory can be read from /proc on its own.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs'
import { createServer, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))

export interface Vigil {
  url: string
  pid: number
  logFile: string
  /** Resident set size now, in bytes. */
  rss: () => number
  /** The kernel's high-water mark of the resident set since the process started, in bytes. */
  peakRss(): number
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as { port: number }).port
  await new Promise((resolve) => srv.close(resolve))
  return port
}

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : 0
}

function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${url}/api/events/`, { method: 'GET' }, (res) => {
      res.resume()
      resolve(true)
    })
    req.on('error', () => resolve(false))
    req.end()
  })
}

/** The node options `npm start` uses (package.json config.node_flags: the V8 heap sizes). */
function startFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
  return String(pkg.config?.node_flags ?? '').split(/\s+/).filter(Boolean)
}

let built = false
/** Compiles Vigil once per bench run (`npm run build`), as `npm start` does before it starts. */
function buildOnce() {
  if (built) return
  execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'inherit' })
  built = true
}

/** Extra settings for Vigil from BENCH_VIGIL_ENV ("DB_POOL_MAX=4 LOG_LEVEL=info"), to try a configuration. */
export const extraVigilEnv = (): Record<string, string> =>
  Object.fromEntries((process.env.BENCH_VIGIL_ENV ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.split('=')[0], kv.slice(kv.indexOf('=') + 1)]))

/** Starts Vigil with `env` on a free port and waits until it answers (migrations done, admin made). */
export async function startVigil(env: Record<string, string>, nodeArgs: string[] = []): Promise<Vigil> {
  const port = await freePort()
  const logFile = join(tmpdir(), `vigil-bench-${port}.log`)
  const fd = openSync(logFile, 'w')
  buildOnce()
  const child: ChildProcess = spawn(process.execPath, [...startFlags(), ...nodeArgs, 'dist/src/server.js'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', fd, fd]
  })
  closeSync(fd)
  let exited: number | null = null
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code ?? -1
      resolve()
    })
  )
  // Never leave a server behind if the benchmark dies.
  const orphan = () => child.kill('SIGKILL')
  process.once('exit', orphan)
  void exit.then(() => process.off('exit', orphan))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  while (!(await answers(url))) {
    if (exited !== null) throw new Error(`Vigil exited with ${String(exited)} while starting; see ${logFile}`)
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`Vigil did not start within 60 s; see ${logFile}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  const pid = child.pid!
  return {
    url,
    pid,
    logFile,
    rss: () => statusKb(pid, 'VmRSS'),
    peakRss: () => statusKb(pid, 'VmHWM'),
    async stop() {
      if (exited !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await exit
      clearTimeout(timer)
      // A clean exit leaves nothing worth reading; otherwise the log stays for the error message.
      if (exited === 0) rmSync(logFile, { force: true })
    }
  }
}

/** Samples a process's RSS every `everyMs` until stopped; returns the peak and the samples taken. */
export function sampleRss(read: () => number, everyMs = 50) {
  let peak = 0
  let samples = 0
  const take = () => {
    try {
      peak = Math.max(peak, read())
      samples++
    } catch {
      // The process is gone: nothing more to sample.
    }
  }
  take()
  const timer = setInterval(take, everyMs)
  return {
    stop() {
      clearInterval(timer)
      take()
      return { peak, samples }
    }
  }
}
