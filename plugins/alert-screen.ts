// The alert screen ingestion applies to every event before it is stored
// (src/services/grouping.ts): suppressions (plugins/suppressions.ts) and the grouping of repeats,
// by the configuration and by the detection models' own settings (plugins/detection.ts); and, after
// each committed chunk that raised alerts, the announcement live delivery wakes on.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { groupByFields } from '../src/config.js'
import { alertChanges } from '../src/db/channels.js'
import { Announcer } from '../src/db/notify.js'
import { AlertScreen } from '../src/services/grouping.js'

/** The shortest time between two announcements of ingested alerts from this instance: each wakes every instance's readers, so under steady ingestion they read in rounds this long. */
const ANNOUNCE_MS = 100

declare module 'fastify' {
  interface FastifyInstance {
    alertScreen: AlertScreen
  }
}

async function alertScreenPlugin(app: FastifyInstance) {
  const grouping = { enabled: app.config.ALERT_GROUPING, fields: groupByFields(app.config) }
  const screen = new AlertScreen(grouping, app.suppressions, () => app.detector.groupings)
  app.decorate('alertScreen', screen)
  // The detector's own events (correlation and baseline firings) are screened too.
  app.detector.screen = screen
  // Alerts raised by ingestion reach live delivery on every instance promptly; at most one NOTIFY
  // per ANNOUNCE_MS from this instance, after the commits (src/db/notify.ts Announcer).
  const announcer = new Announcer(app.notifications, alertChanges, null, ANNOUNCE_MS)
  screen.announce = () => announcer.poke()
  app.addHook('onClose', async () => announcer.close())
}

export default fp(alertScreenPlugin, { name: 'alert-screen', dependencies: ['config', 'db', 'detection', 'suppressions'] })
