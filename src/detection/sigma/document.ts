// Sigma documents: YAML text holding one rule or several (`---`), correlation rules included.
// Everything a document says is checked here; a rule Vigil cannot run exactly is refused with
// the place and the reason, never stored to be ignored.
import { parseAllDocuments } from 'yaml'
import { isMap, LEVELS, type Level, type Logsource, type Matcher, type SigmaOptions } from '../types.js'
import { compileCondition, parseCondition } from './condition.js'
import { SigmaError } from './problem.js'
import { conditionNeeds, searchNeeds, union, type Necessity } from './necessity.js'
import { compileSearch } from './search.js'

interface Meta {
  /** Where the document starts, for errors: `[2]` in a multi-document text, '' for one. */
  path: string
  title: string
  id: string | null
  name: string | null
  level: Level
  tags: string[]
}

export interface SigmaRule extends Meta {
  kind: 'rule'
  logsource: Logsource
  match: Matcher
  /** Literals one of which a matching record holds (src/detection/sigma/necessity.ts), or null. */
  needs: Necessity
}

export const CORRELATION_TYPES = ['event_count', 'value_count', 'temporal', 'temporal_ordered'] as const
export type CorrelationType = (typeof CORRELATION_TYPES)[number]

export interface Bounds {
  gt?: number
  gte?: number
  lt?: number
  lte?: number
  eq?: number
}

export interface SigmaCorrelation extends Meta {
  kind: 'correlation'
  type: CorrelationType
  /** The rules it correlates, by their `name` or `id`, as written. */
  rules: string[]
  groupBy: string[]
  timespanMs: number
  /** event_count and value_count only. */
  bounds: Bounds
  /** value_count: the field whose distinct values are counted. */
  field: string | null
  /** alias -> rule reference -> that rule's field: one group-by name for differently named fields. */
  aliases: Record<string, Record<string, string>>
  generate: boolean
}

export type SigmaDocument = SigmaRule | SigmaCorrelation

/** Bounds of one definition, so that a model stays a size the engine runs at ingestion speed. */
export const MAX_DOCUMENTS = 1_000
export const MAX_TIMESPAN_MS = 7 * 24 * 3600_000

const at = (base: string, key: string) => (base ? `${base}.${key}` : key)

function str(doc: Record<string, unknown>, key: string, path: string, required = false): string | null {
  const v = doc[key]
  if (v === undefined || v === null) {
    if (required) throw new SigmaError(at(path, key), `${key} is required`)
    return null
  }
  if (typeof v !== 'string' && typeof v !== 'number') throw new SigmaError(at(path, key), `${key} must be a string`)
  return String(v)
}

function meta(doc: Record<string, unknown>, path: string): Meta {
  if ('action' in doc) throw new SigmaError(at(path, 'action'), 'action collections (global, reset, repeat) are not supported: write each rule in full')
  const title = str(doc, 'title', path, true)!
  const level = (str(doc, 'level', path) ?? 'medium').toLowerCase()
  if (!(LEVELS as readonly string[]).includes(level)) {
    throw new SigmaError(at(path, 'level'), `level must be one of ${LEVELS.join(', ')}`)
  }
  const tags = doc.tags ?? []
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')) throw new SigmaError(at(path, 'tags'), 'tags must be a list of strings')
  const taxonomy = str(doc, 'taxonomy', path)
  if (taxonomy !== null && taxonomy !== 'sigma') throw new SigmaError(at(path, 'taxonomy'), `taxonomy '${taxonomy}' is not supported (only sigma)`)
  return { path, title, id: str(doc, 'id', path), name: str(doc, 'name', path), level: level as Level, tags: tags as string[] }
}

function logsourceOf(doc: Record<string, unknown>, path: string): Logsource {
  const ls = doc.logsource
  if (!isMap(ls)) throw new SigmaError(at(path, 'logsource'), 'logsource is required (a map of category, product, service)')
  const out: Logsource = {}
  for (const key of ['category', 'product', 'service'] as const) {
    const v = ls[key]
    if (v === undefined || v === null) continue
    if (typeof v !== 'string') throw new SigmaError(at(path, `logsource.${key}`), `${key} must be a string`)
    out[key] = v
  }
  return out
}

function rule(doc: Record<string, unknown>, path: string, options: SigmaOptions): SigmaRule {
  const m = meta(doc, path)
  const logsource = logsourceOf(doc, path)
  const detection = doc.detection
  const dpath = at(path, 'detection')
  if (!isMap(detection)) throw new SigmaError(dpath, 'detection is required (a map of searches and a condition)')
  if ('timeframe' in detection) {
    throw new SigmaError(at(dpath, 'timeframe'), 'timeframe is deprecated: write a correlation rule with a timespan')
  }
  const names = Object.keys(detection).filter((k) => k !== 'condition')
  if (names.length === 0) throw new SigmaError(dpath, 'detection has no search')
  const searches = new Map<string, Matcher>()
  for (const name of names) searches.set(name, compileSearch(name, detection[name], at(dpath, name), options))
  const raw = detection.condition
  const cpath = at(dpath, 'condition')
  const texts = typeof raw === 'string' ? [raw] : Array.isArray(raw) && raw.length > 0 && raw.every((c) => typeof c === 'string') ? (raw as string[]) : null
  if (!texts) throw new SigmaError(cpath, 'condition is required (a string, or a list of strings)')
  const conditions = texts.map((text, i) => parseCondition(text, names, texts.length > 1 ? `${cpath}[${i}]` : cpath))
  const matchers = conditions.map((c) => compileCondition(c, searches))
  // A condition list matches when any of its conditions does.
  const match: Matcher = matchers.length === 1 ? matchers[0] : (r) => matchers.some((x) => x(r))
  const searchNeeded = new Map(names.map((n) => [n, searchNeeds(detection[n])]))
  const needs = union(conditions.map((c) => conditionNeeds(c, searchNeeded)))
  return { ...m, kind: 'rule', logsource, match, needs }
}

const DURATION = /^(\d{1,6})([smhdw])$/
const UNIT_MS = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000, w: 7 * 86_400_000 }

/** A Sigma duration (`5m`: a number and one of s, m, h, d, w) in milliseconds, or null. */
export function parseDuration(text: string): number | null {
  const m = DURATION.exec(text.trim())
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : null
}

function correlation(doc: Record<string, unknown>, path: string): SigmaCorrelation {
  const m = meta(doc, path)
  const c = doc.correlation
  const cpath = at(path, 'correlation')
  if (!isMap(c)) throw new SigmaError(cpath, 'correlation must be a map')
  const type = c.type
  if (typeof type !== 'string' || !(CORRELATION_TYPES as readonly string[]).includes(type)) {
    throw new SigmaError(at(cpath, 'type'), `type must be one of ${CORRELATION_TYPES.join(', ')}`)
  }
  const rules = typeof c.rules === 'string' ? [c.rules] : c.rules
  if (!Array.isArray(rules) || rules.length === 0 || rules.some((r) => typeof r !== 'string')) {
    throw new SigmaError(at(cpath, 'rules'), 'rules must name the rules it correlates')
  }
  const groupByRaw = c['group-by'] ?? []
  const groupBy = typeof groupByRaw === 'string' ? [groupByRaw] : groupByRaw
  if (!Array.isArray(groupBy) || groupBy.some((g) => typeof g !== 'string')) {
    throw new SigmaError(at(cpath, 'group-by'), 'group-by must be a list of field names')
  }
  const timespanMs = typeof c.timespan === 'string' ? parseDuration(c.timespan) : null
  if (timespanMs === null) throw new SigmaError(at(cpath, 'timespan'), 'timespan must be a number and a unit (s, m, h, d, w), like 5m')
  if (timespanMs <= 0 || timespanMs > MAX_TIMESPAN_MS) throw new SigmaError(at(cpath, 'timespan'), 'timespan must be between 1s and 1w')

  const aliases: Record<string, Record<string, string>> = {}
  if (c.aliases !== undefined) {
    if (!isMap(c.aliases)) throw new SigmaError(at(cpath, 'aliases'), 'aliases must map an alias to rule: field')
    for (const [alias, map] of Object.entries(c.aliases)) {
      if (!isMap(map) || Object.values(map).some((f) => typeof f !== 'string')) {
        throw new SigmaError(at(cpath, `aliases.${alias}`), 'an alias maps each rule to its field name')
      }
      aliases[alias] = map as Record<string, string>
    }
  }
  const generate = c.generate ?? false
  if (typeof generate !== 'boolean') throw new SigmaError(at(cpath, 'generate'), 'generate must be true or false')

  const bounds: Bounds = {}
  let field: string | null = null
  const condPath = at(cpath, 'condition')
  if (type === 'event_count' || type === 'value_count') {
    if (!isMap(c.condition)) throw new SigmaError(condPath, 'condition is required (gt, gte, lt, lte, eq)')
    for (const [k, v] of Object.entries(c.condition)) {
      if (k === 'field') continue
      if (!['gt', 'gte', 'lt', 'lte', 'eq'].includes(k)) throw new SigmaError(at(condPath, k), `unknown condition '${k}' (gt, gte, lt, lte, eq)`)
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new SigmaError(at(condPath, k), `condition ${k} must be a whole number`)
      bounds[k as keyof Bounds] = v
    }
    if (Object.keys(bounds).length === 0) throw new SigmaError(condPath, 'condition needs gt, gte, lt, lte or eq')
    const f = c.condition.field ?? c.field
    if (type === 'value_count') {
      if (typeof f !== 'string' || f === '') throw new SigmaError(at(condPath, 'field'), 'value_count needs the field whose values it counts')
      field = f
    }
  }
  return { ...m, kind: 'correlation', type: type as CorrelationType, rules: rules as string[], groupBy: groupBy as string[], timespanMs, bounds, field, aliases, generate }
}

/** Parse Sigma YAML (one or more documents) into compiled rules and correlations. */
export function parseSigma(text: string, options: SigmaOptions = {}): SigmaDocument[] {
  const docs = parseAllDocuments(text, { uniqueKeys: true })
  const list = Array.isArray(docs) ? docs : [docs]
  const out: SigmaDocument[] = []
  const many = list.length > 1
  if (list.length > MAX_DOCUMENTS) throw new SigmaError('', `more than ${MAX_DOCUMENTS} documents`)
  list.forEach((d, i) => {
    const path = many ? `[${i}]` : ''
    const problem = d.errors[0]
    if (problem) {
      const [line, col] = problem.linePos?.[0] ? [problem.linePos[0].line, problem.linePos[0].col] : [0, 0]
      throw new SigmaError(path || 'yaml', `not valid YAML${line ? ` (line ${line}, column ${col})` : ''}: ${problem.message.split('\n')[0]}`)
    }
    let value: unknown
    try {
      value = d.toJS({ maxAliasCount: 100 })
    } catch (err) {
      throw new SigmaError(path || 'yaml', `not valid YAML: ${(err as Error).message}`)
    }
    if (value === null && many) return // an empty document between separators
    if (!isMap(value)) throw new SigmaError(path || 'yaml', 'a Sigma document is a map')
    if ('correlation' in value) out.push(correlation(value, path))
    else out.push(rule(value, path, options))
  })
  if (out.length === 0) throw new SigmaError('yaml', 'the definition holds no Sigma rule')
  return out
}
