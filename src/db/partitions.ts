// The partitions of events (drizzle/0005_partitioned_events.sql): a partition per UTC day of
// storage time, named events_p<from>_<to> (YYYYMMDD, `to` exclusive; the migration put older
// history in a partition per month, named the same way). The database's clock decides the day,
// as it sets each event's timestamp.
//
// Partitions are made DAYS_AHEAD days ahead at every migration and every MAINTENANCE_MS, so an
// insert always finds its partition; should one still be missing (a database restored without
// them, a clock that jumped), the insert makes today's and retries (src/ingest/insert.ts).
//
// Retention, which drops whole partitions, is src/services/retention.ts.
import { sql } from 'drizzle-orm'
import type { Db } from './index.js'
import { rowsOf } from './queries.js'

export const DAYS_AHEAD = 7
/** How often each instance makes partitions ahead and applies retention. */
export const MAINTENANCE_MS = 60 * 60 * 1000

const NAME = /^events_p(\d{4})(\d{2})(\d{2})_(\d{4})(\d{2})(\d{2})$/

export interface EventPartition {
  name: string
  /** The first instant it holds. */
  from: Date
  /** The first instant it no longer holds. */
  to: Date
}

/** Makes the partitions for today and DAYS_AHEAD days ahead that do not exist yet; how many it made. */
export async function makeEventPartitions(db: Db, daysAhead = DAYS_AHEAD): Promise<number> {
  const [row] = await rowsOf<{ made: number }>(
    db,
    sql`select count(*) filter (where vigil_event_partition(d::date, d::date + 1))::int as made
        from generate_series((now() at time zone 'UTC')::date, (now() at time zone 'UTC')::date + ${daysAhead}::int, interval '1 day') d`
  )
  return row.made
}

/** The partitions of events, oldest first. */
export async function eventPartitions(db: Db): Promise<EventPartition[]> {
  const rows = await rowsOf<{ name: string }>(
    db,
    sql`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'public.events'::regclass`
  )
  const parts: EventPartition[] = []
  for (const { name } of rows) {
    const m = NAME.exec(name)
    if (!m) continue
    parts.push({ name, from: new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])), to: new Date(Date.UTC(+m[4], +m[5] - 1, +m[6])) })
  }
  return parts.sort((a, b) => a.from.getTime() - b.from.getTime())
}
