// A scratch install of Vigil, as a release is laid out: the project's files (tracked, and new ones
// not ignored: what a clean clone holds once committed), the suite's node_modules linked in, and
// dist/ built by scripts/build.mjs. Tests that start Vigil's compiled server or CLIs as processes
// use it: node starts those in a fraction of the time the TypeScript loader needs.
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { PROJECT_ROOT } from '../../src/paths.js'

const run = promisify(execFile)

/** Copies the project's files into `dir`: tracked, and new ones not ignored (what a clean clone holds once committed). */
export async function copyProject(dir: string): Promise<void> {
  const { stdout } = await run('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: PROJECT_ROOT, maxBuffer: 64 << 20 })
  for (const file of stdout.split('\0').filter(Boolean)) {
    if (!existsSync(join(PROJECT_ROOT, file))) continue
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    copyFileSync(join(PROJECT_ROOT, file), join(dir, file))
  }
}

export async function scratchInstall(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-opt-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  await copyProject(dir)
  symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(dir, 'node_modules'))
  await run(process.execPath, ['scripts/build.mjs'], { cwd: dir })
  return dir
}
