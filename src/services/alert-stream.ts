// The outbox of alert changes, for live delivery (issue 13: the alert stream and the webhooks will
// read it). The alert history is the outbox: every change writes its row in its own transaction,
// in one place (the change hooks and the ingest statement), so a reader reads what was
// committed, and only that.
//
// The cursor is (tx, id): the writing transaction's id and the row's. Ids are taken before their
// transactions commit, so "after the last id I saw" would skip a row whose transaction committed
// late. A read takes only rows of transactions older than the horizon (below): the oldest
// transaction still running that may be this database's, or, with none, the next transaction id
// to be given (a transaction that has not written yet will get one above it). No row can ever appear behind the cursor
// again, so nothing is skipped and, in (tx, id) order, nothing is repeated. A long transaction in
// this database holds the stream back until it ends (other databases' do not); no row is lost.
import { and, eq, sql } from 'drizzle-orm'
import type { Db } from '../db/index.js'
import { rowsOf, textArray } from '../db/queries.js'
import { alertHistory, alerts } from '../db/schema.js'
import { whereOf } from '../pagination.js'
import { alertList, alertView, type AlertFilter, type AlertView } from './alerts.js'

/** Rows read per query; a stream that is behind reads again at once. */
export const STREAM_PAGE = 500

export interface StreamCursor {
  tx: string
  id: number
}

const CURSOR = /^([0-9]{1,20})\.([0-9]{1,19})$/

/** A cursor from `Last-Event-ID` or `?after=`; undefined for text that is not one. */
export function parseCursor(text: string | undefined): StreamCursor | undefined {
  const m = text === undefined ? null : CURSOR.exec(text)
  if (!m || !Number.isSafeInteger(Number(m[2]))) return undefined
  return { tx: m[1], id: Number(m[2]) }
}

export const cursorText = (c: StreamCursor) => `${c.tx}.${c.id}`

/**
 * The horizon: below it every transaction that could have written this database's history has
 * ended. Two steps, in this order: first the transactions other databases' sessions are running
 * (pg_stat_activity's backend_xid, a 32-bit xid), then, in the read's own statement (so from the
 * snapshot its read sees), the oldest running transaction that is not one of those, or, with none,
 * the next id to be given. A transaction of this database is never left out (that would skip its
 * rows); one of another database that began between the two steps is counted too, which only
 * holds back rows newer than it until the next read. So a list read once may serve several reads
 * after it (a stream instance's wake: its head read and each stream's): a stale one only holds
 * back more, never less.
 */
export async function otherDatabases(db: Db): Promise<string[]> {
  const rows = await rowsOf<{ xid: string }>(
    db,
    sql`select backend_xid::text as xid from pg_stat_activity where datname is distinct from current_database() and backend_xid is not null`
  )
  return rows.map((r) => r.xid)
}

const horizon = (others: string[]) => sql`(select coalesce(
    (select min(x) from pg_snapshot_xip(s.snap) x where ((x::text::bigint % 4294967296)::text) <> all(${textArray(others)}::text[])),
    pg_snapshot_xmax(s.snap))
  from (select pg_current_snapshot() as snap) s)`

/** Where a new stream starts: at the horizon (what is committed before it is history). */
export async function startCursor(db: Db): Promise<StreamCursor> {
  const [row] = await rowsOf<{ tx: string }>(db, sql`select ${horizon(await otherDatabases(db))}::text as tx`)
  return { tx: row.tx, id: 0 }
}

export interface StreamEvent {
  id: string
  /** The cursor after this event (what `id` spells). */
  cursor: StreamCursor
  type: string
  data: { alert: AlertView; change: { id: number; at: string; action: string; actor: string | null; actor_id: number | null; before: unknown; after: unknown } }
}

/** The filters a stream takes: the list's, without paging. */
export type StreamFilter = Omit<AlertFilter, 'page' | 'page_size' | 'cursor' | 'updated_since'>

/**
 * The committed changes after `cursor` (at most STREAM_PAGE rows), and the cursor after them:
 * it moves past rows the filter leaves out too. `more` when a full page was read.
 */
export async function readChanges(
  db: Db,
  cursor: StreamCursor,
  filter: StreamFilter,
  others?: string[]
): Promise<{ events: StreamEvent[]; cursor: StreamCursor; more: boolean }> {
  const matches = whereOf(alertList(filter)) ?? sql`true`
  others ??= await otherDatabases(db)
  const rows = await db
    .select({
      tx: sql<string>`${alertHistory.tx}::text`,
      id: alertHistory.id,
      action: alertHistory.action,
      at: alertHistory.createdAt,
      actor: alertHistory.actor,
      actorId: alertHistory.actorId,
      before: alertHistory.before,
      after: alertHistory.after,
      matches: sql<boolean>`coalesce(${matches}, false)`,
      alert: alertView.select
    })
    .from(alertHistory)
    .leftJoin(alerts, eq(alerts.id, alertHistory.alertId))
    .where(
      and(
        sql`(${alertHistory.tx}, ${alertHistory.id}) > (${cursor.tx}::xid8, ${cursor.id}::bigint)`,
        sql`${alertHistory.tx} < ${horizon(others)}`
      )
    )
    .orderBy(alertHistory.tx, alertHistory.id)
    .limit(STREAM_PAGE)
  const events: StreamEvent[] = []
  for (const r of rows) {
    if (!r.matches || r.alert === null) continue
    const at = { tx: r.tx, id: r.id }
    events.push({
      id: cursorText(at),
      cursor: at,
      type: r.action,
      data: {
        alert: r.alert as AlertView,
        change: { id: r.id, at: r.at.toISOString(), action: r.action, actor: r.actor, actor_id: r.actorId, before: r.before, after: r.after }
      }
    })
  }
  const last = rows[rows.length - 1]
  return { events, cursor: last ? { tx: last.tx, id: last.id } : cursor, more: rows.length === STREAM_PAGE }
}

/**
 * The newest committed change a reader may take now (below the horizon), or undefined while the
 * outbox is empty: one read tells every stream on an instance whether it has anything to read.
 */
export async function headCursor(db: Db, others?: string[]): Promise<StreamCursor | undefined> {
  others ??= await otherDatabases(db)
  const [row] = await db
    .select({ tx: sql<string>`${alertHistory.tx}::text`, id: alertHistory.id })
    .from(alertHistory)
    .where(sql`${alertHistory.tx} < ${horizon(others)}`)
    .orderBy(sql`${alertHistory.tx} desc`, sql`${alertHistory.id} desc`)
    .limit(1)
  return row
}

/** Whether `a` is before `b` in outbox order. */
export function isBefore(a: StreamCursor, b: StreamCursor): boolean {
  const ta = BigInt(a.tx)
  const tb = BigInt(b.tx)
  return ta < tb || (ta === tb && a.id < b.id)
}
