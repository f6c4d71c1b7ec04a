// The shapes shared by the Sigma compiler (src/detection/sigma), the record view that rules read
// (src/detection/record.ts) and the engine that runs models on ingested events.

/** A Sigma logsource: which records a rule is written for. */
export interface Logsource {
  category?: string
  product?: string
  service?: string
}

/**
 * What a rule sees of one record. `get` resolves a Sigma field name (flat key first, then the
 * dotted path through nested objects, then the documented mappings); `undefined` means the field
 * is absent. `keywords` are the texts keyword searches match (the message first).
 */
export interface FieldSource {
  get(name: string): unknown
  keywords(): readonly string[]
  readonly logsource: Logsource
}

export type Level = 'informational' | 'low' | 'medium' | 'high' | 'critical'
export const LEVELS: readonly Level[] = ['informational', 'low', 'medium', 'high', 'critical']

/** A compiled search or condition: true when the record matches. */
export type Matcher = (record: FieldSource) => boolean

/** Values a rule's `expand` modifier may name (`%name%`), from DETECTION_PLACEHOLDERS. */
export interface SigmaOptions {
  placeholders?: Readonly<Record<string, readonly string[]>>
}

/** One detection recorded on an event and its alert. */
export interface Detection {
  model_id: number
  model_name: string
  version: string
  rule_id: string | null
  title: string
  level: Level
  /** Correlation and baseline detections: how many events made it fire, and which. */
  count?: number
  event_ids?: number[]
  group?: Record<string, unknown>
  score?: number
  observed?: number
  baseline?: { mean: number; stddev: number }
}

/** A YAML or JSON map (not a list, not null): what Sigma documents, searches and records are. */
export const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)
