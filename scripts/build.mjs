// `npm run build` (and `prestart`): transpiles src/, plugins/ and routes/ into dist/ with esbuild,
// a production dependency, so `npm ci --omit=dev && npm start` works without TypeScript. Types are
// checked by `npm run typecheck` (tsc), in CI, not here. Modules stay modules (no bundling): the
// layout of dist/ mirrors the source's, and src/paths.ts finds the project root from either.
import { readdirSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = join(fileURLToPath(import.meta.url), '..', '..')
const sources = []
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) walk(path)
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) sources.push(relative(root, path))
  }
}
for (const dir of ['src', 'plugins', 'routes']) walk(join(root, dir))

rmSync(join(root, 'dist'), { recursive: true, force: true })
await build({
  absWorkingDir: root,
  entryPoints: sources,
  outdir: 'dist',
  outbase: '.',
  format: 'esm',
  platform: 'node',
  // The oldest Node the output must run on: CI's own machine is still on 20 (scripts/newman.sh and
  // the production-install test run dist/ there); engines says 22, 24 and 26 are supported.
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning'
})
