// The audit trail: every security-relevant change, with who did it, when, to what, and the
// values before and after. Written in the same transaction as the change it records, and read
// by admins through /api/audit.
import { eq, getTableColumns, gte, lte, sql } from 'drizzle-orm'
import type { Db, Tx } from '../db/index.js'
import { auditLog } from '../db/schema.js'
import { filter, listPage, type PageEnvelope, type PageLocation, type PageParams, type PageSource } from '../pagination.js'

export interface Actor {
  id?: number | null
  /** A username, an ingest key's name, or the name tried in a failed login. */
  label?: string | null
  ip?: string | null
}

export interface AuditEntry {
  action: string
  targetType?: string
  targetId?: string | number | null
  before?: unknown
  after?: unknown
}

export async function recordAudit(db: Db | Tx, actor: Actor, entry: AuditEntry): Promise<void> {
  await recordAudits(db, actor, [entry])
}

/** Entries by one actor, in one statement (a bulk change audits each alert it changed). */
export async function recordAudits(db: Db | Tx, actor: Actor, entries: AuditEntry[]): Promise<void> {
  if (entries.length === 0) return
  await db.insert(auditLog).values(
    entries.map((entry) => ({
      actorId: actor.id ?? null,
      actor: actor.label ? actor.label.slice(0, 255) : null,
      action: entry.action,
      targetType: entry.targetType ?? null,
      targetId: entry.targetId != null ? String(entry.targetId) : null,
      before: entry.before ?? null,
      after: entry.after ?? null,
      ip: actor.ip ?? null
    }))
  )
}

export type AuditRecord = typeof auditLog.$inferSelect

export const auditOut = (r: AuditRecord) => ({
  id: r.id,
  created_at: r.createdAt.toISOString(),
  actor_id: r.actorId,
  actor: r.actor,
  action: r.action,
  target_type: r.targetType,
  target_id: r.targetId,
  before: (r.before ?? null) as Record<string, unknown> | null,
  after: (r.after ?? null) as Record<string, unknown> | null,
  ip: r.ip
})

export type AuditView = ReturnType<typeof auditOut>

export interface AuditFilter extends PageParams {
  action?: string
  /** Matched regardless of letter case, as usernames are. */
  actor?: string
  actor_id?: number
  target_type?: string
  target_id?: string
  created_after?: string
  created_before?: string
}

/** What a list of the trail reads: newest first; filters combine with AND. */
export function auditList(f: AuditFilter): PageSource<AuditRecord> {
  const filters = [
    filter('action', f.action || undefined, (v) => eq(auditLog.action, v)),
    filter('actor', f.actor?.toLowerCase() || undefined, (v) => eq(sql`lower(${auditLog.actor})`, v)),
    filter('actor_id', f.actor_id || undefined, (v) => eq(auditLog.actorId, v)),
    filter('target_type', f.target_type || undefined, (v) => eq(auditLog.targetType, v)),
    filter('target_id', f.target_id || undefined, (v) => eq(auditLog.targetId, v)),
    filter('created_after', f.created_after ? new Date(f.created_after).toISOString() : undefined, (v) => gte(auditLog.createdAt, v)),
    filter('created_before', f.created_before ? new Date(f.created_before).toISOString() : undefined, (v) => lte(auditLog.createdAt, v))
  ]
  return { table: auditLog, filters, newest: auditLog.createdAt, select: getTableColumns(auditLog) }
}

/** One page of the trail. */
export async function listAudit(db: Db, f: AuditFilter, at: PageLocation): Promise<PageEnvelope<AuditView>> {
  return listPage(db, at, f, auditList(f), (rows) => rows.map(auditOut))
}
