// The README's architecture diagrams stay true: every file or folder they name exists, and every
// folder of src/, plugins/ and routes/ appears in them (so a new part cannot go unmentioned).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'

const root = new URL('..', import.meta.url).pathname
const readme = readFileSync(join(root, 'README.md'), 'utf8')
const section = readme.slice(readme.indexOf('## Architecture'), readme.indexOf('## Layout'))
const diagrams = [...section.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1])

t.test('the README has the request paths and the folders as Mermaid diagrams', async (t) => {
  t.equal(diagrams.length, 2)
  for (const d of diagrams) t.match(d, /^flowchart (LR|TB)\n/)
})

t.test('every path a diagram names exists', async (t) => {
  const named = new Set<string>()
  for (const d of diagrams) for (const m of d.matchAll(/\b((?:src|plugins|routes|drizzle|test|bench)(?:\/[\w.*-]+)*\/?)/g)) named.add(m[1].replace(/\/$/, ''))
  t.ok(named.size > 20, `${named.size} paths named`)
  for (const path of named) {
    const plain = path.replace(/\/\*$/, '')
    t.ok(existsSync(join(root, plain)), `${path} exists`)
  }
})

t.test('every folder of src/ and every plugin appears in a diagram', async (t) => {
  const text = diagrams.join('\n')
  for (const dir of readdirSync(join(root, 'src')).filter((d) => statSync(join(root, 'src', d)).isDirectory())) {
    t.ok(text.includes(`src/${dir}`), `src/${dir} is in a diagram`)
  }
  for (const file of readdirSync(join(root, 'plugins'))) {
    const name = file.replace(/\.ts$/, '')
    // Plugins with no part in a request path of their own are named in the README's Layout.
    if (['config', 'db', 'errors', 'security', 'swagger', 'login-limit'].includes(name)) continue
    t.ok(text.includes(`plugins/${file}`), `plugins/${file} is in a diagram`)
  }
})
