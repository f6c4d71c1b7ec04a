// The server entry: loads configuration, builds the app (which ensures the bootstrap admin), listens,
// and shuts down gracefully on SIGTERM/SIGINT (stop accepting, finish in-flight requests within
// a bound, close the pool, exit 0).
//
// With WORKERS above 1 this process becomes the workers' supervisor (node:cluster): it loads the
// configuration first (so a development JWT secret is made once, before any worker reads it), forks
// the workers, which share the listening socket and are the instances the README's "Several
// instances" describes, replaces one that dies after it started listening, and passes SIGTERM and
// SIGINT on. A worker that fails before listening (a bad database URL, say) stops the whole start:
// forking it again would fail the same way.
import cluster, { type Worker } from 'node:cluster'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'

const SHUTDOWN_GRACE_MS = 10_000
/** A worker that dies is replaced after this pause, so a crash loop cannot spin. */
const RESPAWN_DELAY_MS = 1000

async function main() {
  let config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
  if (config.WORKERS > 1 && cluster.isPrimary) return supervise(config.WORKERS)
  const app = await buildApp({ config })
  let closing = false
  const shutdown = (signal: string) => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down')
    const timer = setTimeout(() => {
      app.log.error('graceful shutdown timed out; exiting')
      process.exit(1)
    }, SHUTDOWN_GRACE_MS)
    timer.unref()
    app.close().then(
      () => process.exit(0),
      (err) => {
        app.log.error({ err }, 'error during shutdown')
        process.exit(1)
      }
    )
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
  await app.listen({ host: config.HOST, port: config.PORT })
}

function supervise(workers: number) {
  const say = (msg: string) => process.stderr.write(`vigil supervisor: ${msg}\n`)
  const listening = new WeakSet<Worker>()
  let stopping: NodeJS.Signals | undefined
  let failed = false
  cluster.on('listening', (worker) => listening.add(worker))
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      // Ended by the signal passed on (a worker still starting has no handler for it yet) is a clean stop.
      if (code !== 0 && signal !== stopping) failed = true
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(failed ? 1 : 0)
      return
    }
    if (!listening.has(worker)) {
      say(`worker ${worker.process.pid} failed to start (exit ${code ?? signal}); stopping`)
      failed = true
      stop('SIGTERM')
      return
    }
    say(`worker ${worker.process.pid} died (exit ${code ?? signal}); starting another`)
    setTimeout(() => stopping || cluster.fork(), RESPAWN_DELAY_MS).unref()
  })
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = signal
    const alive = Object.values(cluster.workers ?? {})
    if (alive.length === 0) process.exit(failed ? 1 : 0)
    for (const worker of alive) worker?.process.kill(signal)
    // The workers' own grace bound, and a little more for them to exit.
    setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS + 2000).unref()
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  for (let i = 0; i < workers; i++) cluster.fork()
}

main().catch((err) => {
  process.stderr.write(`Vigil failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
