// Bulk changes by filter (issue 12): a job over every alert the filter matches when it is asked
// for, with exact counts, nothing applied twice, alerts raised later untouched, and on PostgreSQL
// a job over 100,000 alerts interrupted by a crash of its instance and resumed by another while
// ingestion and listing go on.
import { sql } from 'drizzle-orm'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { rowsOf } from '../src/db/queries.js'
import { build, eventually, inject, makeUser, onPostgres, type TestUser } from './helper.js'

const job = async (app: FastifyInstance, by: TestUser, id: number) => (await inject(app, { method: 'GET', url: `/api/alerts/bulk/${id}/`, headers: by.auth })).body
const done = (app: FastifyInstance, by: TestUser, id: number, ms: number) => eventually(async () => (await job(app, by, id)).state === 'done', ms)

/** `n` High events of `source` and their alerts, written in SQL: the subject here is the job, not ingestion. */
async function seed(app: FastifyInstance, source: string, n: number) {
  await app.db.execute(sql`
    with e as (
      insert into events (source, event_type, severity) select ${source}, 'intrusion', 'High' from generate_series(1, ${n}::int)
      returning id, "timestamp", source
    ) insert into alerts (event_id, event_timestamp, severity, event_type, source) select id, "timestamp", 'High', 'intrusion', source from e`)
}

const count = async (app: FastifyInstance, query: ReturnType<typeof sql>) => (await rowsOf<{ n: number }>(app.db, query))[0].n

t.test('a job by filter: its set fixed when asked for, counts exact, each alert changed once', async (t) => {
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  const responder = await makeUser(app, 'responder')
  const analyst = await makeUser(app, 'analyst')
  await seed(app, 'scanner', 30)
  await seed(app, 'other', 10)
  const ids = (await rowsOf<{ id: number }>(app.db, sql`select id from alerts where source = 'scanner' order by id limit 5`)).map((r) => Number(r.id))
  const resolved = await inject(app, { method: 'POST', url: '/api/alerts/bulk/', headers: admin.auth, payload: { ids, set: { status: 'Resolved', verdict: 'other' } } })
  t.equal(resolved.body.updated, 5)

  const body = { filter: { source: 'scanner' }, set: { status: 'Acknowledged', assignee: responder.user.id, add_tags: ['bulk'] } }
  t.equal((await inject(app, { method: 'POST', url: '/api/alerts/bulk/', headers: analyst.auth, payload: body })).status, 403, 'analysts do not triage')
  const both = await inject(app, { method: 'POST', url: '/api/alerts/bulk/', headers: responder.auth, payload: { ...body, ids: [1] } })
  t.equal(both.status, 400, 'ids or filter, not both')
  const r = await inject(app, { method: 'POST', url: '/api/alerts/bulk/', headers: responder.auth, payload: body })
  t.equal(r.status, 202)
  t.equal(r.headers.location, `/api/alerts/bulk/${r.body.id}/`)
  // Raised after the job was asked for: not in its set, whenever the job starts.
  await seed(app, 'scanner', 3)
  t.ok(await done(app, responder, r.body.id, 30_000), 'the job finishes')
  const j = await job(app, responder, r.body.id)
  t.equal(j.matched, 30, 'the 30 alerts that matched when it was asked for')
  t.equal(j.updated, 25)
  t.same(j.skipped, { transition_not_allowed: 5 }, 'the resolved ones cannot be acknowledged')
  t.equal(j.failed, 0)
  t.ok(j.started_at && j.finished_at)

  t.equal(await count(app, sql`select count(*)::int as n from alerts where source = 'scanner' and status = 'Acknowledged' and version = 2 and assignee_id = ${responder.user.id}::bigint and tags = array['bulk']`), 25, 'each changed exactly once')
  t.equal(await count(app, sql`select count(*)::int as n from alerts where source = 'scanner' and status = 'Open'`), 3, 'the later ones are untouched')
  t.equal(await count(app, sql`select count(*)::int as n from alerts where source = 'other' and status = 'Open' and version = 1`), 10, 'other alerts are untouched')
  t.equal(await count(app, sql`select count(*)::int as n from alert_history h join alerts a on a.id = h.alert_id where a.source = 'scanner' and h.action = 'changed' and h.actor = ${responder.user.username}`), 25, 'in each changed alert’s history, as the job’s creator')
  t.equal(await count(app, sql`select count(*)::int as n from audit_log where action = 'alert.bulk_job_created' and actor_id = ${responder.user.id}::bigint`), 1, 'the job is audited')

  const listed = await inject(app, { method: 'GET', url: '/api/alerts/bulk/', headers: analyst.auth })
  t.equal(listed.body[0].id, r.body.id, 'jobs are listed, newest first')
  t.equal((await inject(app, { method: 'GET', url: '/api/alerts/bulk/999999/', headers: analyst.auth })).status, 404)

  const bad = await inject(app, { method: 'POST', url: '/api/alerts/bulk/', headers: responder.auth, payload: { filter: { severity: 'Extreme' }, set: { status: 'Open' } } })
  t.equal(bad.status, 400, 'the filter is validated as the list validates it')
})

// PostgreSQL only: a second connection holds the jobs unfinished.
if (onPostgres) t.test('a user has at most 3 unfinished jobs', async (t) => {
  const app = await build(t)
  const responder = await makeUser(app, 'responder')
  const other = await makeUser(app, 'responder')
  await seed(app, 'held', 3)
  const ids = (await rowsOf<{ id: number }>(app.db, sql`select id from alerts order by id`)).map((r) => Number(r.id))
  // Three jobs, each with one alert in its set, whose rows another connection holds locked: they
  // cannot finish meanwhile.
  const holder = (await import('postgres')).default(app.config.DATABASE_URL!, { max: 1, onnotice: () => {} })
  t.teardown(() => holder.end())
  const jobs = await holder`insert into bulk_jobs (created_by_id, state, filter, change, max_alert_id)
    select ${responder.user.id}, 'running', '{}', '{"status":"Acknowledged"}', 0 from generate_series(1, 3) returning id`
  for (const [i, j] of jobs.entries()) await holder`insert into bulk_job_items (job_id, alert_id, version) values (${j.id}, ${ids[i]}, 1)`
  const held = holder.reserve()
  const conn = await held
  await conn`begin`
  await conn`select 1 from alerts for update`
  await conn`select 1 from bulk_jobs for update`
  const over = await inject(app, { method: 'POST', url: '/api/alerts/bulk/', headers: responder.auth, payload: { filter: { source: 'x' }, set: { status: 'Acknowledged' } } })
  t.equal(over.status, 409, 'a fourth is refused')
  t.equal(over.body.code, 'conflict')
  t.match(over.body.detail, '3 bulk jobs unfinished')
  const theirs = await inject(app, { method: 'POST', url: '/api/alerts/bulk/', headers: other.auth, payload: { filter: { source: 'x' }, set: { status: 'Acknowledged' } } })
  t.equal(theirs.status, 202, "another user's are not counted")
  await conn`rollback`
  conn.release()
  t.ok(await done(app, responder, Number(jobs[0].id), 30_000), 'once free, the held jobs finish')
  const after = await inject(app, { method: 'POST', url: '/api/alerts/bulk/', headers: responder.auth, payload: { filter: { source: 'x' }, set: { status: 'Acknowledged' } } })
  t.equal(after.status, 202, 'and the user may ask again once they finish')
  t.ok(await eventually(async () => (await Promise.all(jobs.map((j) => job(app, responder, Number(j.id))))).every((j) => j.state === 'done'), 30_000))
})

// PostgreSQL only: the size, and the crash (cutting the instance's connections).
if (onPostgres) t.test('100,000 alerts: a crash mid-job, resumed by another instance, counts exact, nothing twice', async (t) => {
  const N = 100_000
  const first = await build(t, { BULK_JOB_BATCH: 2000 })
  const url = first.config.DATABASE_URL!
  const responder = await makeUser(first, 'responder')
  const admin = await makeUser(first, 'admin')
  await seed(first, 'noisy', N)
  await seed(first, 'quiet', 100)
  // Some alerts change while the job runs: they are skipped as moved, not overwritten.
  const r = await inject(first, { method: 'POST', url: '/api/alerts/bulk/', headers: responder.auth, payload: { filter: { source: 'noisy', status: 'Open' }, set: { status: 'Resolved', verdict: 'benign_positive', reason: 'noisy rule' } } })
  t.equal(r.status, 202)
  t.ok(await eventually(async () => (await job(first, responder, r.body.id)).updated >= 10_000, 60_000), 'the job is under way')
  const moved = await rowsOf<{ id: number }>(first.db, sql`select a.id from alerts a join bulk_job_items i on i.alert_id = a.id where i.job_id = ${r.body.id}::bigint order by a.id desc limit 10`)
  const movedIds = moved.map((m) => Number(m.id))
  const touched = await inject(first, { method: 'POST', url: '/api/alerts/bulk/', headers: responder.auth, payload: { ids: movedIds, set: { add_tags: ['moved'] } } })
  t.equal(touched.body.updated, movedIds.length)

  // The crash: every connection of the first instance is cut (a batch in flight rolls back), then it goes.
  const server = (await import('postgres')).default(process.env.TEST_DATABASE_URL!, { max: 1, onnotice: () => {} })
  const dbName = new URL(url).pathname.slice(1)
  await server.unsafe(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${dbName}' and pid <> pg_backend_pid()`)
  await server.end()
  await first.close().catch(() => {})
  const look = (await import('postgres')).default(url, { max: 1, onnotice: () => {} })
  const [mid] = await look`select updated, matched from bulk_jobs where id = ${r.body.id}`
  await look.end()
  t.ok(Number(mid.updated) < N - movedIds.length, `interrupted part way (${mid.updated} of ${mid.matched})`)
  const second = await build(t, { DATABASE_URL: url, BULK_JOB_BATCH: 2000 })

  // Ingestion and listing go on while the second instance resumes it.
  const ingest = Promise.all(
    Array.from({ length: 20 }, () => inject(second, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 'noisy', event_type: 'intrusion', severity: 'High' } }))
  )
  const listing = Promise.all(Array.from({ length: 10 }, () => inject(second, { method: 'GET', url: '/api/alerts/?source=noisy&status=Open', headers: responder.auth })))
  t.ok(await done(second, responder, r.body.id, 240_000), 'resumed and finished')
  const lists = await listing
  t.ok(lists.every((l) => l.status === 200), 'listing went on')
  t.ok((await ingest).every((e) => e.status === 201), 'ingestion went on')

  const end = await job(second, responder, r.body.id)
  t.equal(end.matched, N, 'matched: exactly the alerts that matched')
  t.equal(end.updated, N - movedIds.length)
  t.same(end.skipped, { version_moved: movedIds.length }, 'the alerts changed meanwhile were skipped, with why')
  t.equal(end.failed, 0)
  t.equal(await count(second, sql`select count(*)::int as n from alerts where source = 'noisy' and status = 'Resolved' and verdict = 'benign_positive' and version = 2`), N - movedIds.length, 'each changed exactly once')
  t.equal(await count(second, sql`select count(*)::int as n from alert_history h join alerts a on a.id = h.alert_id where a.source = 'noisy' and h.action = 'changed' and h.after->>'status' = 'Resolved'`), N - movedIds.length, 'one history row each')
  t.equal(await count(second, sql`select count(*)::int as n from alerts where source = 'noisy' and status = 'Open'`), movedIds.length + 20, 'the moved ones and those raised meanwhile stay Open')
  t.equal(await count(second, sql`select count(*)::int as n from alerts where source = 'quiet' and version = 1`), 100, 'others untouched')
})
