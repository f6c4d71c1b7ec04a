// Detection models (/api/models): Sigma rules and correlations, and learned baselines. Every
// definition is compiled before it is stored (src/detection/model.ts), so nothing is kept that the
// engine would not run exactly. Every change is one transaction with its audit record; the
// database announces it to every instance (vigil_models, drizzle/0007_detection_models.sql).
import { createHash } from 'node:crypto'
import { eq, getTableColumns, ilike, inArray, or, sql } from 'drizzle-orm'
import type { Db, Tx } from '../db/index.js'
import { containing } from '../db/queries.js'
import { models, users, type Model, type ModelStatus, type ModelType } from '../db/schema.js'
import { dryRun, type DryRunResult } from '../detection/dry-run.js'
import { splitImport, type ImportError } from '../detection/import.js'
import { checkDefinition, compileModel, DefinitionError } from '../detection/model.js'
import type { SigmaOptions } from '../detection/types.js'
import { conflict, HttpError, invalidQuery, isUniqueViolation, notFound } from '../errors.js'
import { filter, listPage, type PageEnvelope, type PageLocation, type PageParams, type PageSource } from '../pagination.js'
import { recordAudit, type Actor } from './audit.js'
import { LINE_UNSAFE, TEXT_UNSAFE } from '../text.js'

/** What a write takes: the fields a client sets (status_reason, matches and training are Vigil's). */
export interface ModelInput {
  name: string
  version?: string
  description?: string | null
  model_type: ModelType
  status?: ModelStatus
  is_active?: boolean
  metadata_json?: string | null
  definition: string
  /** Group the alerts it raises or matches (null: as ALERT_GROUPING says). */
  group_alerts?: boolean | null
  /** The fields of their fingerprint (null: ALERT_GROUP_BY). */
  group_by?: string[] | null
}

export type ModelPatch = Partial<ModelInput>

/** What a model write needs from the app: the `expand` placeholders its definitions may name. */
export interface ModelContext {
  actor: Actor
  sigma: SigmaOptions
}

export interface ModelView extends Model {
  createdByUsername: string | null
}

/** What a model looks like to API clients (routes/models/schema.ts ModelOut): never the baseline itself. */
export const modelOut = (m: ModelView) => ({
  id: m.id,
  name: m.name,
  version: m.version,
  description: m.description,
  model_type: m.modelType,
  status: m.status,
  status_reason: m.statusReason,
  is_active: m.isActive,
  metadata_json: m.metadataJson,
  definition: m.definition,
  group_alerts: m.groupAlerts,
  group_by: m.groupBy,
  matches: m.matches,
  last_matched_at: m.lastMatchedAt?.toISOString() ?? null,
  trained_at: m.trainedAt?.toISOString() ?? null,
  created_by: m.createdById !== null && m.createdByUsername !== null ? { id: m.createdById, username: m.createdByUsername } : null,
  created_at: m.createdAt.toISOString(),
  updated_at: m.updatedAt.toISOString()
})

export type ModelOutView = ReturnType<typeof modelOut>

type FieldErrors = Record<string, string[]>

/** A 400 whose detail names the first bad field, like schema validation errors do. */
function invalid(errors: FieldErrors): HttpError {
  const [field, [message]] = Object.entries(errors)[0]
  return new HttpError('validation_failed', `Invalid body field '${field}': ${message}`, { errors })
}

const add = (errors: FieldErrors, field: string, message: string) => (errors[field] ??= []).push(message)

// Names and versions are one line; descriptions and definitions may hold tabs and line breaks but
// no other control characters (PostgreSQL refuses NUL in text).

/** Checks and normalises the free-text fields of a write; returns the cleaned values. */
function checkFields(input: ModelPatch, errors: FieldErrors): ModelPatch {
  const out: ModelPatch = { ...input }
  for (const field of ['name', 'version'] as const) {
    const value = input[field]
    if (value === undefined) continue
    const trimmed = value.trim()
    if (!trimmed) add(errors, field, 'This field may not be blank.')
    else if (LINE_UNSAFE.test(trimmed)) add(errors, field, 'Must not contain control characters.')
    else out[field] = trimmed
  }
  for (const field of ['description', 'definition', 'metadata_json'] as const) {
    const value = input[field]
    if (typeof value === 'string' && TEXT_UNSAFE.test(value)) add(errors, field, 'Must not contain control characters other than tabs and line breaks.')
  }
  if (typeof input.metadata_json === 'string') {
    try {
      JSON.parse(input.metadata_json)
    } catch {
      add(errors, 'metadata_json', 'Must be valid JSON text (an object, an array, a string, a number, true, false or null).')
    }
  }
  return out
}

/**
 * The one place a definition is checked: compiled as the engine would compile it. A definition it
 * refuses is a 400 `invalid_definition` naming the problem and where in the definition.
 */
export function validateDefinition(modelType: ModelType, definition: string, sigma: SigmaOptions): void {
  try {
    checkDefinition(modelType, definition, sigma)
  } catch (err) {
    if (!(err instanceof DefinitionError)) throw err
    const message = `${err.path}: ${err.message}`
    throw new HttpError('invalid_definition', `Invalid definition: ${message}`, { errors: { definition: [message] } })
  }
}

/** Turns a violation of the case-insensitive unique name into a 409 naming the field. */
function nameConflict(err: unknown): unknown {
  if (isUniqueViolation(err, 'models_name_lower_idx')) return conflict('A model with that name already exists.', 'name')
  return err
}

/** The creators' usernames for a set of models: one query. */
async function hydrate(db: Db | Tx, rows: Model[]): Promise<ModelView[]> {
  const ids = [...new Set(rows.map((r) => r.createdById).filter((id): id is number => id !== null))]
  const creators = ids.length ? await db.select({ id: users.id, username: users.username }).from(users).where(inArray(users.id, ids)) : []
  const names = new Map(creators.map((u) => [u.id, u.username]))
  return rows.map((r) => ({ ...r, createdByUsername: r.createdById === null ? null : (names.get(r.createdById) ?? null) }))
}

export interface ModelFilter extends PageParams {
  status?: ModelStatus
  model_type?: ModelType
  is_active?: boolean
  /** Case-insensitive substring of the name or the description. */
  q?: string
}

/** What a model list reads: newest first; filters combine with AND. */
export function modelList(f: ModelFilter): PageSource<Model> {
  // PostgreSQL refuses NUL in text; say so instead of letting the query fail.
  if (f.q && /\p{Cc}/u.test(f.q)) throw invalidQuery('q', 'Must not contain control characters.')
  const filters = [
    filter('status', f.status || undefined, (v) => eq(models.status, v)),
    filter('model_type', f.model_type || undefined, (v) => eq(models.modelType, v)),
    filter('is_active', f.is_active, (v) => eq(models.isActive, v)),
    filter('q', f.q ? containing(f.q) : undefined, (v) => or(ilike(models.name, v), ilike(models.description, v))!)
  ]
  return { table: models, filters, newest: models.createdAt, select: getTableColumns(models) }
}

/** One page of models, each with its creator's username. */
export async function listModels(db: Db, f: ModelFilter, at: PageLocation): Promise<PageEnvelope<ModelOutView>> {
  return listPage(db, at, f, modelList(f), async (rows) => (await hydrate(db, rows)).map(modelOut))
}

export async function getModel(db: Db | Tx, id: number): Promise<ModelView> {
  const [row] = await db.select().from(models).where(eq(models.id, id))
  if (!row) throw notFound()
  const [view] = await hydrate(db, [row])
  return view
}

/** Locks the model for the rest of the transaction; 404 if absent. */
async function lock(tx: Tx, id: number): Promise<Model> {
  const [row] = await tx.select().from(models).where(eq(models.id, id)).for('update')
  if (!row) throw notFound()
  return row
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/**
 * What the audit trail records of a model. The definition (up to 1 MiB) is recorded by its
 * SHA-256 and length, so each record stays small and still tells which definition it was.
 */
const auditView = (m: Pick<Model, 'name' | 'version' | 'description' | 'modelType' | 'status' | 'isActive' | 'metadataJson' | 'definition' | 'groupAlerts' | 'groupBy'>) => ({
  group_alerts: m.groupAlerts,
  group_by: m.groupBy,
  name: m.name,
  version: m.version,
  description: m.description,
  model_type: m.modelType,
  status: m.status,
  is_active: m.isActive,
  metadata_json: m.metadataJson,
  definition_sha256: sha256(m.definition),
  definition_length: m.definition.length
})

export async function createModel(db: Db, ctx: ModelContext, input: ModelInput): Promise<ModelView> {
  const errors: FieldErrors = {}
  const clean = checkFields(input, errors)
  if (Object.keys(errors).length > 0) throw invalid(errors)
  validateDefinition(input.model_type, input.definition, ctx.sigma)
  return db.transaction(async (tx) => {
    let model: Model
    try {
      ;[model] = await tx
        .insert(models)
        .values({
          name: clean.name!,
          ...(clean.version !== undefined && { version: clean.version }),
          description: clean.description ?? null,
          modelType: input.model_type,
          // A baseline must be learned before it can run: a new one starts training (unless deprecated).
          ...(input.model_type === 'anomaly_detection' && input.status !== 'deprecated'
            ? { status: 'training' as const }
            : input.status !== undefined && { status: input.status }),
          ...(input.is_active !== undefined && { isActive: input.is_active }),
          metadataJson: clean.metadata_json ?? null,
          definition: input.definition,
          groupAlerts: input.group_alerts ?? null,
          groupBy: input.group_by ?? null,
          createdById: ctx.actor.id ?? null
        })
        .returning()
    } catch (err) {
      throw nameConflict(err)
    }
    await recordAudit(tx, ctx.actor, { action: 'model.created', targetType: 'model', targetId: model.id, after: auditView(model) })
    const [view] = await hydrate(tx, [model])
    return view
  })
}

/**
 * Changes the fields given and leaves the others as they are: PATCH, and PUT (whose schema
 * requires name, model_type and definition), as events do. Only the fields that really change are
 * written and audited; a change of type or definition is compiled first; a change of status (by a
 * client) clears the reason Vigil gave for the previous one.
 */
export async function updateModel(db: Db, ctx: ModelContext, id: number, patch: ModelPatch): Promise<ModelView> {
  const errors: FieldErrors = {}
  const clean = checkFields(patch, errors)
  if (Object.keys(errors).length > 0) throw invalid(errors)
  return db.transaction(async (tx) => {
    const current = await lock(tx, id)
    const was = {
      name: current.name,
      version: current.version,
      description: current.description,
      model_type: current.modelType,
      status: current.status,
      is_active: current.isActive,
      metadata_json: current.metadataJson,
      definition: current.definition,
      group_alerts: current.groupAlerts,
      group_by: current.groupBy
    }
    const wanted: Partial<typeof was> = { ...clean, group_alerts: patch.group_alerts, group_by: patch.group_by }
    const changed = new Set<keyof typeof was>()
    for (const field of Object.keys(was) as (keyof typeof was)[]) {
      if (wanted[field] !== undefined && JSON.stringify(wanted[field]) !== JSON.stringify(was[field])) changed.add(field)
    }
    if (changed.size === 0) {
      const [view] = await hydrate(tx, [current])
      return view
    }
    if (changed.has('model_type') || changed.has('definition')) {
      validateDefinition(wanted.model_type ?? was.model_type, wanted.definition ?? was.definition, ctx.sigma)
    }
    let updated: Model
    try {
      ;[updated] = await tx
        .update(models)
        .set({
          ...(changed.has('name') && { name: wanted.name }),
          ...(changed.has('version') && { version: wanted.version }),
          ...(changed.has('description') && { description: wanted.description }),
          ...(changed.has('model_type') && { modelType: wanted.model_type }),
          ...(changed.has('status') && { status: wanted.status, statusReason: null }),
          ...(changed.has('is_active') && { isActive: wanted.is_active }),
          ...(changed.has('metadata_json') && { metadataJson: wanted.metadata_json }),
          ...(changed.has('definition') && { definition: wanted.definition }),
          ...(changed.has('group_alerts') && { groupAlerts: wanted.group_alerts }),
          ...(changed.has('group_by') && { groupBy: wanted.group_by }),
          // New settings of a baseline make its old one meaningless: it is learned again.
          ...((changed.has('model_type') || changed.has('definition')) &&
            (wanted.model_type ?? was.model_type) === 'anomaly_detection' && { status: 'training' as const, statusReason: null, baseline: null, trainedAt: null }),
          updatedAt: sql`now()`
        })
        .where(eq(models.id, id))
        .returning()
    } catch (err) {
      throw nameConflict(err)
    }
    const before: Record<string, unknown> = {}
    const after: Record<string, unknown> = {}
    const oldView = auditView(current)
    const newView = auditView(updated)
    for (const field of changed) {
      const keys = field === 'definition' ? (['definition_sha256', 'definition_length'] as const) : ([field] as const)
      for (const k of keys) {
        before[k] = oldView[k]
        after[k] = newView[k]
      }
    }
    await recordAudit(tx, ctx.actor, { action: 'model.updated', targetType: 'model', targetId: id, before, after })
    const [view] = await hydrate(tx, [updated])
    return view
  })
}

export async function deleteModel(db: Db, actor: Actor, id: number): Promise<void> {
  await db.transaction(async (tx) => {
    const current = await lock(tx, id)
    await tx.delete(models).where(eq(models.id, id))
    await recordAudit(tx, actor, {
      action: 'model.deleted',
      targetType: 'model',
      targetId: id,
      before: { ...auditView(current), matches: current.matches }
    })
  })
}

export interface RetrainAnswer {
  message: string
  model_id: number
  status: ModelStatus
}

/**
 * Marks a model for training: a trainer on any instance takes it in the background
 * (src/detection/training.ts) and sets it `ready` with its new baseline, or `failed` with the reason.
 */
export async function retrainModel(db: Db, actor: Actor, id: number): Promise<RetrainAnswer> {
  return db.transaction(async (tx) => {
    const current = await lock(tx, id)
    const [updated] = await tx
      .update(models)
      // A lease left by a trainer whose result no longer applies must not hold the new training back.
      .set({ status: 'training', statusReason: null, trainingLeaseUntil: null, updatedAt: sql`now()` })
      .where(eq(models.id, id))
      .returning({ status: models.status })
    await recordAudit(tx, actor, {
      action: 'model.retrained',
      targetType: 'model',
      targetId: id,
      before: { status: current.status, status_reason: current.statusReason },
      after: { status: updated.status }
    })
    const message =
      current.modelType === 'anomaly_detection'
        ? 'Training started: the model is ready again once its baseline is learned.'
        : 'Compiling again: the model is ready again once its rules compile.'
    return { message, model_id: id, status: updated.status }
  })
}

/** A dry run of a model on records given by the caller: what it would detect, storing nothing. */
export async function testModel(db: Db, sigma: SigmaOptions, id: number, records: unknown[]): Promise<{ results: DryRunResult[] }> {
  const m = await getModel(db, id)
  let compiled
  try {
    compiled = compileModel({ id: m.id, name: m.name, version: m.version }, m.modelType, m.definition, sigma)
  } catch (err) {
    if (!(err instanceof DefinitionError)) throw err
    // Stored when it compiled; a placeholder since removed from the configuration breaks it.
    throw new HttpError('invalid_definition', `The model's definition no longer compiles: ${err.path}: ${err.message}`)
  }
  return { results: dryRun(compiled, records) }
}

/**
 * Imports Sigma YAML of many documents: one model per rule (a correlation with the rules it reads),
 * each created as by POST /api/models/; a rule that does not compile or whose name is taken is
 * reported with its place and the reason, and the others are created.
 */
export async function importModels(db: Db, ctx: ModelContext, yaml: string): Promise<{ created: ModelOutView[]; errors: ImportError[] }> {
  let split
  try {
    split = splitImport(yaml, ctx.sigma)
  } catch (err) {
    if (!(err instanceof DefinitionError)) throw err
    throw new HttpError('invalid_definition', `Invalid import: ${err.message}`)
  }
  const created: ModelOutView[] = []
  const errors = [...split.errors]
  for (const m of split.models) {
    try {
      const view = await createModel(db, ctx, {
        name: m.name,
        description: m.description,
        model_type: 'sigma',
        metadata_json: JSON.stringify(m.metadata),
        definition: m.definition
      })
      created.push(modelOut(view))
    } catch (err) {
      if (!(err instanceof HttpError)) throw err
      errors.push({ index: m.index, title: m.name, detail: err.message })
    }
  }
  errors.sort((a, b) => a.index - b.index)
  return { created, errors }
}
