// A stored model's definition compiled into what the engine runs, or refused with the reason.
// `sigma`: Sigma YAML (rules and correlation rules); `anomaly_detection`: the settings of a
// learned baseline (YAML or JSON). Nothing is accepted that the engine would not run exactly.
import { parse as parseYaml } from 'yaml'
import type { Severity } from '../db/schema.js'
import { LEVELS, type Level, type Logsource, type SigmaOptions } from './types.js'
import { parseDuration } from './sigma/document.js'
import { parseSigma, SigmaError, type SigmaCorrelation, type SigmaRule } from './sigma/index.js'
import type { Baseline } from './training.js'

import type { ModelType } from '../db/schema.js'
export type { ModelType }

/** Why a definition is refused, and where in it. */
export class DefinitionError extends Error {
  constructor(
    readonly path: string,
    message: string
  ) {
    super(message)
    this.name = 'DefinitionError'
  }
}

export interface ModelRef {
  id: number
  name: string
  version: string
}

/** Sigma level -> Vigil severity. */
export const LEVEL_SEVERITY: Record<Level, Severity> = {
  informational: 'Low',
  low: 'Low',
  medium: 'Medium',
  high: 'High',
  critical: 'Critical'
}

export interface CompiledRule {
  model: ModelRef
  rule: SigmaRule
  /** The rule's id in detections: its `id`, else its `name`, else its title. */
  ruleId: string
  /** False for a rule only a correlation reads (`generate: false`): its matches feed the correlation only. */
  reports: boolean
  /** The correlations it feeds, with its place among each one's rules. */
  feeds: { correlation: CompiledCorrelation; member: number }[]
}

export interface CompiledCorrelation {
  model: ModelRef
  correlation: SigmaCorrelation
  ruleId: string
  /** Per correlated rule (in the order written): the fields its events are grouped by. */
  groupFields: string[][]
  /** What it correlates, in the order written: rules, or correlations whose firings it reads. */
  members: (CompiledRule | CompiledCorrelation)[]
  /** Correlations that read its firings, with its place among their rules. */
  feeds: { correlation: CompiledCorrelation; member: number }[]
}

export interface AnomalySettings {
  /** The field whose values are the groups (`source` by default). */
  groupBy: string
  bucketMs: number
  historyMs: number
  /** How many standard deviations above the mean make a bucket anomalous. */
  threshold: number
  /** Fewer events in a bucket than this never alert, whatever the baseline. */
  minCount: number
  level: Level
  title: string
  logsource: Logsource
}

export interface CompiledModel {
  ref: ModelRef
  type: ModelType
  rules: CompiledRule[]
  correlations: CompiledCorrelation[]
  anomaly: AnomalySettings | null
  /** A learned baseline, once trained (src/detection/training.ts). */
  baseline: Baseline | null
}

const ruleKey = (r: { id: string | null; name: string | null; title: string }) => r.id ?? r.name ?? r.title

/** Correlations that cannot be decided at the event that completes them are refused. */
function checkBounds(c: SigmaCorrelation) {
  const b = c.bounds
  if (c.type !== 'event_count' && c.type !== 'value_count') return
  if (b.gt === undefined && b.gte === undefined && b.eq === undefined) {
    throw new SigmaError(`${c.path ? `${c.path}.` : ''}correlation.condition`, 'a condition with only an upper bound (lt, lte) cannot fire while events arrive: add gt, gte or eq')
  }
  const low = b.eq ?? (b.gte ?? (b.gt! + 1))
  if (low > 10_000) throw new SigmaError(`${c.path ? `${c.path}.` : ''}correlation.condition`, 'a threshold above 10000 events is not supported')
}

function compileSigma(ref: ModelRef, definition: string, options: SigmaOptions): CompiledModel {
  const docs = parseSigma(definition, options)
  const rules: CompiledRule[] = []
  const byRef = new Map<string, CompiledRule>()
  for (const d of docs) {
    if (d.kind !== 'rule') continue
    const compiled: CompiledRule = { model: ref, rule: d, ruleId: ruleKey(d), reports: true, feeds: [] }
    rules.push(compiled)
    for (const k of [d.id, d.name]) if (k) byRef.set(k, compiled)
  }
  const correlations: CompiledCorrelation[] = []
  const corrByRef = new Map<string, CompiledCorrelation>()
  for (const d of docs) {
    if (d.kind !== 'correlation') continue
    checkBounds(d)
    const corr: CompiledCorrelation = { model: ref, correlation: d, ruleId: ruleKey(d), groupFields: [], feeds: [], members: [] }
    correlations.push(corr)
    for (const k of [d.id, d.name]) if (k) corrByRef.set(k, corr)
  }
  for (const corr of correlations) {
    const d = corr.correlation
    const at = `${d.path ? `${d.path}.` : ''}correlation`
    d.rules.forEach((name, member) => {
      const target = byRef.get(name)
      const inner = corrByRef.get(name)
      corr.groupFields.push(d.groupBy.map((g) => d.aliases[g]?.[name] ?? g))
      if (target) {
        if (!d.generate) target.reports = target.feeds.length > 0 ? target.reports : false
        else target.reports = true
        target.feeds.push({ correlation: corr, member })
        corr.members.push(target)
      } else if (inner) {
        // A correlation of a correlation: the inner one's firing is the outer one's event, so the
        // outer groups by fields the inner one grouped by.
        if (d.type === 'value_count') throw new SigmaError(`${at}.rules`, `value_count cannot count the values of a correlation ('${name}')`)
        const fields = corr.groupFields[member]
        const missing = fields.filter((f) => !inner.correlation.groupBy.includes(f))
        if (missing.length) throw new SigmaError(`${at}.group-by`, `'${name}' does not group by ${missing.join(', ')}, so its firings have no such field`)
        inner.feeds.push({ correlation: corr, member })
        corr.members.push(inner)
      } else {
        throw new SigmaError(`${at}.rules`, `'${name}' names no rule or correlation in this definition (by name or id)`)
      }
    })
    for (const [alias, map] of Object.entries(d.aliases)) {
      for (const name of Object.keys(map)) {
        if (!d.rules.includes(name)) throw new SigmaError(`${at}.aliases.${alias}`, `'${name}' is not one of the correlated rules`)
      }
    }
    if ((d.type === 'temporal' || d.type === 'temporal_ordered') && new Set(d.rules).size < 2) {
      throw new SigmaError(`${at}.rules`, `${d.type} needs at least two different rules`)
    }
  }
  // Correlations of correlations must not loop.
  const visiting = new Set<CompiledCorrelation>()
  const done = new Set<CompiledCorrelation>()
  const visit = (c: CompiledCorrelation) => {
    if (done.has(c)) return
    if (visiting.has(c)) throw new SigmaError(`${c.correlation.path ? `${c.correlation.path}.` : ''}correlation.rules`, `'${c.ruleId}' correlates itself through other correlations`)
    visiting.add(c)
    for (const f of c.feeds) visit(f.correlation)
    visiting.delete(c)
    done.add(c)
  }
  correlations.forEach(visit)
  return { ref, type: 'sigma', rules, correlations, anomaly: null, baseline: null }
}


function duration(v: unknown, path: string, fallback: string, min: number, max: number): number {
  const ms = typeof v === 'string' || v === undefined ? parseDuration(v ?? fallback) : null
  if (ms === null) throw new DefinitionError(path, 'a duration is a number and a unit (s, m, h, d, w), like 5m')
  if (ms < min || ms > max) throw new DefinitionError(path, `must be between ${min / 1000}s and ${max / 86_400_000}d`)
  return ms
}

const ANOMALY_KEYS = ['group_by', 'bucket', 'history', 'threshold', 'min_count', 'level', 'title', 'logsource']

/** The settings of a learned baseline: YAML or JSON, every key optional. */
export function compileAnomaly(definition: string): AnomalySettings {
  let v: unknown
  try {
    v = definition.trim() === '' ? {} : parseYaml(definition, { uniqueKeys: true })
  } catch (err) {
    throw new DefinitionError('definition', `not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`)
  }
  v ??= {}
  if (typeof v !== 'object' || Array.isArray(v)) throw new DefinitionError('definition', 'the settings are a map')
  const s = v as Record<string, unknown>
  for (const k of Object.keys(s)) {
    if (!ANOMALY_KEYS.includes(k)) throw new DefinitionError(k, `unknown setting (known: ${ANOMALY_KEYS.join(', ')})`)
  }
  const groupBy = s.group_by ?? 'source'
  if (typeof groupBy !== 'string' || groupBy === '') throw new DefinitionError('group_by', 'a field name')
  const bucketMs = duration(s.bucket, 'bucket', '1h', 60_000, 86_400_000)
  const historyMs = duration(s.history, 'history', '7d', bucketMs * 3, 90 * 86_400_000)
  const threshold = s.threshold ?? 3
  if (typeof threshold !== 'number' || !(threshold > 0) || threshold > 100) throw new DefinitionError('threshold', 'standard deviations: a number above 0, at most 100')
  const minCount = s.min_count ?? 10
  if (typeof minCount !== 'number' || !Number.isInteger(minCount) || minCount < 1) throw new DefinitionError('min_count', 'a whole number of at least 1')
  const level = s.level ?? 'high'
  if (typeof level !== 'string' || !(LEVELS as readonly string[]).includes(level)) throw new DefinitionError('level', `one of ${LEVELS.join(', ')}`)
  const title = s.title ?? `Unusual event rate per ${groupBy}`
  if (typeof title !== 'string' || title.length > 200) throw new DefinitionError('title', 'a string of at most 200 characters')
  const logsource: Logsource = {}
  if (s.logsource !== undefined) {
    const ls = s.logsource
    if (ls === null || typeof ls !== 'object' || Array.isArray(ls)) throw new DefinitionError('logsource', 'a map of category, product, service')
    for (const [k, x] of Object.entries(ls)) {
      if (!['category', 'product', 'service'].includes(k) || typeof x !== 'string') throw new DefinitionError(`logsource.${k}`, 'category, product or service, as text')
      logsource[k as keyof Logsource] = x
    }
  }
  return { groupBy, bucketMs, historyMs, threshold, minCount, level: level as Level, title, logsource }
}

/** Compile a stored model; throws DefinitionError naming the problem and where. */
export function compileModel(ref: ModelRef, type: ModelType, definition: string, options: SigmaOptions, baseline: Baseline | null = null): CompiledModel {
  try {
    if (type === 'sigma') return compileSigma(ref, definition, options)
    return { ref, type, rules: [], correlations: [], anomaly: compileAnomaly(definition), baseline }
  } catch (err) {
    if (err instanceof SigmaError) throw new DefinitionError(err.path || 'definition', err.message)
    throw err
  }
}

/** Whether a definition would be accepted, for the API: throws DefinitionError when not. */
export function checkDefinition(type: ModelType, definition: string, options: SigmaOptions): void {
  compileModel({ id: 0, name: '', version: '' }, type, definition, options)
}
