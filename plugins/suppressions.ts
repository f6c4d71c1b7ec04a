// Suppressions: the unexpired ones every ingested event is matched against (src/services/
// suppressions.ts, `app.suppressions`). Read at start; any change to one, on any instance, is
// announced by the database (vigil_suppressions, drizzle/0010_triage.sql) and reads them again, as
// does a timer (so ended and expired ones leave memory, and a change missed meanwhile is caught).
// In the background the hits counted are written every second, and once more at close. A failed
// round is logged and the next one tries again.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { suppressionChanges } from '../src/db/channels.js'
import { settleWithin } from '../src/closing.js'
import { SuppressionSet } from '../src/services/suppressions.js'

/** How often hit counters are written. */
const FLUSH_MS = 1000
/** How often the suppressions are read again without being told to. */
const RELOAD_MS = 30_000

declare module 'fastify' {
  interface FastifyInstance {
    suppressions: SuppressionSet
  }
}

async function suppressionsPlugin(app: FastifyInstance) {
  const log = app.log.child({ component: 'suppressions' })
  const set = new SuppressionSet(app.db, log)
  app.decorate('suppressions', set)
  await set.reload()

  let closed = false
  const stop = new AbortController()
  // Until the subscription is confirmed (and again after a gap) they are read again, so a change
  // made while nobody listened is not missed.
  const reload = () =>
    void set.reload().catch((err: Error) => {
      if (!closed) log.warn({ err: { message: err.message } }, 'reading the suppressions failed; the next round tries again')
    })
  app.notifications.subscribe(suppressionChanges, { onMessage: reload, onReady: reload, onGap: () => {} }, { signal: stop.signal })

  const flush = async () => {
    try {
      await set.flush()
    } catch (err) {
      if (!closed) log.warn({ err: { message: (err as Error).message } }, 'writing suppression hits failed; the next round tries again')
    }
  }
  const timers: NodeJS.Timeout[] = []
  let flushing: Promise<void> = Promise.resolve()
  app.addHook('onReady', async () => {
    timers.push(setInterval(reload, RELOAD_MS).unref())
    timers.push(
      setInterval(() => {
        flushing = flushing.then(flush)
      }, FLUSH_MS).unref()
    )
  })
  app.addHook('preClose', async () => {
    stop.abort()
    for (const t of timers) clearInterval(t)
    // The last hits are written within the bound (a database that is away loses them, as it would).
    await settleWithin(flushing.then(flush))
    closed = true
  })
}

export default fp(suppressionsPlugin, { name: 'suppressions', dependencies: ['config', 'db'] })
