// The rule index and the regular-expression prefilter only ever skip rules that cannot match:
// the engine (index, prefilter) finds exactly what running every rule on every record finds, over
// the 200 benchmark rules and the Sigma corpus, on realistic and on adversarial records.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { RE2JS } from 're2js'
import { makeRecords, rng } from '../bench/data.js'
import { benchModels } from '../bench/rules.js'
import { DetectionEngine } from '../src/detection/engine.js'
import { compileModel, type CompiledModel } from '../src/detection/model.js'
import { recordView } from '../src/detection/record.js'
import { requiredLiteral } from '../src/detection/sigma/prefilter.js'

const view = (r: Record<string, unknown>) => recordView(r, { message: typeof r.message === 'string' ? r.message : undefined })

/** What running every rule, with no index, matches: rule ids, in order. */
function everyRule(models: CompiledModel[], r: Record<string, unknown>): string[] {
  const v = view(r)
  return models.flatMap((m) => m.rules).filter((x) => x.rule.match(v)).map((x) => x.ruleId)
}

function viaEngine(engine: DetectionEngine, r: Record<string, unknown>): string[] {
  const found = engine.evaluate(view(r))
  return found ? [...found.detections.map((d) => d.rule_id!)] : []
}

/** Every rule reports, so that the engine's detections are every match. */
const reporting = (m: CompiledModel): CompiledModel => ({ ...m, rules: m.rules.map((r) => ({ ...r, reports: true })) })

t.test('the 200 benchmark rules: the index finds what running every rule finds', async (t) => {
  const models = benchModels().map((m, i) => reporting(compileModel({ id: i + 1, name: m.name, version: '1' }, 'sigma', m.definition, {})))
  const engine = new DetectionEngine(models)
  const records = makeRecords(5000, 'idx').map((r) => JSON.parse(r.line) as Record<string, unknown>)
  // Records built from the rules' own words, so that many rules match.
  const next = rng(3)
  const words = ['mimikatz', 'sekurlsa', 'alpha', 'bravo', 'quarantined', 'failed logins for user', 'Trojan.Gen.9', 'new country RU', ' -enc ', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'dc-alpha', '.bravo.example.net']
  for (let i = 0; i < 3000; i++) {
    const pick = () => words[Math.floor(next() * words.length)]
    records.push({ message: `${pick()} ${pick()}${pick()} ${pick()}`, host: `${pick()}-${Math.floor(next() * 999)}.x`, source: pick(), severity: next() < 0.5 ? 'High' : 'Low', event_type: 'malware' })
  }
  let matched = 0
  let differ = 0
  for (const r of records) {
    const want = everyRule(models, r)
    const got = viaEngine(engine, r)
    matched += want.length
    if (JSON.stringify(want) !== JSON.stringify(got)) differ++
  }
  t.ok(matched > 1000, `the records match rules (${matched} matches)`)
  t.equal(differ, 0, 'no record differs')
})

t.test('the Sigma corpus: the index finds what running every rule finds', async (t) => {
  const dir = join(import.meta.dirname, 'fixtures', 'sigma')
  let checked = 0
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yml'))) {
    for (const c of parse(readFileSync(join(dir, file), 'utf8')) as { rule: string; options?: object; records?: { record: Record<string, unknown> }[]; error?: string }[]) {
      if (c.error !== undefined || !c.records) continue
      let model: CompiledModel
      try {
        model = reporting(compileModel({ id: 1, name: 'c', version: '1' }, 'sigma', c.rule, c.options ?? {}))
      } catch {
        continue
      }
      for (const r of model.rules) r.rule.logsource = {}
      const engine = new DetectionEngine([model])
      for (const { record } of c.records) {
        t.same(viaEngine(engine, record), everyRule([model], record))
        checked++
      }
    }
  }
  t.ok(checked > 400, `${checked} records checked`)
})

t.test('a required literal is in every text the expression matches', async (t) => {
  const cases: [string, string | null][] = [
    ['(?i)mimikatz\\s+-(enc|e|ec)\\s+[A-Za-z0-9+/=]{20,}', 'mimikatz'],
    ['^alpha-[0-9]{2,3}\\.', 'alpha-'],
    ['signed in from new country (KP|RU|NG)', 'signed in from new country '],
    ['a|bcd', null],
    ['abc?def', 'def'],
    ['foo\\.bar+baz', 'foo.bar'],
    ['[abc]xyzw', 'xyzw'],
    ['ab{2}cdef', 'cdef'],
    ['x(?i)HELLO', 'hello'],
    ['\\Qa.b\\E', null],
    ['[]x]yyy', 'yyy'],
    ['(a(b)c)+defg', 'defg'],
    ['ab', null]
  ]
  for (const [pattern, literal] of cases) t.equal(requiredLiteral(pattern), literal, pattern)
  // Random texts over a small alphabet: whenever RE2 matches, the literal is there.
  const next = rng(11)
  const alphabet = 'abcdefgh.-XYZ '
  const patterns = ['ab+c[de]fg', '(?i)ABC.{0,3}def', 'a(b|c)ddd?e', 'x\\.y[^z]abc', 'gh?hhh+a', '(?s)abc.*def']
  let matches = 0
  for (const p of patterns) {
    const re = RE2JS.compile(p)
    const need = requiredLiteral(p)
    for (let i = 0; i < 20000; i++) {
      let text = ''
      const n = Math.floor(next() * 16)
      for (let k = 0; k < n; k++) text += alphabet[Math.floor(next() * alphabet.length)]
      if (i % 7 === 0) text += p.replace(/[^a-z]/g, '')
      if (re.matcher(text).find()) {
        matches++
        if (need !== null && !text.toLowerCase().includes(need)) t.fail(`${p} matched ${JSON.stringify(text)} without ${need}`)
      }
    }
  }
  t.ok(matches > 100, `${matches} matches checked`)
})
