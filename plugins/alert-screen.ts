// The alert screen ingestion applies to every event before it is stored
// (src/services/grouping.ts): suppressions (plugins/suppressions.ts) and the grouping of repeats,
// by the configuration and by the detection models' own settings (plugins/detection.ts).
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { groupByFields } from '../src/config.js'
import { AlertScreen } from '../src/services/grouping.js'

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
}

export default fp(alertScreenPlugin, { name: 'alert-screen', dependencies: ['config', 'detection', 'suppressions'] })
