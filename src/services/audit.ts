// The audit trail: every security-relevant change, with who did it, when, to what, and the
// values before and after. Written in the same transaction as the change it records.
import type { Db, Tx } from '../db/index.js'
import { auditLog } from '../db/schema.js'

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
