// .env.example lists every configuration variable once, with the schema's own default, and
// nothing the schema does not know; and the file, loaded as an environment, is a valid configuration.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ConfigSchema, loadConfig } from '../src/config.js'
import { PROJECT_ROOT } from '../src/paths.js'

const text = readFileSync(join(PROJECT_ROOT, '.env.example'), 'utf8')
const set = new Map<string, string>()
const unset = new Set<string>()
for (const line of text.split('\n')) {
  const value = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line)
  const blank = /^# ([A-Z][A-Z0-9_]*)=$/.exec(line)
  if (value) {
    if (set.has(value[1]) || unset.has(value[1])) t.fail(`${value[1]} appears twice`)
    set.set(value[1], value[2])
  } else if (blank) {
    if (set.has(blank[1]) || unset.has(blank[1])) t.fail(`${blank[1]} appears twice`)
    unset.add(blank[1])
  }
}

t.test('every variable of the schema, once, with its default', async (t) => {
  const schema = ConfigSchema.properties as Record<string, { default?: string | number | boolean }>
  t.same([...set.keys(), ...unset].sort(), Object.keys(schema).sort(), 'the same variables as the schema')
  for (const [name, property] of Object.entries(schema)) {
    if (property.default === undefined) t.ok(unset.has(name), `${name} has no default: listed as unset`)
    else t.equal(set.get(name), String(property.default), `${name}: the schema's default`)
  }
  // Each variable sits in a block of lines that begins with a comment saying what it is for.
  const lines = text.split('\n')
  for (const name of Object.keys(schema)) {
    let i = lines.findIndex((l) => l.startsWith(`${name}=`) || l === `# ${name}=`)
    while (i > 0 && lines[i - 1] !== '' && !(lines[i - 1].startsWith('# ') && !/^# [A-Z0-9_]+=$/.test(lines[i - 1]))) i--
    t.ok(i > 0 && lines[i - 1].startsWith('# '), `${name} is described`)
  }
})

t.test('the file as an environment is a valid configuration (development)', async (t) => {
  const config = loadConfig({ ...Object.fromEntries(set), JWT_SECRET: 'a-secret-of-at-least-thirty-two-bytes!!' })
  t.equal(config.PORT, 3000)
  t.equal(config.DATABASE_URL, undefined, 'no database URL: the embedded database')
})
