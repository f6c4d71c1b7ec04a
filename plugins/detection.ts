// Detection: the models every ingested event is evaluated against (src/detection). On start the
// active, ready models are compiled; any change to a model, on any instance, is announced by the
// database (vigil_models, drizzle/0007) and compiles them again. In the background: the models'
// match counters are written every second, the learned baselines waiting for training are
// trained (src/detection/training.ts), correlation groups a crash left undecided are decided, and correlation state past
// every window is dropped. A failed round is logged and the next one tries again.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { sigmaPlaceholders } from '../src/config.js'
import { modelChanges } from '../src/db/channels.js'
import { Detector } from '../src/detection/detector.js'
import { sweepState } from '../src/detection/state.js'
import { trainModels } from '../src/detection/training.js'
import { settleWithin } from '../src/closing.js'

/** How often match counters are written. */
const FLUSH_MS = 1000
/** How often correlation state is swept, and undecided groups caught up with. */
const SWEEP_MS = 60_000
/** How often models waiting for training are looked for (a retrain on this instance starts one at once). */
const TRAIN_MS = 10_000

declare module 'fastify' {
  interface FastifyInstance {
    detector: Detector
    /** Trains the models waiting for it now (after a round in progress); resolves when done. */
    trainModels(): Promise<void>
  }
}

async function detectionPlugin(app: FastifyInstance) {
  const log = app.log.child({ component: 'detection' })
  const sigma = { placeholders: sigmaPlaceholders(app.config) }
  const detector = new Detector(app.db, sigma, log, (model, n) => app.metrics.detected(model, n))
  app.decorate('detector', detector)
  await detector.reload()

  const stop = new AbortController()
  // Until the subscription is confirmed (and again after a gap) the models are read again, so a
  // change made while nobody listened is not missed.
  const reload = () =>
    void detector.reload().catch((err: Error) => log.warn({ err: { message: err.message } }, 'reloading the detection models failed'))
  app.notifications.subscribe(modelChanges, { onMessage: reload, onReady: reload, onGap: () => {} }, { signal: stop.signal })

  const timers: NodeJS.Timeout[] = []
  let closed = false
  const guard = (what: string, job: () => Promise<void>) => async () => {
    try {
      await job()
    } catch (err) {
      if (!closed) log.warn({ err: { message: (err as Error).message } }, `${what} failed; the next round tries again`)
    }
  }
  const flush = guard('writing match counters', () => detector.flush())
  // At start (the detector begins behind) and after a failed decision, the groups left undecided are decided.
  const sweep = guard('sweeping detection state', async () => {
    await sweepState(app.db)
    if (detector.behind) await detector.catchUp()
  })
  const train = guard('training models', async () => {
    const n = await trainModels(app.db, sigma)
    if (n > 0) log.info({ models: n }, 'trained detection models')
  })
  let training: Promise<void> = Promise.resolve()
  app.decorate('trainModels', () => (training = training.then(train)))

  let flushing: Promise<void> = Promise.resolve()
  app.addHook('onReady', async () => {
    void sweep()
    void app.trainModels()
    timers.push(setInterval(() => void app.trainModels(), TRAIN_MS).unref())
    timers.push(
      setInterval(() => {
        flushing = flushing.then(flush)
      }, FLUSH_MS).unref()
    )
    timers.push(setInterval(() => void sweep(), SWEEP_MS).unref())
  })
  app.addHook('preClose', async () => {
    closed = true
    stop.abort()
    for (const t of timers) clearInterval(t)
    // The last counts are written, and a training under way may finish, within the bound: a model
    // whose training is cut short keeps its lease, and the next trainer takes it over when it ends.
    await settleWithin([flushing.then(flush), training])
  })
}

export default fp(detectionPlugin, { name: 'detection', dependencies: ['config', 'db', 'metrics'] })
