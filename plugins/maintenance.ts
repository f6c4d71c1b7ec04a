// Storage upkeep, on every instance: makes the partitions of events for the days ahead and, with
// RETENTION_DAYS, drops the days past it (src/db/partitions.ts, src/services/retention.ts). A round
// runs once the app is ready and then every MAINTENANCE_MS, in the background: it never delays a
// start or a request, a failed round is logged and the next one tries again, and instances running
// rounds together are ordered by an advisory lock in the database.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { MAINTENANCE_MS, makeEventPartitions } from '../src/db/partitions.js'
import { dropExpiredEvents } from '../src/services/retention.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Runs a round now (after the one in progress, if any); resolves when it is done. */
    maintain(): Promise<void>
  }
}

async function maintenancePlugin(app: FastifyInstance) {
  const { config } = app
  const log = app.log.child({ component: 'maintenance' })
  let running: Promise<void> = Promise.resolve()
  let timer: NodeJS.Timeout | undefined
  let closed = false

  async function round() {
    try {
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
    } catch (err) {
      if (!closed) log.warn({ err: { message: (err as Error).message } }, 'maintenance round failed; the next one tries again')
    }
  }

  app.decorate('maintain', () => (running = running.then(round)))
  app.addHook('onReady', async () => {
    void app.maintain()
    timer = setInterval(() => void app.maintain(), MAINTENANCE_MS).unref()
  })
  app.addHook('preClose', async () => {
    closed = true
    clearInterval(timer)
    await running
  })
}

export default fp(maintenancePlugin, { name: 'maintenance', dependencies: ['config', 'db'] })
