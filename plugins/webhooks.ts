// The webhook delivery engine (src/services/webhook-delivery.ts) of this instance: started once
// the app is ready, woken by every alert-outbox notification (vigil_alert_changes) and polled
// besides, stopped on close (attempts under way get a moment to end; the rest are left to their
// lease, and another instance, or this one restarted, attempts them again). Every instance runs
// one: a delivery is attempted by one of them at a time. WEBHOOKS_ENABLED=false leaves it off
// (the routes still work; deliveries wait for an instance that has it on).
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { webhookRetrySchedule } from '../src/config.js'
import { alertChanges } from '../src/db/channels.js'
import { CLOSE_WAIT_MS } from '../src/closing.js'
import { WebhookEngine } from '../src/services/webhook-delivery.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Asks the webhook engine for a round now (a new delivery, a redelivery); nothing when it is off. */
    wakeWebhooks(): void
  }
}

async function webhooksPlugin(app: FastifyInstance) {
  const { config } = app
  if (!config.WEBHOOKS_ENABLED) {
    app.decorate('wakeWebhooks', () => {})
    return
  }
  const engine = new WebhookEngine({
    db: app.db,
    log: app.log.child({ component: 'webhooks' }),
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    schedule: webhookRetrySchedule(config),
    disableAfterDays: config.WEBHOOK_DISABLE_AFTER_DAYS,
    concurrency: config.WEBHOOK_CONCURRENCY,
    onAttempt: (outcome) => app.metrics.webhookAttempt(outcome)
  })
  app.decorate('wakeWebhooks', () => engine.wake())
  const stop = new AbortController()
  app.addHook('onReady', async () => {
    const wake = () => engine.wake()
    app.notifications.subscribe(alertChanges, { onMessage: wake, onReady: wake, onGap: () => {} }, { signal: stop.signal })
    engine.start()
  })
  app.addHook('preClose', async () => {
    stop.abort()
    await engine.stop(Math.min(CLOSE_WAIT_MS, config.WEBHOOK_TIMEOUT_MS))
  })
}

export default fp(webhooksPlugin, { name: 'webhooks', dependencies: ['config', 'db', 'metrics'] })
