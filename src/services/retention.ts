// Retention (RETENTION_DAYS): drops a partition of events (src/db/partitions.ts) once every event
// in it is older than the bound, so events are kept between RETENTION_DAYS and one day more. What
// refers to them goes first, in the same transaction: their alerts (and with them the alerts'
// links to incidents; the incidents stay, and the audit trail records which alerts each lost) and
// their keys, so nothing refers to a dropped event and a re-sent record is stored again. The
// foreign key from alerts to events makes a forgotten reference an error, never a dangling row.
import { sql } from 'drizzle-orm'
import type { Db } from '../db/index.js'
import { eventPartitions, type EventPartition } from '../db/partitions.js'
import { rowsOf } from '../db/queries.js'
import { expireAlerts } from './alerts.js'
import { recordAudit } from './audit.js'

export interface DroppedPartition extends EventPartition {
  events: number
  alerts: number
  keys: number
  incidentLinks: number
}

/**
 * Drops the partitions whose every event is older than `retentionDays` days, with the alerts and
 * keys of their events, oldest first; each in a transaction of its own, audited. Several instances
 * may run it at once: the advisory lock orders them and a partition already gone is skipped.
 */
export async function dropExpiredEvents(db: Db, retentionDays: number): Promise<DroppedPartition[]> {
  const [{ cutoff }] = await rowsOf<{ cutoff: Date | string }>(db, sql`select now() - make_interval(days => ${retentionDays}::int) as cutoff`)
  const bound = new Date(cutoff).getTime()
  const dropped: DroppedPartition[] = []
  for (const part of await eventPartitions(db)) {
    if (part.to.getTime() > bound) break
    const done = await dropPartition(db, part)
    if (done) dropped.push(done)
  }
  return dropped
}

async function dropPartition(db: Db, part: EventPartition): Promise<DroppedPartition | null> {
  return db.transaction(async (tx) => {
    // Detaching takes an exclusive lock on events: wait for it a bounded time (the next round
    // tries again) rather than queue every insert and list behind a long query.
    await tx.execute(sql`set local lock_timeout = '10s'`)
    await tx.execute(sql`select pg_advisory_xact_lock(727276)`)
    const [exists] = await rowsOf<{ ok: boolean }>(tx, sql`select to_regclass(${`public.${part.name}`}) is not null as ok`)
    if (!exists.ok) return null
    const { alerts, links } = await expireAlerts(tx, part.from, part.to)
    const [keyCount] = await rowsOf<{ n: number }>(tx,
      sql`with d as (delete from event_keys where event_timestamp >= ${part.from.toISOString()}::timestamptz
                                             and event_timestamp < ${part.to.toISOString()}::timestamptz returning 1)
          select count(*)::int as n from d`
    )
    const [eventCount] = await rowsOf<{ n: number }>(tx, sql`select count(*)::int as n from ${sql.identifier(part.name)}`)
    await tx.execute(sql`alter table events detach partition ${sql.identifier(part.name)}`)
    await tx.execute(sql`drop table ${sql.identifier(part.name)}`)
    const byIncident = new Map<number, number[]>()
    for (const l of links) {
      const list = byIncident.get(l.incidentId) ?? []
      list.push(l.alertId)
      byIncident.set(l.incidentId, list)
    }
    const actor = { label: 'retention' }
    for (const [incident, alertIds] of byIncident) {
      await recordAudit(tx, actor, {
        action: 'incident.alerts_expired',
        targetType: 'incident',
        targetId: incident,
        before: { alerts: alertIds.sort((a, b) => a - b) }
      })
    }
    const result = { ...part, events: eventCount.n, alerts, keys: keyCount.n, incidentLinks: links.length }
    await recordAudit(tx, actor, {
      action: 'events.expired',
      targetType: 'partition',
      targetId: part.name,
      after: { from: part.from.toISOString(), to: part.to.toISOString(), events: result.events, alerts: result.alerts, incident_links: result.incidentLinks }
    })
    return result
  })
}
