// A model's dry run (POST /api/models/{id}/test): its rules on records given in the request, as
// ingestion would run them, storing nothing. Every matching rule is reported, also the rules
// that only feed a correlation, so a rule author sees each rule at work.
import { DetectionEngine } from './engine.js'
import type { CompiledModel } from './model.js'
import { recordView } from './record.js'
import { isMap, type Detection } from './types.js'

export interface DryRunResult {
  index: number
  matched: boolean
  detections: Detection[]
}


export function dryRun(model: CompiledModel, records: readonly unknown[]): DryRunResult[] {
  const engine = new DetectionEngine([{ ...model, rules: model.rules.map((r) => ({ ...r, reports: true })) }])
  return records.map((record, index) => {
    if (!isMap(record)) return { index, matched: false, detections: [] }
    // As ingestion shows native records: their attributes as top-level fields.
    const seen = isMap(record.attributes) ? { ...record.attributes, ...record } : record
    // The view finds the message itself (MESSAGE_KEYS, description included).
    const found = engine.evaluate(recordView(seen))
    const detections = found?.detections ?? []
    return { index, matched: detections.length > 0, detections }
  })
}
