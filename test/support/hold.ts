import type { FastifyInstance } from 'fastify'

/**
 * Holds every insert into events from outside the request: on PostgreSQL a lock on the table
 * taken by another connection; on PGlite (one connection) an open transaction, which every other
 * statement waits behind (so nothing that needs the database gets in: authenticate with a token
 * whose user is cached). `waiting` says whether a request's insert is held.
 */
export async function holdInserts(app: FastifyInstance) {
  const pg = app.database.pg
  if (pg) {
    const conn = await pg.reserve()
    await conn`begin`
    await conn`lock table events in exclusive mode`
    return {
      waiting: async () => {
        const [{ n }] = await pg`select count(*)::int as n from pg_locks where relation = 'events'::regclass and not granted`
        return n > 0
      },
      release: async () => {
        await conn`commit`
        conn.release()
      }
    }
  }
  let release!: () => void
  const held = new Promise<void>((resolve) => (release = resolve))
  let began!: () => void
  const holding = new Promise<void>((resolve) => (began = resolve))
  const done = app.db.transaction(async () => {
    began()
    await held
  })
  await holding
  return {
    // Nothing else can run meanwhile: a request at work can only be waiting for the database.
    waiting: async () => app.ingestGate.working === 1,
    release: async () => {
      release()
      await done
    }
  }
}
