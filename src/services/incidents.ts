// Incidents (case management): an incident groups alerts (many to many) and entities
// (observables). Every change is one transaction with its audit record; creation checks every
// alert id, the assignee and every entity before writing, so one bad item creates nothing.
import { and, asc, eq, getTableColumns, ilike, inArray, sql } from 'drizzle-orm'
import type { Db, Tx } from '../db/index.js'
import { containing } from '../db/queries.js'
import {
  alerts,
  incidentAlerts,
  incidentEntities,
  incidents,
  users,
  type Alert,
  type EntityType,
  type Incident,
  type IncidentEntity,
  type IncidentStatus,
  type Severity
} from '../db/schema.js'
import { conflict, HttpError, invalidQuery, isUniqueViolation, notFound } from '../errors.js'
import { filter, listPage, type PageEnvelope, type PageLocation, type PageParams, type PageSource } from '../pagination.js'
import { recordHistory } from './alert-history.js'
import { alertOut } from './alerts.js'
import { recordAudit, type Actor } from './audit.js'
import { validateEntity } from './entities.js'
import { LINE_UNSAFE, TEXT_UNSAFE } from '../text.js'

export interface EntityInput {
  type: EntityType
  value: string
}

export interface IncidentInput {
  title: string
  description?: string
  severity: Severity
  status?: IncidentStatus
  assignee?: number | null
  alert_ids?: number[]
  entities?: EntityInput[]
}

export type IncidentPatch = Partial<Pick<IncidentInput, 'title' | 'description' | 'severity' | 'status' | 'assignee'>>

export interface IncidentView extends Incident {
  assigneeUsername: string | null
  alerts: Alert[]
  entities: IncidentEntity[]
}

// The mappers: what an incident and an entity look like to API clients
// (routes/incidents/schema.ts IncidentOut and EntityOut).

export const entityOut = (e: IncidentEntity) => ({
  id: e.id,
  type: e.type,
  value: e.value,
  created_at: e.createdAt.toISOString()
})

export const incidentOut = (i: IncidentView) => ({
  id: i.id,
  title: i.title,
  description: i.description,
  severity: i.severity,
  status: i.status,
  assignee: i.assigneeId,
  assignee_username: i.assigneeUsername,
  created_by: i.createdById,
  created_at: i.createdAt.toISOString(),
  updated_at: i.updatedAt.toISOString(),
  alert_count: i.alerts.length,
  entity_count: i.entities.length,
  alerts: i.alerts.map(alertOut),
  entities: i.entities.map(entityOut)
})

type FieldErrors = Record<string, string[]>

/** A 400 whose detail names the first bad field, like schema validation errors do. */
function invalid(errors: FieldErrors): HttpError {
  const [field, [message]] = Object.entries(errors)[0]
  return new HttpError('validation_failed', `Invalid body field '${field}': ${message}`, { errors })
}

const add = (errors: FieldErrors, field: string, message: string) => (errors[field] ??= []).push(message)

// Titles are one line; descriptions may hold tabs and line breaks but no other control characters.

/** Checks and normalises the free-text fields; returns the cleaned values. */
function checkText(input: { title?: string; description?: string }, errors: FieldErrors) {
  const out: { title?: string; description?: string } = {}
  if (input.title !== undefined) {
    const title = input.title.trim()
    if (!title) add(errors, 'title', 'This field may not be blank.')
    else if (LINE_UNSAFE.test(title)) add(errors, 'title', 'Must not contain control characters.')
    else out.title = title
  }
  if (input.description !== undefined) {
    if (TEXT_UNSAFE.test(input.description)) add(errors, 'description', 'Must not contain control characters.')
    else out.description = input.description
  }
  return out
}

/** Validates entities, returning them normalised; duplicates after normalisation are refused. */
function checkEntities(list: EntityInput[], errors: FieldErrors): EntityInput[] {
  const seen = new Map<string, number>()
  const out: EntityInput[] = []
  list.forEach((e, i) => {
    const field = `entities.${i}.value`
    const r = validateEntity(e.type, e.value)
    if (!r.ok) return add(errors, field, r.message)
    const key = `${e.type}\u0000${r.value}`
    const first = seen.get(key)
    if (first !== undefined) return add(errors, field, `Duplicate of entities.${first} (${e.type} ${r.value}).`)
    seen.set(key, i)
    out.push({ type: e.type, value: r.value })
  })
  return out
}

async function checkAssignee(db: Db | Tx, id: number, errors: FieldErrors) {
  const [user] = await db.select({ isActive: users.isActive }).from(users).where(eq(users.id, id))
  if (!user) add(errors, 'assignee', `User ${id} does not exist.`)
  else if (!user.isActive) add(errors, 'assignee', `User ${id} is deactivated.`)
}

/** Adds a message for every alert id that does not exist; locks the others until commit. */
async function checkAlerts(tx: Tx, ids: number[], errors: FieldErrors) {
  if (ids.length === 0) return
  // KEY SHARE: an alert cannot be deleted between this check and the link insert.
  const found = await tx.select({ id: alerts.id }).from(alerts).where(inArray(alerts.id, ids)).for('key share')
  const present = new Set(found.map((r) => r.id))
  for (const id of ids) if (!present.has(id)) add(errors, 'alert_ids', `Alert ${id} does not exist.`)
}

/** Loads linked alerts, entities and assignee names for a set of incidents: one query each. */
export async function hydrate(db: Db | Tx, rows: Incident[]): Promise<IncidentView[]> {
  if (rows.length === 0) return []
  const ids = rows.map((r) => r.id)
  const assigneeIds = [...new Set(rows.map((r) => r.assigneeId).filter((id): id is number => id !== null))]
  const [linked, entities, assignees] = await Promise.all([
    db
      .select({ incidentId: incidentAlerts.incidentId, alert: alerts })
      .from(incidentAlerts)
      .innerJoin(alerts, eq(alerts.id, incidentAlerts.alertId))
      .where(inArray(incidentAlerts.incidentId, ids))
      .orderBy(asc(incidentAlerts.linkedAt), asc(alerts.id)),
    db
      .select()
      .from(incidentEntities)
      .where(inArray(incidentEntities.incidentId, ids))
      .orderBy(asc(incidentEntities.id)),
    assigneeIds.length
      ? db.select({ id: users.id, username: users.username }).from(users).where(inArray(users.id, assigneeIds))
      : Promise.resolve([])
  ])
  const names = new Map(assignees.map((u) => [u.id, u.username]))
  const views = new Map<number, IncidentView>(
    rows.map((r) => [r.id, { ...r, assigneeUsername: r.assigneeId ? names.get(r.assigneeId) ?? null : null, alerts: [], entities: [] }])
  )
  for (const l of linked) views.get(l.incidentId)!.alerts.push(l.alert)
  for (const e of entities) views.get(e.incidentId)!.entities.push(e)
  return rows.map((r) => views.get(r.id)!)
}

export interface IncidentFilter extends PageParams {
  status?: IncidentStatus
  severity?: Severity
  assignee?: number
  /** Case-insensitive substring of the title. */
  search?: string
}

/** What an incident list reads: newest first; filters combine with AND. */
export function incidentList(f: IncidentFilter): PageSource<typeof incidents.$inferSelect> {
  // PostgreSQL refuses NUL in text; say so instead of letting the query fail.
  if (f.search && /\p{Cc}/u.test(f.search)) throw invalidQuery('search', 'Must not contain control characters.')
  const filters = [
    filter('status', f.status || undefined, (v) => eq(incidents.status, v)),
    filter('severity', f.severity || undefined, (v) => eq(incidents.severity, v)),
    filter('assignee', f.assignee || undefined, (v) => eq(incidents.assigneeId, v)),
    filter('search', f.search ? containing(f.search) : undefined, (v) => ilike(incidents.title, v))
  ]
  return { table: incidents, filters, newest: incidents.createdAt, select: getTableColumns(incidents) }
}

/** One page of incidents, each with its alerts, entities and assignee name. */
export async function listIncidents(db: Db, f: IncidentFilter, at: PageLocation): Promise<PageEnvelope<ReturnType<typeof incidentOut>>> {
  // Alerts, entities and assignee names for the whole page: one query each, not one per incident.
  return listPage(db, at, f, incidentList(f), async (rows) => (await hydrate(db, rows)).map(incidentOut))
}

export async function getIncident(db: Db | Tx, id: number): Promise<IncidentView> {
  const [row] = await db.select().from(incidents).where(eq(incidents.id, id))
  if (!row) throw notFound()
  const [view] = await hydrate(db, [row])
  return view
}

/** Locks the incident for the rest of the transaction; 404 if absent. */
async function lock(tx: Tx, id: number): Promise<Incident> {
  const [row] = await tx.select().from(incidents).where(eq(incidents.id, id)).for('update')
  if (!row) throw notFound()
  return row
}

/** Marks the incident changed: links and entities are part of it. */
async function touch(tx: Tx, id: number): Promise<Incident> {
  const [row] = await tx.update(incidents).set({ updatedAt: sql`now()` }).where(eq(incidents.id, id)).returning()
  if (!row) throw notFound()
  return row
}

const summary = (i: Incident) => ({
  title: i.title,
  severity: i.severity,
  status: i.status,
  assignee: i.assigneeId
})

export async function createIncident(db: Db, actor: Actor, input: IncidentInput): Promise<IncidentView> {
  const errors: FieldErrors = {}
  const text = checkText(input, errors)
  const entities = checkEntities(input.entities ?? [], errors)
  const alertIds = input.alert_ids ?? []
  return db.transaction(async (tx) => {
    if (input.assignee != null) await checkAssignee(tx, input.assignee, errors)
    await checkAlerts(tx, alertIds, errors)
    if (Object.keys(errors).length > 0) throw invalid(errors)

    const [incident] = await tx
      .insert(incidents)
      .values({
        title: text.title!,
        description: text.description ?? '',
        severity: input.severity,
        status: input.status ?? 'Open',
        assigneeId: input.assignee ?? null,
        createdById: actor.id ?? null
      })
      .returning()
    if (alertIds.length) {
      await tx.insert(incidentAlerts).values(alertIds.map((alertId) => ({ incidentId: incident.id, alertId })))
      await recordHistory(tx, actor, alertIds.map((alertId) => ({ alertId, action: 'linked', after: { incident_id: incident.id } })))
    }
    if (entities.length) {
      await tx.insert(incidentEntities).values(entities.map((e) => ({ incidentId: incident.id, ...e })))
    }
    await recordAudit(tx, actor, {
      action: 'incident.created',
      targetType: 'incident',
      targetId: incident.id,
      after: { ...summary(incident), alert_ids: alertIds, entities }
    })
    const [view] = await hydrate(tx, [incident])
    return view
  })
}

export async function updateIncident(db: Db, actor: Actor, id: number, patch: IncidentPatch): Promise<IncidentView> {
  const errors: FieldErrors = {}
  const text = checkText(patch, errors)
  if (Object.keys(errors).length > 0) throw invalid(errors)
  return db.transaction(async (tx) => {
    const current = await lock(tx, id)
    const wanted = {
      title: text.title,
      description: text.description,
      severity: patch.severity,
      status: patch.status,
      assignee: patch.assignee
    }
    const was = { ...summary(current), description: current.description }
    // Only the fields that really change are written and audited.
    const before: Record<string, unknown> = {}
    const after: Record<string, unknown> = {}
    for (const field of Object.keys(wanted) as (keyof typeof wanted)[]) {
      const value = wanted[field]
      if (value !== undefined && value !== was[field]) {
        before[field] = was[field]
        after[field] = value
      }
    }
    if (Object.keys(after).length === 0) {
      const [view] = await hydrate(tx, [current])
      return view
    }
    if (typeof after.assignee === 'number') {
      await checkAssignee(tx, after.assignee, errors)
      if (Object.keys(errors).length > 0) throw invalid(errors)
    }
    const changed = (f: keyof typeof wanted) => f in after
    const [updated] = await tx
      .update(incidents)
      .set({
        ...(changed('title') && { title: wanted.title }),
        ...(changed('description') && { description: wanted.description }),
        ...(changed('severity') && { severity: wanted.severity }),
        ...(changed('status') && { status: wanted.status }),
        ...(changed('assignee') && { assigneeId: wanted.assignee ?? null }),
        updatedAt: sql`now()`
      })
      .where(eq(incidents.id, id))
      .returning()
    await recordAudit(tx, actor, { action: 'incident.updated', targetType: 'incident', targetId: id, before, after })
    const [view] = await hydrate(tx, [updated])
    return view
  })
}

export async function deleteIncident(db: Db, actor: Actor, id: number): Promise<void> {
  await db.transaction(async (tx) => {
    const current = await lock(tx, id)
    const [view] = await hydrate(tx, [current])
    await tx.delete(incidents).where(eq(incidents.id, id))
    // The links and entities go with the incident (ON DELETE CASCADE); the trail keeps them.
    await recordAudit(tx, actor, {
      action: 'incident.deleted',
      targetType: 'incident',
      targetId: id,
      before: {
        ...summary(current),
        description: current.description,
        alert_ids: view.alerts.map((a) => a.id),
        entities: view.entities.map((e) => ({ type: e.type, value: e.value }))
      }
    })
  })
}

/** Links alerts to an incident; already linked ones are left as they are. */
export async function linkAlerts(db: Db, actor: Actor, id: number, alertIds: number[]): Promise<IncidentView> {
  return db.transaction(async (tx) => {
    let incident = await lock(tx, id)
    const errors: FieldErrors = {}
    await checkAlerts(tx, alertIds, errors)
    if (Object.keys(errors).length > 0) throw invalid(errors)
    const added = await tx
      .insert(incidentAlerts)
      .values(alertIds.map((alertId) => ({ incidentId: id, alertId })))
      .onConflictDoNothing()
      .returning({ alertId: incidentAlerts.alertId })
    if (added.length > 0) {
      incident = await touch(tx, id)
      await recordHistory(tx, actor, added.map(({ alertId }) => ({ alertId, action: 'linked', after: { incident_id: id } })))
      await recordAudit(tx, actor, {
        action: 'incident.alert_linked',
        targetType: 'incident',
        targetId: id,
        after: { alert_ids: added.map((a) => a.alertId) }
      })
    }
    const [view] = await hydrate(tx, [incident])
    return view
  })
}

export async function unlinkAlert(db: Db, actor: Actor, id: number, alertId: number): Promise<void> {
  await db.transaction(async (tx) => {
    await touch(tx, id)
    const removed = await tx
      .delete(incidentAlerts)
      .where(and(eq(incidentAlerts.incidentId, id), eq(incidentAlerts.alertId, alertId)))
      .returning({ alertId: incidentAlerts.alertId })
    if (removed.length === 0) throw notFound(`Alert ${alertId} is not linked to incident ${id}.`)
    await recordHistory(tx, actor, [{ alertId, action: 'unlinked', before: { incident_id: id } }])
    await recordAudit(tx, actor, {
      action: 'incident.alert_unlinked',
      targetType: 'incident',
      targetId: id,
      before: { alert_id: alertId }
    })
  })
}

export async function addEntity(db: Db, actor: Actor, id: number, input: EntityInput): Promise<IncidentEntity> {
  const check = validateEntity(input.type, input.value)
  if (!check.ok) throw invalid({ value: [check.message] })
  const entity = { type: input.type, value: check.value }
  try {
    return await db.transaction(async (tx) => {
      await touch(tx, id)
      const [row] = await tx
        .insert(incidentEntities)
        .values({ incidentId: id, ...entity })
        .returning()
      await recordAudit(tx, actor, {
        action: 'incident.entity_added',
        targetType: 'incident',
        targetId: id,
        after: { entity_id: row.id, type: row.type, value: row.value }
      })
      return row
    })
  } catch (err) {
    if (isUniqueViolation(err, 'incident_entities_unique_idx')) {
      throw conflict(`This incident already has the ${entity.type} entity ${JSON.stringify(entity.value)}.`, 'value')
    }
    throw err
  }
}

export async function removeEntity(db: Db, actor: Actor, id: number, entityId: number): Promise<void> {
  await db.transaction(async (tx) => {
    await touch(tx, id)
    const [removed] = await tx
      .delete(incidentEntities)
      .where(and(eq(incidentEntities.id, entityId), eq(incidentEntities.incidentId, id)))
      .returning()
    if (!removed) throw notFound(`Entity ${entityId} does not belong to incident ${id}.`)
    await recordAudit(tx, actor, {
      action: 'incident.entity_removed',
      targetType: 'incident',
      targetId: id,
      before: { entity_id: removed.id, type: removed.type, value: removed.value }
    })
  })
}
