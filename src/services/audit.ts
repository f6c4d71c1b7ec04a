// The audit trail: every security-relevant change, with who did it, when, to what, and the
// values before and after. Written in the same transaction as the change it records, and read
// by admins through /api/audit.
import { and, eq, gte, lte, sql } from 'drizzle-orm'
import type { Db, Tx } from '../db/index.js'
import { auditLog } from '../db/schema.js'
import { selectPage, type PageRequest } from '../pagination.js'

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
  await db.insert(auditLog).values({
    actorId: actor.id ?? null,
    actor: actor.label ? actor.label.slice(0, 255) : null,
    action: entry.action,
    targetType: entry.targetType ?? null,
    targetId: entry.targetId != null ? String(entry.targetId) : null,
    before: entry.before ?? null,
    after: entry.after ?? null,
    ip: actor.ip ?? null
  })
}

export type AuditRecord = typeof auditLog.$inferSelect

export interface AuditFilter {
  action?: string
  /** Matched regardless of letter case, as usernames are. */
  actor?: string
  actorId?: number
  targetType?: string
  targetId?: string
  createdAfter?: Date
  createdBefore?: Date
}

/** One page of the trail, newest first; filters combine with AND. */
export async function listAudit(db: Db, f: AuditFilter, p: PageRequest): Promise<{ rows: AuditRecord[]; total: number }> {
  const where = and(
    f.action ? eq(auditLog.action, f.action) : undefined,
    f.actor ? eq(sql`lower(${auditLog.actor})`, f.actor.toLowerCase()) : undefined,
    f.actorId ? eq(auditLog.actorId, f.actorId) : undefined,
    f.targetType ? eq(auditLog.targetType, f.targetType) : undefined,
    f.targetId ? eq(auditLog.targetId, f.targetId) : undefined,
    f.createdAfter ? gte(auditLog.createdAt, f.createdAfter) : undefined,
    f.createdBefore ? lte(auditLog.createdAt, f.createdBefore) : undefined
  )
  return selectPage(db, auditLog, where, auditLog.createdAt, p)
}
