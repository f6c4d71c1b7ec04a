// The deployment files, tested as far as this machine can (it runs no systemd services and builds
// no images): deploy/vigil.service is parsed, its ExecStart command line is run from a scratch
// install with the environment systemd would give it (its Environment= lines, then its
// EnvironmentFile=, which overrides them) and must serve /health and stop on SIGTERM within the
// unit's TimeoutStopSec; the Dockerfile's HEALTHCHECK command is run against that Vigil, and
// against it stopped; every variable the Dockerfile, compose.yaml and deploy/vigil.env.example give
// Vigil must be one src/config.ts knows, so the files cannot drift from the configuration
// silently. Runs in the PostgreSQL pass (the unit's environment file names a DATABASE_URL); on
// its own without TEST_DATABASE_URL it runs on the embedded database.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { ConfigSchema } from '../src/config.js'
import { PROJECT_ROOT } from '../src/paths.js'
import { eventually, freshDatabaseUrl } from './helper.js'
import { scratchInstall } from './support/install.js'
import { freePort } from './support/net.js'
import { startProcess } from './support/process.js'

const run = promisify(execFile)
const read = (file: string) => readFileSync(join(PROJECT_ROOT, file), 'utf8')
const CONFIG_NAMES = new Set(Object.keys(ConfigSchema.properties))
const NODE_FLAGS = (JSON.parse(read('package.json')) as { config: { node_flags: string } }).config.node_flags.split(/\s+/).filter(Boolean)

// --- systemd's syntax, the parts these files use (systemd.syntax(7), systemd.exec(5)) ---

/** Directives by section, in order; a directive given twice keeps both (Environment=, ...). */
function parseUnit(text: string): Record<string, [string, string][]> {
  const sections: Record<string, [string, string][]> = {}
  let current: [string, string][] | undefined
  for (const line of text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const section = /^\[(.+)\]$/.exec(line)
    if (section) {
      current = sections[section[1]] ??= []
      continue
    }
    const eq = line.indexOf('=')
    if (eq < 0 || !current) throw new Error(`not a directive: ${line}`)
    current.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()])
  }
  return sections
}

/** A command line or an Environment= value: words split at spaces, "..." and '...' quote. */
function words(value: string): string[] {
  const out: string[] = []
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g
  for (let m = re.exec(value); m; m = re.exec(value)) {
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? m[3]))
  }
  return out
}

/** An EnvironmentFile=: NAME=value lines, # and ; comments, quotes removed, no expansion; later lines win. */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const eq = line.indexOf('=')
    if (eq < 0) continue
    let value = line.slice(eq + 1).trim()
    const quoted = /^"((?:[^"\\]|\\.)*)"$/.exec(value) ?? /^'([^']*)'$/.exec(value)
    value = quoted ? quoted[1] : value.replace(/\\(.)/g, '$1')
    env[line.slice(0, eq).trim()] = value
  }
  return env
}

/** A time span: "20s", "20" (seconds), "1min 30s", "500ms". */
function timespanMs(value: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, sec: 1000, '': 1000, m: 60_000, min: 60_000 }
  let total = 0
  for (const [, n, unit] of value.matchAll(/(\d+)\s*([a-z]*)/g)) {
    if (!(unit in units)) throw new Error(`time unit ${unit} in ${value}`)
    total += Number(n) * units[unit]
  }
  return total
}

// --- a few lines of YAML: the block maps and lists compose.yaml is written in ---

type Yaml = string | Yaml[] | { [key: string]: Yaml }
function parseYaml(text: string): Yaml {
  const lines = text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'))
    .map((l) => ({ indent: l.length - l.trimStart().length, text: l.trim() }))
  let i = 0
  const scalar = (s: string) => s.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1')
  const block = (indent: number): Yaml => {
    if (lines[i].text.startsWith('- ')) {
      const list: Yaml[] = []
      while (i < lines.length && lines[i].indent === indent && lines[i].text.startsWith('- ')) list.push(scalar(lines[i++].text.slice(2)))
      return list
    }
    const map: Record<string, Yaml> = {}
    while (i < lines.length && lines[i].indent === indent) {
      const m = /^([^:]+):(?:\s+(.*))?$/.exec(lines[i].text)
      if (!m) throw new Error(`compose.yaml: cannot read "${lines[i].text}"`)
      i++
      map[m[1]] = m[2] !== undefined ? scalar(m[2]) : i < lines.length && lines[i].indent > indent ? block(lines[i].indent) : ''
    }
    return map
  }
  return block(0)
}

// --- the Dockerfile's instructions (continuation lines joined) ---

function dockerInstructions(text: string): [string, string][] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const sp = l.indexOf(' ')
      return [l.slice(0, sp).toUpperCase(), l.slice(sp + 1).trim()] as [string, string]
    })
}

const unit = parseUnit(read('deploy/vigil.service'))
const service = unit.Service ?? []
const all = (key: string) => service.filter(([k]) => k === key).map(([, v]) => v)
const one = (key: string) => all(key).at(-1)
const unitEnv = Object.fromEntries(all('Environment').flatMap(words).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]))
const execStart = words((one('ExecStart') ?? '').replace(/^[-@:+!]+/, ''))
const stopMs = timespanMs(one('TimeoutStopSec') ?? '90s')
const docker = dockerInstructions(read('Dockerfile'))

t.test('deploy/vigil.service: the command, the environment, the hardening', async (t) => {
  t.same(Object.keys(unit).sort(), ['Install', 'Service', 'Unit'])
  t.equal(execStart[0], '/usr/bin/node', 'node, by its full path')
  t.same(execStart.slice(1, -1), NODE_FLAGS, "with package.json's config.node_flags, as npm start runs it")
  t.equal(execStart.at(-1), 'dist/src/server.js', 'the compiled server, relative to WorkingDirectory')
  t.equal(one('WorkingDirectory'), '/opt/vigil')
  t.equal(unitEnv.NODE_ENV, 'production')
  for (const name of Object.keys(unitEnv)) t.ok(CONFIG_NAMES.has(name), `Environment=${name} is a configuration variable`)
  t.same(all('EnvironmentFile'), ['/etc/vigil/vigil.env'])
  t.equal(one('Restart'), 'on-failure')
  t.equal(one('KillSignal') ?? 'SIGTERM', 'SIGTERM')
  const grace = /const SHUTDOWN_GRACE_MS = ([\d_]+)/.exec(read('src/server.ts'))
  t.ok(grace, "src/server.ts's shutdown bound is found")
  t.ok(stopMs > Number(grace![1].replace(/_/g, '')), `TimeoutStopSec (${stopMs} ms) leaves the server its ${grace![1]} ms to finish`)
  t.ok(one('User') && one('User') !== 'root', 'an unprivileged user')
  t.equal(one('NoNewPrivileges'), 'yes')
  t.equal(one('ProtectSystem'), 'strict')
  t.ok(all('ReadWritePaths').flatMap(words).includes(unitEnv.DATA_DIR), 'DATA_DIR is writable, and only it')
  t.notOk(one('MemoryDenyWriteExecute'), 'no MemoryDenyWriteExecute (V8 would crash)')

  // systemd's own reading of the file, with node where this machine has it.
  const dir = mkdtempSync(join(tmpdir(), 'vigil-unit-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'vigil.service'), read('deploy/vigil.service').replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `))
  // systemd-analyze reads unit files without a running systemd (Debian: the systemd package).
  const verify = await run('systemd-analyze', ['verify', join(dir, 'vigil.service')]).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code: number | string; stdout?: string; stderr?: string }) => ({
      code: e.code,
      out: e.code === 'ENOENT' ? 'systemd-analyze is not installed (Debian: apt-get install systemd)' : `${e.stdout ?? ''}${e.stderr ?? ''}`
    })
  )
  t.same(verify, { code: 0, out: '' }, 'systemd-analyze verify finds nothing to say')
})

/** The Dockerfile's HEALTHCHECK command, run with node here and the container's PORT. */
async function healthcheck(port: number): Promise<number> {
  const [, args] = docker.find(([i]) => i === 'HEALTHCHECK') ?? ['', '']
  const argv = JSON.parse(args.slice(args.indexOf('CMD ') + 4)) as string[]
  if (argv[0] !== 'node') throw new Error(`HEALTHCHECK runs ${argv[0]}, not node`)
  return run(process.execPath, argv.slice(1), { env: { PATH: process.env.PATH, PORT: String(port) }, timeout: 10_000 }).then(
    () => 0,
    (e: { code: number }) => e.code
  )
}

t.test("the unit's ExecStart and environment start Vigil; SIGTERM stops it within TimeoutStopSec", async (t) => {
  const install = await scratchInstall(t)
  t.ok(existsSync(join(install, execStart.at(-1)!)), 'the entry is in the build output')

  const example = read('deploy/vigil.env.example')
  const exampleEnv = parseEnvFile(example)
  for (const name of Object.keys(exampleEnv)) t.ok(CONFIG_NAMES.has(name), `vigil.env.example: ${name} is a configuration variable`)
  t.ok(exampleEnv.DATABASE_URL && exampleEnv.JWT_SECRET, 'it names the database and the secret')

  const etc = mkdtempSync(join(tmpdir(), 'vigil-etc-'))
  t.teardown(() => rmSync(etc, { recursive: true, force: true }))
  const envFile = join(etc, 'vigil.env')
  /** The process as systemd starts it: ExecStart in WorkingDirectory, with only the unit's environment. */
  const start = (file: string) => {
    const env = { PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, ...unitEnv, ...parseEnvFile(readFileSync(file, 'utf8')) }
    return startProcess(t, process.execPath, execStart.slice(1), { cwd: install, env })
  }

  // As shipped, the example's placeholder secret is refused: NODE_ENV=production from the unit applies.
  writeFileSync(envFile, example)
  const refused = start(envFile)
  t.equal(await refused.exited, 1, 'the example as shipped does not start')
  t.match(refused.output(), /JWT_SECRET must be at least 32 bytes in production/)

  // Filled in, as an operator edits it.
  const port = await freePort()
  const url = await freshDatabaseUrl(t)
  const dataDir = join(etc, 'data')
  const values: Record<string, string> = { PORT: String(port), JWT_SECRET: 'a-deployment-test-secret-of-more-than-32-bytes', DATABASE_URL: url ?? '' }
  // The embedded database: DATABASE_URL empty, and a DATA_DIR this test may write (over the unit's).
  if (!url) values.DATA_DIR = dataDir
  let filled = example
  for (const [name, value] of Object.entries(values)) {
    const line = new RegExp(`^${name}=.*$`, 'm')
    filled = line.test(filled) ? filled.replace(line, `${name}=${value}`) : `${filled}${name}=${value}\n`
  }
  writeFileSync(envFile, filled)
  const vigil = start(envFile)
  const base = `http://127.0.0.1:${port}`
  const up = await eventually(async () => {
    if (vigil.isDone()) return true
    try {
      return (await fetch(`${base}/health`)).status === 200
    } catch {
      return false
    }
  }, 60_000)
  t.ok(up && !vigil.isDone(), 'Vigil starts and answers /health', { output: vigil.output().slice(-2000) })
  const health = (await (await fetch(`${base}/health`)).json()) as { status: string; database: string }
  t.match(health, { status: 'ok', database: 'ok' })
  t.match(vigil.output(), url ? /"database":"postgres"/ : /"database":"pglite"/, 'on the database the environment file names')
  t.equal(await healthcheck(port), 0, "the Dockerfile's HEALTHCHECK passes against it")

  const stopping = Date.now()
  vigil.child.kill('SIGTERM')
  const code = await vigil.exited
  const took = Date.now() - stopping
  t.equal(code, 0, 'SIGTERM: exit status 0 (no restart under Restart=on-failure)')
  t.ok(took < stopMs, `stopped in ${took} ms, within TimeoutStopSec (${stopMs} ms)`)
  t.match(vigil.output(), /"signal":"SIGTERM","msg":"shutting down"/)
  t.not(await healthcheck(port), 0, 'and the HEALTHCHECK fails once it is gone')
})

t.test('Dockerfile and compose.yaml: standard, and only variables Vigil knows', async (t) => {
  const froms = docker.filter(([i]) => i === 'FROM').map(([, v]) => v)
  t.equal(froms.length, 2, 'two stages')
  t.match(froms[0], /AS build$/)
  const runtimeAt = docker.findIndex(([i, v]) => i === 'FROM' && / AS runtime$/.test(v))
  t.ok(runtimeAt > 0, 'a runtime stage')
  const runtime = docker.slice(runtimeAt)
  const args = docker.filter(([i]) => i === 'ARG').map(([, v]) => v)
  t.ok(args.some((a) => /^NODE_IMAGE=node:(22|24|26)-slim$/.test(a)), 'on a supported Node line, slim')
  t.ok(docker.slice(0, runtimeAt).some(([i, v]) => i === 'RUN' && /\bnpm ci\b/.test(v) && !v.includes('--omit=dev')), 'the build stage installs everything')
  t.ok(docker.slice(0, runtimeAt).some(([i, v]) => i === 'RUN' && /npm run build/.test(v)), 'and builds')
  t.ok(runtime.some(([i, v]) => i === 'RUN' && /npm ci --omit=dev/.test(v)), 'the runtime installs production dependencies only')
  const user = runtime.filter(([i]) => i === 'USER').map(([, v]) => v)
  t.ok(user.length > 0 && !['root', '0'].includes(user.at(-1)!), 'and runs unprivileged')

  const env: Record<string, string> = {}
  for (const [, v] of runtime.filter(([i]) => i === 'ENV')) for (const a of words(v)) env[a.slice(0, a.indexOf('='))] = a.slice(a.indexOf('=') + 1)
  for (const name of Object.keys(env)) t.ok(CONFIG_NAMES.has(name), `ENV ${name} is a configuration variable`)
  t.match(env, { NODE_ENV: 'production', HOST: '0.0.0.0' })
  t.same(runtime.filter(([i]) => i === 'EXPOSE').map(([, v]) => v), [env.PORT], 'EXPOSE is the PORT it listens on')
  const cmd = JSON.parse(runtime.find(([i]) => i === 'CMD')![1]) as string[]
  t.same(cmd, ['node', ...NODE_FLAGS, 'dist/src/server.js'], 'CMD starts the compiled server as the unit does')
  const hc = runtime.find(([i]) => i === 'HEALTHCHECK')?.[1] ?? ''
  t.match(hc, /CMD \["node", "-e", ".*\/health.*"\]$/, 'HEALTHCHECK calls /health with node')
  t.match(hc, /process\.env\.PORT/, 'on the PORT configured')

  const ignored = read('.dockerignore').split('\n').map((l) => l.trim())
  for (const entry of ['node_modules', 'dist', '.git', 'data']) t.ok(ignored.includes(entry), `.dockerignore leaves out ${entry}`)

  const compose = parseYaml(read('compose.yaml')) as Record<string, any>
  const { db, vigil } = compose.services
  t.match(db.image, /^postgres:15/)
  t.ok(db.healthcheck?.test, 'the database has a health check')
  t.ok(compose.volumes && 'pgdata' in compose.volumes && db.volumes.includes('pgdata:/var/lib/postgresql/data'), 'and a volume')
  t.equal(vigil.build, '.')
  t.same(vigil.depends_on, { db: { condition: 'service_healthy' } }, 'Vigil starts once the database is healthy')
  const names = Object.keys(vigil.environment)
  t.ok(names.includes('DATABASE_URL') && names.includes('JWT_SECRET'))
  for (const name of names) t.ok(CONFIG_NAMES.has(name), `compose: ${name} is a configuration variable`)
  t.ok(timespanMs(vigil.stop_grace_period) > 10_000, 'docker stop waits longer than the server takes to finish')
})
