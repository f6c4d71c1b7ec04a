// The partitioning migration (drizzle/0005) on a database filled under the schema before it: every
// event, alert and incident link survives with its ids and values, keys still make re-sent
// records duplicates, and ids continue where they stopped.
import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { sql, type SQL } from 'drizzle-orm'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import postgres from 'postgres'
import t, { type Test } from 'tap'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { MIGRATIONS_DIR, pgliteDir } from '../src/db/index.js'
import { eventPartitions } from '../src/db/partitions.js'
import { rowsOf } from '../src/db/queries.js'
import { inject, makeUser, TEST_JWT_SECRET } from './helper.js'

const BEFORE = 5 // the migrations before partitioning: 0000 to 0004

/** drizzle/ as it was before the partitioning migration. */
function oldMigrations(dir: string): string {
  const out = join(dir, 'migrations')
  mkdirSync(join(out, 'meta'), { recursive: true })
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_DIR, 'meta', '_journal.json'), 'utf8')) as { entries: { idx: number; tag: string }[] }
  journal.entries = journal.entries.filter((e) => e.idx < BEFORE)
  for (const e of journal.entries) copyFileSync(join(MIGRATIONS_DIR, `${e.tag}.sql`), join(out, `${e.tag}.sql`))
  writeFileSync(join(out, 'meta', '_journal.json'), JSON.stringify(journal))
  return out
}

// Three months of history under the old schema: events every 97 minutes, a third with a sender's
// id, every fifth High (with its alert, in every status), an incident holding alerts from each month.
const FILL = [
  sql`insert into events (source, event_type, severity, description, "timestamp", occurred_at, external_id, attributes, updated_at)
      select 'host-' || (i % 7), (array['intrusion','malware','anomaly'])[1 + i % 3]::event_type,
             case when i % 5 = 0 then 'High' else 'Low' end::severity, 'event ' || i,
             now() - i * interval '97 minutes' - interval '3.000321 seconds', now() - i * interval '97 minutes' - interval '1 minute',
             case when i % 3 = 0 then 'ext-' || i end, jsonb_build_object('n', i, 'nested', jsonb_build_object('k', 'v')),
             now() - i * interval '97 minutes'
      from generate_series(1, 1400) i order by i desc`,
  sql`insert into alerts (event_id, status, severity, event_type, source, created_at, updated_at)
      select id, (array['Open','Acknowledged','Resolved'])[1 + id % 3]::alert_status, severity, event_type, source, "timestamp", "timestamp"
      from events where severity = 'High'`,
  sql`insert into incidents (title, severity) values ('three months of it', 'High')`,
  sql`insert into incident_alerts (incident_id, alert_id) select 1, id from alerts where id % 40 = 0`
]

const SNAPSHOT = {
  events: sql`select coalesce(json_agg(e order by id), '[]')::text as rows
              from (select id, source, event_type, severity, description, "timestamp", occurred_at, external_id, attributes, updated_at from events) e`,
  alerts: sql`select coalesce(json_agg(a order by id), '[]')::text as rows
              from (select id, event_id, status, severity, event_type, source, created_at, updated_at from alerts) a`,
  links: sql`select coalesce(json_agg(l order by alert_id), '[]')::text as rows from (select incident_id, alert_id from incident_alerts) l`
}

interface OldDatabase {
  run(query: SQL): Promise<void>
  snapshot(query: SQL): Promise<string>
  close(): Promise<void>
  /** The app's configuration for this database. */
  config: { DATABASE_URL?: string; DATA_DIR: string }
}

async function oldPostgres(t: Test, folder: string): Promise<OldDatabase> {
  const base = process.env.TEST_DATABASE_URL!
  const name = `vigil_migration_${randomBytes(6).toString('hex')}`
  const admin = postgres(base, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  t.teardown(async () => {
    await admin.unsafe(`drop database if exists ${name} with (force)`)
    await admin.end()
  })
  const url = new URL(base)
  url.pathname = `/${name}`
  const client = postgres(url.toString(), { max: 1, onnotice: () => {} })
  const db = drizzlePostgres(client)
  await migratePostgres(db, { migrationsFolder: folder })
  return {
    run: async (q) => void (await db.execute(q)),
    snapshot: async (q) => ((await db.execute(q)) as unknown as { rows: string }[])[0].rows,
    close: () => client.end(),
    config: { DATABASE_URL: url.toString(), DATA_DIR: 'memory://' }
  }
}

async function oldPglite(t: Test, dir: string, folder: string): Promise<OldDatabase> {
  const dataDir = join(dir, 'data')
  mkdirSync(pgliteDir(dataDir), { recursive: true })
  const client = new PGlite(pgliteDir(dataDir))
  const db = drizzlePglite(client)
  await migratePglite(db, { migrationsFolder: folder })
  return {
    run: async (q) => void (await db.execute(q)),
    snapshot: async (q) => ((await db.execute(q)) as unknown as { rows: { rows: string }[] }).rows[0].rows,
    close: () => client.close(),
    config: { DATA_DIR: dataDir }
  }
}

t.test('the partitioning migration keeps every row of a filled database', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-migration-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const folder = oldMigrations(dir)
  const old = process.env.TEST_DATABASE_URL ? await oldPostgres(t, folder) : await oldPglite(t, dir, folder)
  for (const q of FILL) await old.run(q)
  const before = {
    events: await old.snapshot(SNAPSHOT.events),
    alerts: await old.snapshot(SNAPSHOT.alerts),
    links: await old.snapshot(SNAPSHOT.links)
  }
  await old.close()

  const config = loadConfig({}, { NODE_ENV: 'test', LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET, INGEST_MAX_EVENT_LOOP_DELAY_MS: 0, ...old.config })
  const app = await buildApp({ config })
  t.teardown(() => app.close())
  await app.ready()
  const snap = async (q: SQL) => (await rowsOf<{ rows: string }>(app.db, q))[0].rows

  const events = JSON.parse(await snap(SNAPSHOT.events)) as { id: number; timestamp: string; external_id: string | null; source: string }[]
  t.equal(events.length, 1400, 'every event moved')
  t.equal(await snap(SNAPSHOT.events), before.events, 'each with its id and every value as it was, to the microsecond')
  t.equal(await snap(SNAPSHOT.alerts), before.alerts, 'every alert as it was')
  t.equal(await snap(SNAPSHOT.links), before.links, "every incident's links as they were")

  const [refs] = await rowsOf<{ unmatched: number; keys: number; with_id: number }>(
    app.db,
    sql`select (select count(*)::int from alerts a join events e on e.id = a.event_id where e."timestamp" <> a.event_timestamp) as unmatched,
               (select count(*)::int from event_keys) as keys,
               (select count(*)::int from events where external_id is not null) as with_id`
  )
  t.equal(refs.unmatched, 0, "each alert refers to its event's (id, timestamp)")
  t.equal(refs.keys, refs.with_id, 'a key for every event with a sender id')

  // Months before the current one are a partition each; the current month on, a day each.
  const parts = await eventPartitions(app.db)
  const oldest = new Date(events[0].timestamp)
  const firstMonth = `events_p${oldest.toISOString().slice(0, 7).replace('-', '')}01_`
  t.ok(parts.some((p) => p.name.startsWith(firstMonth) && p.to.getUTCDate() === 1 && p.to.getTime() - p.from.getTime() > 27 * 86400_000), 'the oldest month is one partition')
  const [{ today }] = await rowsOf<{ today: string }>(app.db, sql`select to_char(now() at time zone 'UTC', 'YYYYMMDD') as today`)
  t.ok(parts.some((p) => p.name.startsWith(`events_p${today}_`)), 'today has its own partition')

  const { auth } = await makeUser(app, 'admin')
  const keyed = events.find((e) => e.external_id !== null)!
  const again = await inject(app, { method: 'POST', url: '/api/events/', headers: auth, payload: { source: keyed.source, event_type: 'intrusion', severity: 'Low', external_id: keyed.external_id } })
  t.equal(again.status, 409, 'a record stored before the migration is still a duplicate (REST)')
  const bulk = await inject(app, {
    method: 'POST',
    url: '/api/events/bulk',
    headers: { ...auth, 'content-type': 'application/x-ndjson' },
    payload: JSON.stringify({ source: keyed.source, event_type: 'intrusion', severity: 'Low', external_id: keyed.external_id })
  })
  t.match(bulk.body, { accepted: 0, duplicates: 1 }, 'and through bulk')
  const fresh = await inject(app, { method: 'POST', url: '/api/events/', headers: auth, payload: { source: 'after', event_type: 'malware', severity: 'Critical' } })
  t.equal(fresh.status, 201)
  t.ok(fresh.body.id > Math.max(...events.map((e) => e.id)), 'ids continue after the last one stored')
  const got = await inject(app, { method: 'GET', url: `/api/events/${events[0].id}/`, headers: auth })
  t.equal(got.status, 200, 'the oldest event is readable by id')
  const gone = await inject(app, { method: 'DELETE', url: `/api/events/${keyed.id}/`, headers: auth })
  t.equal(gone.status, 204, 'an old event can be deleted')
  const resent = await inject(app, { method: 'POST', url: '/api/events/', headers: auth, payload: { source: keyed.source, event_type: 'intrusion', severity: 'Low', external_id: keyed.external_id } })
  t.equal(resent.status, 201, 'and its key goes with it')
})
