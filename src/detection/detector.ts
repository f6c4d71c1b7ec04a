// The running detection: the engine compiled from the active, ready models, replaced whenever a
// model changes (any instance's change, announced on vigil_models), and what follows a chunk's
// commit: the models' match counters and the decisions of the correlation groups it touched.
import { and, eq, sql } from 'drizzle-orm'
import type { Db } from '../db/index.js'
import { textArray } from '../db/queries.js'
import { models } from '../db/schema.js'
import type { RowOutcome } from '../ingest/insert.js'
import type { EventRow, Screen } from '../ingest/map.js'
import type { ModelGrouping } from '../services/grouping.js'
import { DetectionEngine, type Found } from './engine.js'
import { compileModel, DefinitionError, type CompiledModel, type ModelType } from './model.js'
import { countBuckets, type Count } from './anomaly.js'
import { decide, undecided, type Pending } from './state.js'
import type { Baseline } from './training.js'
import type { FieldSource, SigmaOptions } from './types.js'

export interface DetectorLog {
  warn(obj: object, msg: string): void
}

/** Told of each model's detections as they are counted (the metrics). */
export type OnDetected = (model: { id: number; name: string }, n: number) => void

export class Detector {
  private engine = new DetectionEngine([])
  private grouping = new Map<number, ModelGrouping>()
  private counts = new Map<number, { n: number; at: Date }>()
  private loading: Promise<void> | null = null
  private again = false

  constructor(
    private readonly db: Db,
    /** The `expand` placeholders every definition is compiled with (DETECTION_PLACEHOLDERS). */
    readonly options: SigmaOptions,
    private readonly log: DetectorLog,
    private readonly onDetected: OnDetected = () => {}
  ) {}

  get models(): readonly CompiledModel[] {
    return this.engine.models
  }

  get active(): boolean {
    return this.engine.size > 0
  }

  /** The active models that say how their alerts are grouped (src/services/grouping.ts), by id. */
  get groupings(): ReadonlyMap<number, ModelGrouping> {
    return this.grouping
  }

  evaluate(record: FieldSource): Found | null {
    return this.engine.size === 0 ? null : this.engine.evaluate(record)
  }

  /** Compiles the active, ready models again; concurrent calls share one load and one more after it. */
  reload(): Promise<void> {
    if (this.loading) {
      this.again = true
      return this.loading
    }
    this.loading = (async () => {
      do {
        this.again = false
        const rows = await this.db
          .select({
            id: models.id,
            name: models.name,
            version: models.version,
            modelType: models.modelType,
            definition: models.definition,
            baseline: models.baseline,
            groupAlerts: models.groupAlerts,
            groupBy: models.groupBy
          })
          .from(models)
          .where(and(eq(models.isActive, true), eq(models.status, 'ready')))
        const compiled: CompiledModel[] = []
        const grouping = new Map<number, ModelGrouping>()
        for (const r of rows) {
          if (r.groupAlerts !== null || r.groupBy !== null) grouping.set(r.id, { enabled: r.groupAlerts, fields: r.groupBy })
          try {
            const ref = { id: r.id, name: r.name, version: r.version }
            compiled.push(compileModel(ref, r.modelType as ModelType, r.definition, this.options, (r.baseline as Baseline | null) ?? null))
          } catch (err) {
            // A stored definition was checked when it was written; one that no longer compiles
            // (a placeholder removed from the configuration) is skipped, loudly.
            if (!(err instanceof DefinitionError)) throw err
            this.log.warn({ model: r.id, path: err.path, reason: err.message }, 'detection model skipped: its definition no longer compiles')
          }
        }
        this.engine = new DetectionEngine(compiled)
        this.grouping = grouping
      } while (this.again)
    })().finally(() => {
      this.loading = null
    })
    return this.loading
  }

  /** After a chunk committed: counts the stored events' matches and decides their correlation groups. */
  async settle(rows: readonly EventRow[], outcomes: readonly RowOutcome[]): Promise<void> {
    const pending: Pending[] = []
    const counts: Count[] = []
    const now = Date.now()
    rows.forEach((row, i) => {
      const o = outcomes[i]
      if (o === null || o === undefined || 'refused' in o) return
      for (const c of row.counted) {
        const group = c.group ?? (c.model.anomaly!.groupBy === 'source' ? row.source : c.model.anomaly!.groupBy === 'event_type' ? row.eventType : row.severity)
        counts.push({ model: c.model, group })
      }
      if (!row.models) return
      for (const id of row.models) this.count(id, 1)
      if (row.hits.length === 0) return
      // The hit's time is the event's own, or the statement's time, which is before this moment.
      const from = row.occurredAt ? new Date(row.occurredAt) : new Date(now - 60_000)
      for (const h of row.hits) pending.push({ correlation: h.correlation, group: h.group, from })
    })
    if (pending.length === 0 && counts.length === 0) return
    try {
      if (counts.length) for (const modelId of await countBuckets(this.db, counts, new Date(now), this.screen)) this.count(modelId, 1)
      if (pending.length === 0) return
      const fired = await decide(this.db, pending, this.screen)
      for (const f of fired) this.count(f.correlation.model.id, 1)
    } catch (err) {
      // The events and their hits are committed: the next catch-up decides these groups.
      this.behind = true
      this.log.warn({ err }, 'correlation decision failed; retried by the next catch-up')
    }
  }

  /** Whether a decision failed since the last catch-up. */
  behind = true

  /** Suppressions and grouping for the events the detector raises itself (plugins/alert-screen.ts sets it). */
  screen: Screen | null = null

  /** Decides what a crash, a stop or a failed decision left undecided. */
  async catchUp(): Promise<void> {
    this.behind = false
    const pending = await undecided(this.db, this.engine.models.flatMap((m) => m.correlations))
    if (pending.length) for (const f of await decide(this.db, pending, this.screen)) this.count(f.correlation.model.id, 1)
  }

  count(modelId: number, n: number) {
    const model = this.engine.byId.get(modelId)
    if (model) this.onDetected(model.ref, n)
    const c = this.counts.get(modelId)
    if (c) {
      c.n += n
      c.at = new Date()
    } else this.counts.set(modelId, { n, at: new Date() })
  }

  /** Writes the match counters (models.matches, last_matched_at). */
  async flush(): Promise<void> {
    if (this.counts.size === 0) return
    const counts = [...this.counts.entries()]
    this.counts = new Map()
    await this.db.execute(sql`
      UPDATE models SET matches = models.matches + c.n, last_matched_at = greatest(models.last_matched_at, c.at)
      FROM unnest(${textArray(counts.map(([id]) => id))}::text[]::bigint[], ${textArray(counts.map(([, c]) => c.n))}::text[]::bigint[], ${textArray(counts.map(([, c]) => c.at.toISOString()))}::text[]::timestamptz[]) AS c(id, n, at)
      WHERE models.id = c.id`)
  }
}
