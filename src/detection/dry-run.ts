// A model's dry run (POST /api/models/{id}/test): its rules on records given in the request, as
// ingestion would run them, storing nothing. Every matching rule is reported, also the rules
// that only feed a correlation, so a rule author sees each rule at work.
import { DetectionEngine } from './engine.js'
import type { CompiledModel } from './model.js'
import { recordView } from './record.js'
import type { Detection } from './types.js'

export interface DryRunResult {
  index: number
  matched: boolean
  detections: Detection[]
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)
const messageOf = (r: Record<string, unknown>) => {
  for (const k of ['description', 'message', 'msg', 'MESSAGE']) if (typeof r[k] === 'string') return r[k] as string
  return undefined
}

export function dryRun(model: CompiledModel, records: readonly unknown[]): DryRunResult[] {
  const engine = new DetectionEngine([{ ...model, rules: model.rules.map((r) => ({ ...r, reports: true })) }])
  return records.map((record, index) => {
    if (!isMap(record)) return { index, matched: false, detections: [] }
    // As ingestion shows native records: their attributes as top-level fields.
    const seen = isMap(record.attributes) ? { ...record.attributes, ...record } : record
    const found = engine.evaluate(recordView(seen, { message: messageOf(record) }))
    const detections = found?.detections ?? []
    return { index, matched: detections.length > 0, detections }
  })
}
