// The runner of bulk jobs (src/services/bulk-jobs.ts): every instance runs one. It looks for work
// on a timer, and at once when this instance is asked for a job; several instances share the
// work safely (the service takes jobs and items with SKIP LOCKED). Closing stops it between
// batches; a batch in flight commits or leaves its items for the next runner.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { settleWithin } from '../src/closing.js'
import { runBulkJobs } from '../src/services/bulk-jobs.js'

/** How often an idle runner looks for jobs (another instance's, or one left by a restart). */
const POLL_MS = 2000

declare module 'fastify' {
  interface FastifyInstance {
    /** Works the bulk jobs now (after a round in progress); resolves when none has work left. */
    runBulkJobs(): Promise<void>
  }
}

async function bulkJobsPlugin(app: FastifyInstance) {
  const log = app.log.child({ component: 'bulk-jobs' })
  const stop = new AbortController()
  const rules = { verdictRequired: app.config.VERDICT_REQUIRED }
  const size = app.config.BULK_JOB_BATCH
  let running: Promise<void> | undefined
  let again = false

  const round = async () => {
    try {
      await runBulkJobs(app.db, rules, stop.signal, size)
    } catch (err) {
      if (!stop.signal.aborted) log.warn({ err: { message: (err as Error).message } }, 'working bulk jobs failed; the next round tries again')
    }
  }
  // One round at a time; a request during a round makes one more after it.
  const run = (): Promise<void> => {
    if (running) {
      again = true
      return running
    }
    running = round().finally(() => {
      running = undefined
      if (again && !stop.signal.aborted) {
        again = false
        void run()
      }
    })
    return running
  }
  app.decorate('runBulkJobs', run)

  let timer: NodeJS.Timeout | undefined
  app.addHook('onReady', async () => {
    void run()
    timer = setInterval(() => void run(), POLL_MS).unref()
  })
  app.addHook('preClose', async () => {
    stop.abort()
    clearInterval(timer)
    // The round stops after its batch; a batch stuck on a database that is away is not waited
    // for beyond the bound: its transaction commits or rolls back on its own, and its items
    // stay for the next runner, so nothing is applied twice or lost.
    if (running) await settleWithin(running)
  })
}

export default fp(bulkJobsPlugin, { name: 'bulk-jobs', dependencies: ['config', 'db'] })
