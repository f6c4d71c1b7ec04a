// Makes the validated configuration available as `app.config`. The app factory receives the
// config object (built by src/config.ts), so tests inject values without touching process.env.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../src/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

async function configPlugin(app: FastifyInstance, opts: { config: Config }) {
  app.decorate('config', opts.config)
}

export default fp(configPlugin, { name: 'config' })
