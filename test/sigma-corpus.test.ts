// The Sigma corpus (test/fixtures/sigma/*.yml): rules in SigmaHQ's style, each with records that
// must and must not match, refusals with their reason and place, and correlations over events in
// time order with the events at which they must fire. Every rule runs through the same compiler
// and engine as ingestion (src/detection), records through the record view rules read.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { DetectionEngine } from '../src/detection/engine.js'
import { compileModel, DefinitionError } from '../src/detection/model.js'
import { recordView } from '../src/detection/record.js'
import { scan, type Firing } from '../src/detection/state.js'
import type { SigmaOptions } from '../src/detection/types.js'

interface Case {
  name: string
  rule: string
  options?: SigmaOptions
  note?: string
  records?: { match: boolean; record: Record<string, unknown> }[]
  error?: string
  path?: string
  events?: { at: string; record: Record<string, unknown> }[]
  fires?: number[]
  refused_condition?: boolean
}

const DIR = join(import.meta.dirname, 'fixtures', 'sigma')
const ref = { id: 1, name: 'corpus', version: '1' }
const view = (record: Record<string, unknown>) =>
  recordView(record, { message: typeof record.message === 'string' ? record.message : undefined })

/** The corpus is about matching, not routing: its records carry no logsource, so every rule applies to them. */
function compile(c: Case) {
  const model = compileModel(ref, 'sigma', c.rule, c.options ?? {})
  for (const r of model.rules) r.rule.logsource = {}
  return model
}

/** Runs a correlation case in memory: the engine's hits per group, scanned at each event as ingestion does. */
function firesOf(c: Case): number[] {
  const model = compile(c)
  const engine = new DetectionEngine([model])
  const groups = new Map<string, { at: number; member: number; value: string | null; eventId: number; source: string }[]>()
  const marks = new Map<string, { firedAt: number; firedUntil: number }>()
  const fired: number[] = []
  c.events!.forEach((e, i) => {
    const at = Date.parse(e.at)
    const found = engine.evaluate(view(e.record))
    for (const h of found?.hits ?? []) {
      const key = `${h.correlation.ruleId}\u0000${h.group}`
      const list = groups.get(key) ?? []
      list.push({ at, member: h.member, value: h.value, eventId: i, source: 's' })
      list.sort((a, b) => a.at - b.at)
      groups.set(key, list)
      const firings: Firing[] = scan(h.correlation, list, at, marks.get(key) ?? null)
      for (const f of firings) {
        marks.set(key, { firedAt: f.at.getTime(), firedUntil: f.at.getTime() + h.correlation.correlation.timespanMs })
        if (!fired.includes(i)) fired.push(i)
      }
    }
  })
  return fired
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.yml')).sort()
t.ok(files.length >= 5, 'the corpus has its files')

for (const file of files) {
  const cases = parse(readFileSync(join(DIR, file), 'utf8')) as Case[]
  t.test(file, async (t) => {
    for (const c of cases) {
      if (c.error !== undefined || c.refused_condition) {
        t.test(c.name, async (t) => {
          const err = t.throws(() => compile(c)) as unknown as DefinitionError
          t.type(err, DefinitionError, 'refused as a definition error')
          if (c.error) t.match(err.message.toLowerCase(), c.error.toLowerCase(), 'with the reason')
          if (c.path) t.ok(err.path.startsWith(c.path), `at ${c.path} (got ${err.path})`)
        })
      } else if (c.events) {
        t.test(c.name, async (t) => {
          t.same(firesOf(c), c.fires ?? [], 'fires at exactly these events')
        })
      } else {
        t.test(c.name, async (t) => {
          const engine = new DetectionEngine([compile(c)])
          for (const [i, r] of (c.records ?? []).entries()) {
            const found = engine.evaluate(view(r.record))
            t.equal((found?.detections.length ?? 0) > 0, r.match, `record ${i} ${r.match ? 'matches' : 'does not match'}: ${JSON.stringify(r.record).slice(0, 120)}`)
          }
        })
      }
    }
  })
}
