// A real process for a test: its output collected, its exit awaited, and killed at the test's end
// if it is still running.
import { spawn, type SpawnOptions } from 'node:child_process'

export function startProcess(t: { teardown(fn: () => unknown): void }, command: string, args: string[], opts: Pick<SpawnOptions, 'cwd' | 'env'>) {
  const child = spawn(command, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  let done = false
  void exited.then(() => (done = true))
  t.teardown(() => {
    if (!done) child.kill('SIGKILL')
  })
  return { child, exited, output: () => output, isDone: () => done }
}
