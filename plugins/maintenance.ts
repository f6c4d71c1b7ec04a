// Storage upkeep, on every instance: makes the partitions of events for the days ahead and, with
// RETENTION_DAYS, drops the days past it (src/db/partitions.ts, src/services/retention.ts), and
// deletes the webhook deliveries finished more than WEBHOOK_DELIVERY_RETENTION_DAYS ago, hourly;
// and counts the alerts of closed hours for stats (src/services/alert-stats.ts), every minute. A
// round runs once the app is ready and then on those schedules, in the background: it never delays
// a start or a request, a failed round is logged and the next one tries again, and instances
// running rounds together are ordered by the database (an advisory lock, the hours' marks).
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { settleWithin } from '../src/closing.js'
import { MAINTENANCE_MS, makeEventPartitions } from '../src/db/partitions.js'
import { countAlertHours } from '../src/services/alert-stats.js'
import { dropExpiredEvents } from '../src/services/retention.js'
import { pruneDeliveries } from '../src/services/webhooks.js'

/** How often alerts of closed hours are counted. */
const COUNT_MS = 60_000

declare module 'fastify' {
  interface FastifyInstance {
    /** Runs a whole round now (after the one in progress, if any); resolves when it is done. */
    maintain(): Promise<void>
  }
}

async function maintenancePlugin(app: FastifyInstance) {
  const { config } = app
  const log = app.log.child({ component: 'maintenance' })
  let running: Promise<void> = Promise.resolve()
  const timers: NodeJS.Timeout[] = []
  let closed = false

  async function round(storage: boolean) {
    try {
      const hours = await countAlertHours(app.db)
      if (hours > 0) log.debug({ hours }, 'counted the alerts of closed hours')
      if (!storage) return
      const made = await makeEventPartitions(app.db)
      if (made > 0) log.info({ partitions: made }, 'made partitions of events ahead')
      if (config.RETENTION_DAYS > 0) {
        for (const d of await dropExpiredEvents(app.db, config.RETENTION_DAYS)) {
          log.info(
            { partition: d.name, from: d.from, to: d.to, events: d.events, alerts: d.alerts, keys: d.keys, incident_links: d.incidentLinks },
            'retention: dropped a partition of events'
          )
        }
      }
      const deliveries = await pruneDeliveries(app.db, config.WEBHOOK_DELIVERY_RETENTION_DAYS)
      if (deliveries > 0) log.info({ deliveries, retention_days: config.WEBHOOK_DELIVERY_RETENTION_DAYS }, 'retention: deleted finished webhook deliveries')
    } catch (err) {
      if (!closed) log.warn({ err: { message: (err as Error).message } }, 'maintenance round failed; the next one tries again')
    }
  }

  const run = (storage: boolean) => (running = running.then(() => round(storage)))
  app.decorate('maintain', () => run(true))
  app.addHook('onReady', async () => {
    void run(true)
    timers.push(setInterval(() => void run(true), MAINTENANCE_MS).unref())
    timers.push(setInterval(() => void run(false), COUNT_MS).unref())
  })
  app.addHook('preClose', async () => {
    closed = true
    for (const timer of timers) clearInterval(timer)
    // A round cut short is safe: each of its steps is a statement or transaction of its own, done again next time.
    await settleWithin(running)
  })
}

export default fp(maintenancePlugin, { name: 'maintenance', dependencies: ['config', 'db'] })
