// Screening an event before it is stored, for its alert: whether a suppression holds it back
// (src/services/suppressions.ts), and which fingerprint its repeats share when its alert is
// grouped. The ingest statement acts on both (ingestAlertStep in src/services/alerts.ts).
//
// Grouping is off unless ALERT_GROUPING is on, or a detection model that matched the event turns
// it on for its alerts (models.group_alerts); a model can also turn it off for its own, and name
// its own fields (models.group_by). The fields of a fingerprint are `source`, `event_type`,
// `severity`, `rule` (the ids of the rules that matched, when there are any) and any field of the
// record by its dotted path (`source.ip`, `user.name`), read through the record view the rules
// read (src/detection/record.ts). Only events the policy alerts on get a fingerprint.
import { createHash } from 'node:crypto'
import type { EventType, Severity } from '../db/schema.js'
import type { Detection } from '../detection/types.js'
import { raisesAlert } from './alerts.js'
import type { EventRow } from '../ingest/map.js'
import type { RowOutcome } from '../ingest/insert.js'
import type { SuppressionSet } from './suppressions.js'


/** How one model groups its alerts: null follows the configuration. */
export interface ModelGrouping {
  enabled: boolean | null
  fields: readonly string[] | null
}

export interface GroupingConfig {
  enabled: boolean
  fields: readonly string[]
}

/** The event as it will be stored, and its record's fields. */
export interface ScreenSubject {
  source: string
  eventType: EventType
  severity: Severity
  detections: readonly Detection[]
  field: (path: string) => unknown
}

export interface Screened {
  suppressionId: number | null
  fingerprint: string | null
}

const NOTHING: Screened = { suppressionId: null, fingerprint: null }

/** One field's value for a fingerprint: text, or null when the event has none. */
function valueOf(s: ScreenSubject, field: string): string | null {
  switch (field) {
    case 'source':
      return s.source
    case 'event_type':
      return s.eventType
    case 'severity':
      return s.severity
    case 'rule': {
      const ids = [...new Set(s.detections.map((d) => d.rule_id).filter((r): r is string => r !== null))].sort()
      return ids.length ? ids.join(',') : null
    }
    default: {
      const v = s.field(field)
      if (v === undefined || v === null) return null
      return typeof v === 'string' ? v : JSON.stringify(v)
    }
  }
}

/** The fingerprint of an event for these fields: the fields and their values, hashed (64 hex characters). */
export function fingerprintOf(s: ScreenSubject, fields: readonly string[]): string {
  const parts = fields.map((f) => [f, valueOf(s, f)])
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex')
}

/**
 * What ingestion asks of every event before storing it. `active` is false when nothing could
 * apply (grouping off everywhere, no suppression): then ingestion does not even build a subject.
 */
export class AlertScreen {
  constructor(
    private readonly config: GroupingConfig,
    private readonly suppressions: SuppressionSet | null,
    /** The detection models' own grouping settings, by model id. */
    private readonly models: () => ReadonlyMap<number, ModelGrouping>
  ) {}

  get active(): boolean {
    return this.config.enabled || (this.suppressions?.active ?? false) || this.models().size > 0
  }

  /** The fields to group this event's alert by, or null when it is not grouped. */
  private groupingOf(detections: readonly Detection[]): readonly string[] | null {
    const models = this.models()
    // The first matching model that says anything decides; otherwise the configuration.
    for (const d of detections) {
      const m = models.get(d.model_id)
      if (!m) continue
      if (m.enabled === false) return null
      if (m.enabled === true || m.fields) return m.enabled === null && !this.config.enabled ? null : (m.fields ?? this.config.fields)
    }
    return this.config.enabled ? this.config.fields : null
  }

  /** After a chunk committed: the suppressions' hits, counted for the events actually stored. */
  settle(rows: readonly EventRow[], outcomes: readonly RowOutcome[]): void {
    let raised = false
    rows.forEach((row, i) => {
      const o = outcomes[i]
      if (o === null || o === undefined || 'refused' in o) return
      if (row.suppressionId != null) this.suppressions?.hit(row.suppressionId)
      else if (raisesAlert(row.severity)) raised = true
    })
    if (raised) this.announce()
  }

  /**
   * Called after a committed chunk raised or folded alerts (the ingest statement wrote their
   * history): plugins/alert-screen.ts announces it to live delivery on every instance.
   */
  announce: () => void = () => {}

  screen(s: ScreenSubject): Screened {
    const ruleIds = s.detections.flatMap((d) => (d.rule_id ? [d.rule_id] : []))
    const suppressionId = this.suppressions?.active
      ? this.suppressions.match({ source: s.source, eventType: s.eventType, severity: s.severity, ruleIds, field: (path) => s.field(path) })
      : null
    if (suppressionId !== null) return { suppressionId, fingerprint: null }
    if (!raisesAlert(s.severity)) return NOTHING
    const fields = this.groupingOf(s.detections)
    return { suppressionId: null, fingerprint: fields ? fingerprintOf(s, fields) : null }
  }
}
