// The engine: every active, ready model compiled once, and run on each record before it is
// stored. A record is tried only against the rules whose needed literals it holds (one pass per
// field over all rules, src/detection/literals.ts) and whose logsource applies to it. What a
// record's matches mean for its event (severity, type, detections) is decided here; correlation
// and baseline state live in the database (src/detection/state.ts).
import type { EventType, Severity } from '../db/schema.js'
import { SEVERITIES } from '../db/schema.js'
import { logsourceApplies } from './record.js'
import { LEVEL_SEVERITY, type CompiledCorrelation, type CompiledModel, type CompiledRule } from './model.js'
import { RuleIndex } from './literals.js'
import { LEVELS, type Detection, type FieldSource, type Level } from './types.js'

/** A matched rule's contribution to a correlation: which correlation, which of its rules, which group. */
export interface Hit {
  correlation: CompiledCorrelation
  member: number
  /** The group-by values as JSON text (the group's identity). */
  group: string
  /** value_count: the counted field's value. */
  value: string | null
}

/** An event counted for a learned baseline: its group, or null for an event column read later. */
export interface Counted {
  model: CompiledModel
  group: string | null
}

/** Event columns a baseline may group by; read from the stored row, not the record. */
export const COLUMN_GROUPS = new Set(['source', 'event_type', 'severity'])

/** What the models found in one record. */
export interface Found {
  /** The highest level among the reporting matches, as a severity. */
  severity: Severity | null
  /** From the tags of the highest-level match, when they name a type. */
  eventType: EventType | null
  detections: Detection[]
  hits: Hit[]
  /** Models that matched, for their counters. */
  models: Set<number>
  /** Learned baselines that count this record. */
  counted: Counted[]
}

const MALWARE_TAG = /^(malware|attack\.s\d{4}|attack\.t1486|attack\.t1204(\.\d+)?)$/
/**
 * The documented mapping from a rule's tags to Vigil's event types: malware tags (malware,
 * ATT&CK software ids, ransomware and malicious-file techniques) -> malware; any other ATT&CK tag
 * -> intrusion; `anomaly` -> anomaly; nothing else names a type.
 */
export function eventTypeOf(tags: readonly string[]): EventType | null {
  const lower = tags.map((t) => t.toLowerCase())
  if (lower.some((t) => MALWARE_TAG.test(t))) return 'malware'
  if (lower.some((t) => t.startsWith('attack.'))) return 'intrusion'
  if (lower.includes('anomaly')) return 'anomaly'
  return null
}

export const detectionOf = (r: { model: CompiledRule['model'] }, ruleId: string | null, title: string, level: Level): Detection => ({
  model_id: r.model.id,
  model_name: r.model.name,
  version: r.model.version,
  rule_id: ruleId,
  title,
  level
})

const levelRank = (l: Level) => LEVELS.indexOf(l)

const noneFound = (): Found => ({ severity: null, eventType: null, detections: [], hits: [], models: new Set(), counted: [] })

export class DetectionEngine {
  /** Every rule of every model, in order, with the index of what each needs. */
  private readonly rules: CompiledRule[]
  private readonly index: RuleIndex
  /** Per rule: whether its logsource names anything. */
  private readonly routed: boolean[]
  private readonly baselines: CompiledModel[]
  readonly models: readonly CompiledModel[]
  readonly byId: ReadonlyMap<number, CompiledModel>

  constructor(models: readonly CompiledModel[]) {
    this.models = models
    this.byId = new Map(models.map((m) => [m.ref.id, m]))
    this.baselines = models.filter((m) => m.anomaly && m.baseline)
    this.rules = models.flatMap((m) => m.rules)
    this.routed = this.rules.map((r) => Object.values(r.rule.logsource).some((v) => v))
    this.index = new RuleIndex(this.rules.map((r) => r.rule.needs))
  }

  get size() {
    return this.models.length
  }

  /** Runs every applicable rule on one record; null when nothing matched. */
  evaluate(record: FieldSource): Found | null {
    let found: Found | null = null
    let top = -1
    this.index.mark(record)
    for (let i = 0; i < this.rules.length; i++) {
      if (!this.index.may(i)) continue
      const r = this.rules[i]
      // A rule that names no logsource applies to every record: its own is not even derived.
      if ((this.routed[i] && !logsourceApplies(r.rule.logsource, record.logsource)) || !r.rule.match(record)) continue
      found ??= noneFound()
      found.models.add(r.model.id)
      if (r.reports) {
        found.detections.push(detectionOf(r, r.ruleId, r.rule.title, r.rule.level))
        const rank = levelRank(r.rule.level)
        if (rank > top) {
          top = rank
          found.severity = LEVEL_SEVERITY[r.rule.level]
          found.eventType = eventTypeOf(r.rule.tags) ?? found.eventType
        } else found.eventType ??= eventTypeOf(r.rule.tags)
      }
      for (const { correlation, member } of r.feeds) {
        const hit = hitOf(correlation, member, record)
        if (hit) found.hits.push(hit)
      }
    }
    for (const m of this.baselines) {
      const a = m.anomaly!
      if (!logsourceApplies(a.logsource, record.logsource)) continue
      let group: string | null = null
      if (!COLUMN_GROUPS.has(a.groupBy)) {
        group = scalarText(record.get(a.groupBy))
        if (group === null) continue
      }
      found ??= noneFound()
      found.counted.push({ model: m, group })
    }
    return found
  }
}

const scalarText = (v: unknown): string | null =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : null

/** The record's group for a correlation; none when a group-by field is absent (it cannot be grouped). */
function hitOf(c: CompiledCorrelation, member: number, record: FieldSource): Hit | null {
  const values: string[] = []
  for (const field of c.groupFields[member]) {
    const v = scalarText(record.get(field))
    if (v === null) return null
    values.push(v)
  }
  let value: string | null = null
  if (c.correlation.type === 'value_count') {
    value = scalarText(record.get(c.correlation.field!))
    if (value === null) return null
  }
  return { correlation: c, member, group: JSON.stringify(values), value }
}

/** The higher of two severities. */
export const maxSeverity = (a: Severity, b: Severity | null): Severity =>
  b !== null && SEVERITIES.indexOf(b) > SEVERITIES.indexOf(a) ? b : a
