// An alert's history: every change with who made it, when, and the values before and after
// (GET /api/alerts/{id}/history/), and the outbox live delivery reads. Rows are written in the
// transaction of the change they record: by the alert change hooks (src/services/alerts.ts), by
// comments and by incident links; the ingest statement writes the raises and repeats itself.
import { eq, getTableColumns, sql } from 'drizzle-orm'
import { alertChanges } from '../db/channels.js'
import type { Db, Tx } from '../db/index.js'
import { alertHistory, type Alert, type AlertHistoryEntry } from '../db/schema.js'
import { filter, type PageEnvelope, type PageLocation, type PageParams, type PageSource } from '../pagination.js'
import type { Actor } from './audit.js'
import { pageOfAlert, type AlertChanged } from './alerts.js'

/** What a history row says happened. */
export type HistoryAction = 'raised' | 'changed' | 'commented' | 'comment_deleted' | 'linked' | 'unlinked'

export interface HistoryEntry {
  alertId: number
  action: HistoryAction
  before?: Record<string, unknown> | null
  after?: Record<string, unknown> | null
}

/** Rows by one actor (null: the policy or the event), in one statement. */
export async function recordHistory(tx: Db | Tx, by: Actor | null, entries: HistoryEntry[]): Promise<void> {
  if (entries.length === 0) return
  await tx.insert(alertHistory).values(
    entries.map((e) => ({
      alertId: e.alertId,
      actorId: by?.id ?? null,
      actor: by?.label ? by.label.slice(0, 255) : null,
      action: e.action,
      before: e.before ?? null,
      after: e.after ?? null
    }))
  )
  // Streams and webhook engines on every instance read the outbox at once (sent at commit).
  await tx.execute(sql`select pg_notify(${alertChanges.name}, '')`)
}

/** The alert fields a history shows, by their API names. */
const SHOWN: [keyof Alert, string][] = [
  ['status', 'status'],
  ['verdict', 'verdict'],
  ['reason', 'reason'],
  ['assigneeId', 'assignee'],
  ['tags', 'tags'],
  ['severity', 'severity'],
  ['eventType', 'event_type'],
  ['source', 'source']
]

/** A change as a history row: the fields it changed, before and after; a reopen's reason with them. */
export function historyOfChange({ before, after, why }: AlertChanged): HistoryEntry {
  const was: Record<string, unknown> = {}
  const now: Record<string, unknown> = {}
  for (const [field, name] of SHOWN) {
    if (JSON.stringify(before[field]) !== JSON.stringify(after[field])) {
      was[name] = before[field]
      now[name] = after[field]
    }
  }
  if (why !== undefined) now.reopen_reason = why
  return { alertId: after.id, action: 'changed', before: was, after: now }
}

export const historyOut = (r: AlertHistoryEntry) => ({
  id: r.id,
  created_at: r.createdAt.toISOString(),
  actor_id: r.actorId,
  actor: r.actor,
  action: r.action as HistoryAction,
  before: (r.before ?? null) as Record<string, unknown> | null,
  after: (r.after ?? null) as Record<string, unknown> | null
})

export type HistoryView = ReturnType<typeof historyOut>

/** One page of an alert's history, newest first, or a 404 for no such alert. */
export async function listHistory(db: Db, alertId: number, q: PageParams, at: PageLocation): Promise<PageEnvelope<HistoryView>> {
  const source: PageSource<AlertHistoryEntry> = {
    table: alertHistory,
    filters: [filter('alert', alertId, (v) => eq(alertHistory.alertId, v))],
    newest: alertHistory.createdAt,
    select: getTableColumns(alertHistory)
  }
  return pageOfAlert(db, alertId, q, at, source, (rows) => rows.map(historyOut))
}
