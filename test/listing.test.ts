// Lists: the DRF envelope, page bounds, newest-first order with an id tie-breaker, every filter
// and their combinations, for events and alerts; cursor pages that stay stable while rows arrive;
// bounded counts; and, on PostgreSQL at a realistic size, every list read in index order.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import postgres from 'postgres'
import { eq, sql } from 'drizzle-orm'
import { alerts, events } from '../src/db/schema.js'
import { pageQuery, pageQueryText, type PageParams, type PageSource } from '../src/pagination.js'
import { alertList } from '../src/services/alerts.js'
import { responseTimes } from '../src/services/alert-stats.js'
import { auditList } from '../src/services/audit.js'
import { eventList } from '../src/services/events.js'
import { rfc3339 } from '../src/views.js'
import { incidentList } from '../src/services/incidents.js'
import { build, eventually, freshDatabaseUrl, inject, makeRoles, onPostgres, partitionDays } from './helper.js'

const SEVERITIES = ['Low', 'Medium', 'High', 'Critical']
const TYPES = ['intrusion', 'malware', 'anomaly']
const SOURCES = ['fw-1', 'ids-2']

async function seed(app: any, admin: any) {
  // 24 events: every severity x type x source; timestamps one hour apart, oldest first.
  const created: any[] = []
  for (const severity of SEVERITIES)
    for (const event_type of TYPES)
      for (const source of SOURCES) {
        const res = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source, event_type, severity } })
        created.push(res.body)
      }
  const base = Date.parse('2026-01-01T00:00:00Z')
  await partitionDays(app, new Date(base), new Date(base + created.length * 3600_000))
  for (const [i, e] of created.entries()) {
    const at = new Date(base + i * 3600_000)
    await app.db.update(events).set({ timestamp: at }).where(eq(events.id, e.id))
    await app.db.update(alerts).set({ createdAt: at }).where(eq(alerts.eventId, e.id))
    e.at = at.toISOString()
  }
  return created
}

t.test('events list: envelope, order, pagination, filters', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const created = await seed(app, admin)
  const get = (qs: string) => inject(app, { method: 'GET', url: `/api/events/${qs}`, headers: admin.auth })

  const first = await get('')
  t.equal(first.status, 200)
  t.same(Object.keys(first.body).sort(), ['count', 'count_estimated', 'next', 'previous', 'results'])
  t.equal(first.body.count, 24)
  t.equal(first.body.count_estimated, false)
  t.equal(first.body.results.length, 20, 'default page size is 20')
  t.equal(first.body.previous, null)
  t.match(first.body.next, /^http:\/\/localhost\/api\/events\/\?cursor=[A-Za-z0-9_-]+$/, 'next carries a cursor')
  t.equal(first.body.results[0].id, created[23].id, 'newest first')

  const second = await inject(app, { method: 'GET', url: first.body.next.replace('http://localhost', ''), headers: admin.auth })
  t.equal(second.body.results.length, 4)
  t.equal(second.body.next, null)
  t.match(second.body.previous, /\?cursor=/)
  const ids = [...first.body.results, ...second.body.results].map((e: any) => e.id)
  t.same(ids, created.map((e) => e.id).reverse(), 'two pages cover every event once, in order')
  const back = await inject(app, { method: 'GET', url: second.body.previous.replace('http://localhost', ''), headers: admin.auth })
  t.same(back.body.results.map((e: any) => e.id), first.body.results.map((e: any) => e.id), 'previous leads back to the first page')
  t.equal(back.body.previous, null, 'which has nothing before it')

  const byNumber = await get('?page=1')
  t.equal(byNumber.body.next, 'http://localhost/api/events/?page=2', 'with page=N, links carry page numbers')
  const secondByNumber = await get('?page=2')
  t.same(secondByNumber.body.results.map((e: any) => e.id), second.body.results.map((e: any) => e.id))
  t.equal(secondByNumber.body.previous, 'http://localhost/api/events/')

  const sized = await get('?page_size=5&page=2&severity=High')
  t.equal(sized.status, 200)
  t.equal(sized.body.count, 6)
  t.equal(sized.body.results.length, 1, 'last partial page')
  t.equal(sized.body.next, null)
  t.notMatch(sized.body.previous, /[?&]page=/, 'the link to page 1 carries no page number')
  t.match(sized.body.previous, /page_size=5/)
  // Links keep the other parameters as the client wrote them, in its order, and drop every page
  // and cursor (a name percent-encoded too); the host as a URL writes it (no default port).
  const written = await inject(app, { method: 'GET', url: '/api/events/?source=fw%2D1&page=1&page_size=3&&cursor%5F=x&event_type=malware', headers: { ...admin.auth, host: 'LocalHost:80' } })
  t.equal(written.status, 200)
  t.equal(written.body.next, 'http://localhost/api/events/?source=fw%2D1&page_size=3&cursor%5F=x&event_type=malware&page=2', 'page links: the rest of the query untouched')
  const walked = await inject(app, { method: 'GET', url: '/api/events/?page_size=3&source=fw%2D1', headers: { ...admin.auth, host: 'localhost:8080' } })
  t.match(walked.body.next, /^http:\/\/localhost:8080\/api\/events\/\?page_size=3&source=fw%2D1&cursor=[\w-]+$/, 'a cursor link, a port that is not the default kept')
  const again = await inject(app, { method: 'GET', url: new URL(walked.body.next).pathname + new URL(walked.body.next).search, headers: { ...admin.auth, host: 'localhost:8080' } })
  t.match(again.body.next, /\?page_size=3&source=fw%2D1&cursor=[\w-]+$/, 'the old cursor replaced, not repeated')
  t.match(again.body.previous, /\?page_size=3&source=fw%2D1&cursor=[\w-]+$/)
  t.match(sized.body.previous, /severity=High/, 'page links keep the filters')

  t.equal((await get('?page=99')).status, 404, 'a page past the end is 404')
  t.same((await get('?page=99')).body, { code: 'not_found', detail: 'Invalid page.' })
  const forged = Buffer.from(JSON.stringify(['o', 'yesterday', 1])).toString('base64url')
  for (const bad of ['page=0', 'page=-1', 'page=abc', 'page_size=0', 'page_size=101', 'page_size=x', 'cursor=!!', `cursor=${forged}`, 'cursor=eyJ4IjoxfQ', 'page=2&cursor=WyJvIiwiMjAyNi0wMS0wMVQwMDowMDowMC4wMDAwMDBaIiwxXQ']) {
    const res = await get(`?${bad}`)
    t.equal(res.status, 400, bad)
    t.type(res.body.detail, 'string')
  }
  t.equal((await get('?page_size=100')).body.results.length, 24)

  // Every filter alone and combined, checked against the seeded data.
  const expect = (pred: (e: any) => boolean) => created.filter(pred).length
  const cases: [string, (e: any) => boolean][] = [
    ['severity=Critical', (e) => e.severity === 'Critical'],
    ['event_type=malware', (e) => e.event_type === 'malware'],
    ['source=ids-2', (e) => e.source === 'ids-2'],
    ['timestamp_after=2026-01-01T10:00:00Z', (e) => (e.at ?? e.timestamp) >= '2026-01-01T10:00:00.000Z'],
    ['timestamp_before=2026-01-01T05:00:00Z', (e) => (e.at ?? e.timestamp) <= '2026-01-01T05:00:00.000Z'],
    ['severity=Low&event_type=anomaly&source=fw-1', (e) => e.severity === 'Low' && e.event_type === 'anomaly' && e.source === 'fw-1'],
    [
      'timestamp_after=2026-01-01T03:00:00Z&timestamp_before=2026-01-01T12:00:00Z&source=fw-1',
      (e) => (e.at ?? e.timestamp) >= '2026-01-01T03:00:00.000Z' && (e.at ?? e.timestamp) <= '2026-01-01T12:00:00.000Z' && e.source === 'fw-1'
    ],
    ['source=nowhere', () => false]
  ]
  for (const [qs, pred] of cases) {
    const res = await get(`?page_size=100&${qs}`)
    t.equal(res.status, 200, qs)
    t.equal(res.body.count, expect(pred), `count for ${qs}`)
    t.equal(res.body.results.length, expect(pred), `results for ${qs}`)
    t.ok(res.body.results.every(pred), `every result matches ${qs}`)
  }

  const badEnum = await get('?severity=Extreme')
  t.equal(badEnum.status, 400)
  t.match(badEnum.body.detail, /Low, Medium, High, Critical/)
  t.equal((await get('?event_type=virus')).status, 400)
  t.equal((await get('?timestamp_after=yesterday')).status, 400)
})

t.test('ties on timestamp are broken by id, so pages never repeat or skip', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  for (let i = 0; i < 7; i++) {
    await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 's', event_type: 'anomaly', severity: 'Low' } })
  }
  await partitionDays(app, '2026-05-05T00:00:00Z')
  await app.db.update(events).set({ timestamp: sql`'2026-05-05T00:00:00Z'::timestamptz` })
  const seen: number[] = []
  for (let page = 1; page <= 3; page++) {
    const res = await inject(app, { method: 'GET', url: `/api/events/?page_size=3&page=${page}`, headers: admin.auth })
    seen.push(...res.body.results.map((e: any) => e.id))
  }
  t.equal(seen.length, 7)
  t.same(seen, [...seen].sort((a, b) => b - a), 'same timestamp: higher id first')
  t.equal(new Set(seen).size, 7)
})

t.test('alerts list: filters and combinations', async (t) => {
  const app = await build(t)
  const { admin, viewer } = await makeRoles(app)
  const created = await seed(app, admin)
  const alerting = created.filter((e) => e.severity === 'High' || e.severity === 'Critical')
  const get = (qs: string) => inject(app, { method: 'GET', url: `/api/alerts/${qs}`, headers: viewer.auth })

  const all = await get('?page_size=100')
  t.equal(all.body.count, 12, 'one alert per High or Critical event')
  t.same(all.body.results.map((a: any) => a.event), alerting.map((e) => e.id).reverse(), 'newest first')
  t.ok(all.body.results.every((a: any) => a.status === 'Open'))

  // Acknowledge two, resolve one.
  const [a1, a2, a3] = all.body.results
  for (const [a, status] of [[a1, 'Acknowledged'], [a2, 'Acknowledged'], [a3, 'Resolved']] as const) {
    const res = await inject(app, { method: 'PATCH', url: `/api/alerts/${a.id}/`, headers: admin.auth, payload: { status } })
    t.equal(res.status, 200)
    t.equal(res.body.status, status)
    t.ok(Date.parse(res.body.updated_at) >= Date.parse(res.body.created_at))
  }

  const count = async (qs: string) => (await get(`?page_size=100&${qs}`)).body.count
  t.equal(await count('status=Open'), 9)
  t.equal(await count('status=Acknowledged'), 2)
  t.equal(await count('status=Resolved'), 1)
  t.equal(await count('severity=High'), 6)
  t.equal(await count('severity=Low'), 0)
  t.equal(await count('event_type=anomaly'), 4)
  t.equal(await count('source=fw-1'), 6)
  t.equal(await count('severity=High&status=Open'), (await get('?page_size=100&severity=High')).body.results.filter((a: any) => a.status === 'Open').length)
  t.equal(await count('severity=Critical&event_type=intrusion&source=ids-2'), 1)
  const mid = alerting[6].at
  t.equal(await count(`created_after=${mid}`), 6)
  t.equal(await count(`created_before=${mid}`), 7)
  t.equal(await count(`created_after=${alerting[2].at}&created_before=${alerting[4].at}&severity=High`), 3)
  t.equal(await count('created_after=2026-01-02'), 0, 'a date alone is accepted')

  for (const bad of ['status=Closed', 'severity=extreme', 'event_type=worm', 'created_after=not-a-date', 'page=0']) {
    const res = await get(`?${bad}`)
    t.equal(res.status, 400, bad)
  }
  const badStatus = await get('?status=Closed')
  t.match(badStatus.body.detail, /Open, Acknowledged, Resolved/)

  const badPatch = await inject(app, { method: 'PATCH', url: `/api/alerts/${a1.id}/`, headers: admin.auth, payload: { status: 'Done' } })
  t.equal(badPatch.status, 400)
  t.match(badPatch.body.errors.status, [/Open, Acknowledged, Resolved/])
  t.equal((await inject(app, { method: 'PATCH', url: '/api/alerts/999999/', headers: admin.auth, payload: { status: 'Resolved' } })).status, 404)
  t.equal((await inject(app, { method: 'GET', url: '/api/alerts/999999/', headers: admin.auth })).status, 404)
  const one = await inject(app, { method: 'GET', url: `/api/alerts/${a3.id}/`, headers: viewer.auth })
  t.match(one.body, { id: a3.id, status: 'Resolved', event: a3.event })
})

t.test('cursor pages: nothing skipped or repeated while alerts arrive, down to the microsecond', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const raise = (n: number) =>
    Promise.all(
      Array.from({ length: n }, () =>
        inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 's', event_type: 'intrusion', severity: 'High' } })
      )
    )
  await raise(25)
  // Ten alerts a microsecond apart, within one millisecond (a JavaScript Date could not tell them
  // apart), and three sharing one instant: the cursor must carry the exact time and the id.
  await app.db.execute(sql`
    update alerts set created_at = '2026-03-03T00:00:00.000100Z'::timestamptz + (id % 10) * interval '1 microsecond'
    where id in (select id from alerts order by id limit 13)`)
  const before = (await inject(app, { method: 'GET', url: '/api/alerts/?page_size=100', headers: admin.auth })).body.results.map((a: any) => a.id)
  t.equal(before.length, 25)

  const seen: number[] = []
  let url: string | null = '/api/alerts/?page_size=4'
  let pages = 0
  while (url) {
    const res = await inject(app, { method: 'GET', url, headers: admin.auth })
    t.equal(res.status, 200)
    seen.push(...res.body.results.map((a: any) => a.id))
    // New alerts between every two pages: they are newer than the walk's position, so they
    // belong to pages already read and must not push rows of the next page back into view.
    await raise(3)
    url = res.body.next && new URL(res.body.next).pathname + new URL(res.body.next).search
    pages++
  }
  t.equal(pages, 7)
  t.same(seen, before, 'every alert that existed when the walk began, once each, in list order')

  // From the last page, previous links walk back to the first, page by page, the same rows in
  // the same order (the alerts raised meanwhile come before them, on newer pages).
  const pagesForward: number[][] = []
  let lastPage: any
  url = '/api/alerts/?page_size=4&source=s'
  while (url) {
    lastPage = (await inject(app, { method: 'GET', url, headers: admin.auth })).body
    pagesForward.push(lastPage.results.map((a: any) => a.id))
    url = lastPage.next && new URL(lastPage.next).pathname + new URL(lastPage.next).search
  }
  const pagesBack: number[][] = [pagesForward[pagesForward.length - 1]]
  let back: string | null = lastPage.previous
  while (back) {
    const res = await inject(app, { method: 'GET', url: new URL(back).pathname + new URL(back).search, headers: admin.auth })
    pagesBack.unshift(res.body.results.map((a: any) => a.id))
    back = res.body.previous
  }
  t.same(pagesBack, pagesForward, 'previous links retrace the pages exactly')
})

t.test('counts are exact up to LIST_EXACT_COUNT_MAX, an estimate beyond it', async (t) => {
  const app = await build(t, { LIST_EXACT_COUNT_MAX: 5 })
  const { admin } = await makeRoles(app)
  await seed(app, admin)
  const get = async (qs: string) => (await inject(app, { method: 'GET', url: `/api/events/${qs}`, headers: admin.auth })).body
  const few = await get('?source=fw-1&severity=Low')
  t.same([few.count, few.count_estimated], [3, false], 'within the bound: exact')
  await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 'fw-1', event_type: 'anomaly', severity: 'Low' } })
  t.same([(await get('?source=fw-1&severity=Low')).count], [4], 'an exact count is never reused: a new row counts at once')
  const many = await get('')
  t.equal(many.count_estimated, true, 'beyond it: flagged as an estimate')
  t.ok(many.count > 5, `never below what was counted (${many.count})`)
  t.equal(many.results.length, 20, 'the page itself is whole')
  t.type(many.next, 'string', 'and links on')
})

t.test('a page that holds the end of its list gives the count itself, and the count follows the list as it grows and shrinks', async (t) => {
  const app = await build(t, { LIST_EXACT_COUNT_MAX: 3 })
  const { admin } = await makeRoles(app)
  const post = async () => (await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 'grow-1', event_type: 'anomaly', severity: 'Low' } })).body
  const get = async (qs: string) => (await inject(app, { method: 'GET', url: `/api/events/?source=grow-1&${qs}`, headers: admin.auth })).body
  const seen = async (qs: string) => {
    const body = await get(qs)
    return [body.count, body.count_estimated, body.results.length, body.next !== null]
  }
  await post()
  t.same(await seen('page_size=2'), [1, false, 1, false], 'one event')
  t.same(await seen('page_size=2'), [1, false, 1, false], 'asked again')
  await post()
  t.same(await seen('page_size=2'), [2, false, 2, false], 'a second arrives: still within the first page')
  const third = await post()
  t.same(await seen('page_size=2'), [3, false, 2, true], 'a third: the page is full, the list is counted')
  t.same(await seen('page_size=2'), [3, false, 2, true], 'and counted again')
  t.same(await seen('page_size=2&page=2'), [3, false, 1, false], 'the last page by number says the same count')
  await post()
  const [estimate, ...rest] = await seen('page_size=2')
  t.same(rest, [true, 2, true], 'past the bound: an estimate, flagged')
  t.ok((estimate as number) >= 4, `never below what was counted (${String(estimate)})`)
  t.same(await seen('page_size=20'), [4, false, 4, false], 'a page holding the whole list counts it exactly, even past the bound')
  await app.db.delete(events).where(eq(events.id, third.id))
  t.same(await seen('page_size=20'), [3, false, 3, false], 'a row gone is a row less at once')
})

/** Every combination of the given filters: [] , [a], [b], [a, b], ... */
function combinations<T>(items: T[]): T[][] {
  return items.reduce<T[][]>((acc, item) => [...acc, ...acc.map((c) => [...c, item])], [[]])
}

/** The plan's nodes, depth first. */
function nodes(plan: any): any[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)]
}

/**
 * What the planner may sort: a handful of rows, when a combination of filters is so selective that
 * fetching its few rows and sorting them costs less than walking an index in order. Never the
 * filtered set of a broad list, which is what made lists slow at a million rows.
 */
const SMALL_SORT_ROWS = 1000

// The planner's choices depend on the table's size and spread, so the data is a realistic one:
// a month of events from fifty sources, their alerts in every state, an audit trail and incidents.
// PostgreSQL only: PGlite, the newcomer's single-process database, plans the same way but would
// spend minutes loading this.
if (onPostgres) t.test('every list and filter combination is read in index order at a realistic size: no Sort of its filtered set', async (t) => {
  const app = await build(t)
  const { admin, analyst } = await makeRoles(app)
  await partitionDays(app, new Date(Date.now() - 18 * 24 * 3600_000), new Date())
  await app.db.execute(sql`
    insert into events (source, event_type, severity, description, timestamp, updated_at)
    select 'src-' || (i % 50), (array['intrusion','malware','anomaly'])[1 + i % 3]::event_type,
           (array['Low','Low','Low','Low','Medium','Medium','High','High','Critical','Low'])[1 + (i / 7) % 10]::severity,
           'generated', now() - (i * interval '10 seconds'), now() - (i * interval '10 seconds')
    from generate_series(1, 150000) i`)
  await app.db.execute(sql`
    insert into alerts (event_id, event_timestamp, status, severity, event_type, source, created_at, updated_at)
    select id, timestamp, (array['Open','Open','Open','Acknowledged','Resolved'])[1 + id % 5]::alert_status, severity, event_type, source, timestamp, timestamp
    from events where severity in ('High', 'Critical')`)
  await app.db.execute(sql`
    insert into audit_log (actor_id, actor, action, target_type, target_id, created_at)
    select ${admin.user.id}::bigint, 'admin', (array['alert.updated','user.created','login.failed','incident.updated'])[1 + i % 4], 'alert', (i % 5000)::text,
           now() - (i * interval '20 seconds')
    from generate_series(1, 60000) i`)
  await app.db.execute(sql`
    insert into incidents (title, severity, status, assignee_id, created_by_id, created_at, updated_at)
    select 'incident ' || i, (array['Low','Medium','High','Critical'])[1 + i % 4]::severity,
           (array['Open','Investigating','Contained','Resolved','Closed'])[1 + i % 5]::incident_status,
           case when i % 3 = 0 then null when i % 3 = 1 then ${admin.user.id}::bigint else ${analyst.user.id}::bigint end, ${admin.user.id}::bigint,
           now() - (i * interval '1 minute'), now()
    from generate_series(1, 20000) i`)
  await app.db.execute(sql`analyze`)
  // A position deep in the lists: cursors after it (older rows) and before it (newer rows).
  const [mid] = (await app.db.execute(sql`
    select id, to_char("timestamp" at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as key
    from events order by "timestamp" desc, id desc offset 59999 limit 1`)) as unknown as { id: number; key: string }[]
  const cursor = (d: string) => Buffer.from(JSON.stringify([d, mid.key, Number(mid.id)])).toString('base64url')
  const pages: PageParams[] = [{}, { cursor: cursor('o') }, { cursor: cursor('n') }, { page: 3 }]

  const cases: [string, (f: any) => PageSource<any>, [string, unknown][]][] = [
    ['alerts', alertList as any, [['severity', 'High'], ['status', 'Open'], ['event_type', 'malware'], ['source', 'src-7'], ['created_after', '2026-01-01'], ['created_before', '2099-01-01'], ['updated_since', '2026-01-01']]],
    ['events', eventList as any, [['severity', 'Critical'], ['event_type', 'anomaly'], ['source', 'src-3'], ['timestamp_after', '2026-01-01'], ['timestamp_before', '2099-01-01'], ['updated_since', '2026-01-01']]],
    ['audit', auditList as any, [['action', 'login.failed'], ['actor', 'ADMIN'], ['created_after', '2026-01-01']]],
    ['incidents', incidentList as any, [['status', 'Investigating'], ['severity', 'High'], ['assignee', analyst.user.id]]]
  ]
  let checked = 0
  const sorted: string[] = []
  for (const [name, list, filters] of cases) {
    for (const combo of combinations(filters)) {
      const filter = Object.fromEntries(combo)
      for (const params of pages) {
        const query = pageQuery(app.db, list(filter), { page_size: 20, ...params })
        const [row] = (await app.db.execute(sql`explain (format json) ${query}`)) as any
        const plan = nodes(row['QUERY PLAN'][0].Plan)
        checked++
        for (const sort of plan.filter((n) => /Sort/.test(n['Node Type']))) {
          const input = Math.max(...(sort.Plans ?? []).map((p: any) => p['Plan Rows'] as number))
          if (input > SMALL_SORT_ROWS) sorted.push(`${name} ${JSON.stringify(filter)} ${JSON.stringify(params)}: sorts ~${input} rows: ${plan.map((n) => n['Node Type']).join(' > ')}`)
        }
      }
    }
  }
  t.same(sorted, [], `${checked} page queries, none sorts more than ${SMALL_SORT_ROWS} rows`)

  // Vigil prepares each list's page statement once and runs it again and again: PostgreSQL must be
  // able to keep one plan for it (the generic plan) rather than plan every run, and that plan must
  // read in index order too. It keeps it for the lists analysts open most (no filter, one filter,
  // the triage queue's severity and status); for some combinations of several filters it finds
  // plans made for the values cheaper, and plans each run. Page numbers (OFFSET, the Django
  // original's walk) are planned per request.
  const literal = (v: unknown) => (typeof v === 'number' ? String(v) : `'${String(v).replaceAll("'", "''")}'`)
  const replanned: string[] = []
  const genericSorted: string[] = []
  let prepared = 0
  for (const [name, list, filters] of cases) {
    for (const combo of combinations(filters)) {
      const filter = Object.fromEntries(combo)
      const common = combo.length <= 1 || (combo.length === 2 && 'severity' in filter && 'status' in filter)
      for (const params of pages.filter((p) => p.page === undefined)) {
        const label = `${name} ${JSON.stringify(filter)} ${JSON.stringify(params)}`
        const statement = pageQueryText(app.db, list(filter), { page_size: 20, ...params })
        const args = `(${statement.params.map(literal).join(', ')})`
        await app.db.transaction(async (tx) => {
          await tx.execute(sql.raw(`prepare page as ${statement.sql}`))
          for (let i = 0; i < 8; i++) await tx.execute(sql.raw(`execute page${args}`))
          const [plans] = (await tx.execute(sql`select generic_plans from pg_prepared_statements where name = 'page'`)) as unknown as { generic_plans: number }[]
          if (common && Number(plans.generic_plans) === 0) replanned.push(label)
          await tx.execute(sql`set local plan_cache_mode = force_generic_plan`)
          const [row] = (await tx.execute(sql.raw(`explain (format json) execute page${args}`))) as any
          for (const sort of nodes(row['QUERY PLAN'][0].Plan).filter((n) => /Sort/.test(n['Node Type']))) {
            const input = Math.max(...(sort.Plans ?? []).map((p: any) => p['Plan Rows'] as number))
            if (input > SMALL_SORT_ROWS) genericSorted.push(`${label}: sorts ~${input} rows`)
          }
          await tx.execute(sql`deallocate page`)
        })
        prepared++
      }
    }
  }
  t.same(replanned, [], 'the lists with no filter, one filter, or severity and status keep their generic plan')
  t.same(genericSorted, [], `no generic plan of ${prepared} prepared page statements sorts the filtered set`)

  // Stats' response times read the alerts that left Open only, not every alert of the day.
  const day = (q: Record<string, unknown>) => responseTimes(q, new Date(Date.now() - 24 * 3600_000), new Date())
  for (const q of [{}, { severity: 'High' }, { source: 'src-7' }]) {
    const [row] = (await app.db.execute(sql`explain (format json) ${day(q)}`)) as any
    const used = nodes(row['QUERY PLAN'][0].Plan).map((n) => n['Index Name']).filter(Boolean)
    t.ok(used.includes('alerts_responded_created_at_idx'), `response times ${JSON.stringify(q)} read the index of responded alerts (used: ${used.join(', ')})`)
  }
})

t.test('alert statistics: counts by severity, status, type and source, and a histogram with every bucket', async (t) => {
  const app = await build(t)
  const { admin, viewer } = await makeRoles(app)
  const created = await seed(app, admin)
  const alerting = created.filter((e) => e.severity === 'High' || e.severity === 'Critical')
  const stats = async (qs: string) => inject(app, { method: 'GET', url: `/api/alerts/stats/${qs}`, headers: viewer.auth })
  const day = '?created_after=2026-01-01T00:00:00Z&created_before=2026-01-02T00:00:00Z'

  const hourly = await stats(day)
  t.equal(hourly.status, 200)
  const tally = (key: string, values: string[]) => Object.fromEntries(values.map((v) => [v, alerting.filter((e) => e[key] === v).length]))
  t.match(hourly.body, {
    from: '2026-01-01T00:00:00.000Z',
    to: '2026-01-02T00:00:00.000Z',
    bucket: 'hour',
    total: alerting.length,
    by_status: { Open: alerting.length, Acknowledged: 0, Resolved: 0 }
  })
  t.same(hourly.body.by_severity, { Low: 0, Medium: 0, ...tally('severity', ['High', 'Critical']) })
  t.same(hourly.body.by_event_type, tally('event_type', TYPES))
  t.same(hourly.body.by_source, SOURCES.map((source) => ({ source, count: alerting.filter((e) => e.source === source).length })))
  t.equal(hourly.body.histogram.length, 25, 'every hour of the range, both ends included')
  const perHour = new Map(alerting.map((e) => [e.at.replace('.000Z', 'Z'), 1]))
  t.same(
    hourly.body.histogram,
    hourly.body.histogram.map((h: any) => ({ start: h.start, count: perHour.get(h.start) ?? 0 })),
    'each bucket counts the alerts of its hour; empty hours are 0'
  )

  const daily = await stats(`${day}&bucket=day`)
  t.same(daily.body.histogram, [{ start: '2026-01-01T00:00:00Z', count: alerting.length }, { start: '2026-01-02T00:00:00Z', count: 0 }])

  const [first] = (await inject(app, { method: 'GET', url: '/api/alerts/?severity=Critical&source=fw-1', headers: admin.auth })).body.results
  await inject(app, { method: 'PATCH', url: `/api/alerts/${first.id}/`, headers: admin.auth, payload: { status: 'Resolved' } })
  const filtered = await stats(`${day}&status=Resolved&bucket=day`)
  t.match(filtered.body, { total: 1, by_status: { Resolved: 1, Open: 0 }, by_severity: { Critical: 1, High: 0 }, by_source: [{ source: 'fw-1', count: 1 }] }, 'the list filters apply')

  const recent = await stats('')
  t.equal(recent.body.total, 0, 'by default the last 24 hours, where these alerts are not')
  t.ok(recent.body.histogram.length >= 24 && recent.body.histogram.length <= 25)
  t.ok(Date.parse(recent.body.to) - Date.parse(recent.body.from) === 86_400_000)

  const tooMany = await stats('?created_after=2026-01-01&created_before=2026-01-03&bucket=minute')
  t.equal(tooMany.status, 400)
  t.equal(tooMany.body.code, 'validation_failed')
  t.match(tooMany.body.errors.bucket, [/2881 minute buckets, at most 1440/])
  const backwards = await stats('?created_after=2026-01-03&created_before=2026-01-01')
  t.same([backwards.status, Object.keys(backwards.body.errors)], [400, ['created_after']])
  t.equal((await stats('?bucket=week')).status, 400)
})

t.test('updated_since: only what changed since then, newest change first, for alerts and events', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const created = await seed(app, admin)
  const get = async (url: string) => (await inject(app, { method: 'GET', url, headers: admin.auth })).body
  const alertsBefore = (await get('/api/alerts/?page_size=100')).results
  // Everything seeded is older than `since`; then one event and two alerts change, in this order.
  await app.db.execute(sql`update events set updated_at = '2026-01-01T00:00:00Z'`)
  await app.db.execute(sql`update alerts set updated_at = '2026-01-01T00:00:00Z'`)
  const since = new Date().toISOString()
  const [low] = created.filter((e) => e.severity === 'Low')
  const patched = await inject(app, { method: 'PATCH', url: `/api/events/${low.id}/`, headers: admin.auth, payload: { description: 'reviewed' } })
  t.equal(patched.status, 200)
  t.ok(Date.parse(patched.body.updated_at) >= Date.parse(since), 'the change is stamped')
  const [a1, a2] = [alertsBefore[5], alertsBefore[2]]
  for (const a of [a1, a2]) {
    t.equal((await inject(app, { method: 'PATCH', url: `/api/alerts/${a.id}/`, headers: admin.auth, payload: { status: 'Acknowledged' } })).status, 200)
  }

  const changedEvents = await get(`/api/events/?updated_since=${since}`)
  t.same(changedEvents.results.map((e: any) => e.id), [low.id], 'events: only the one changed')
  t.equal(changedEvents.count, 1)
  const changedAlerts = await get(`/api/alerts/?updated_since=${since}`)
  t.same(changedAlerts.results.map((a: any) => a.id), [a2.id, a1.id], 'alerts: the changed ones, latest change first')
  t.same((await get(`/api/alerts/?updated_since=${since}&status=Open`)).results, [], 'with the other filters')
  const created2 = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 'new', event_type: 'malware', severity: 'Critical' } })
  t.equal(created2.body.updated_at, created2.body.timestamp, 'a new event was last changed when stored')
  const synced = await get(`/api/alerts/?updated_since=${since}&page_size=2`)
  t.equal(synced.results[0].event, created2.body.id, 'a new alert is a change too')
  const rest = await get(new URL(synced.next).pathname + new URL(synced.next).search)
  t.same(rest.results.map((a: any) => a.id), [a1.id], 'and the cursor walks on in change order')
  t.equal((await inject(app, { method: 'GET', url: '/api/alerts/?updated_since=soon', headers: admin.auth })).status, 400)
})

/** An item as listed is the item as created, changed and read alone, to the millisecond. */
async function listedAsWritten(t: Test, app: FastifyInstance) {
  const { admin } = await makeRoles(app)
  const created = await inject(app, {
    method: 'POST',
    url: '/api/events/',
    headers: admin.auth,
    payload: { source: 'fw-view', event_type: 'intrusion', severity: 'High', occurred_at: '2026-11-30T08:00:00.123Z', attributes: { user: 'root', n: 3 } }
  })
  t.equal(created.status, 201)
  // Stored with microseconds (the server's clock): lists format them in SQL, write replies in JavaScript.
  const listedEvent = (await inject(app, { url: '/api/events/?source=fw-view', headers: admin.auth })).body.results
  t.same(listedEvent, [created.body], 'the event as listed is the event as created')
  t.same((await inject(app, { url: `/api/events/${created.body.id}`, headers: admin.auth })).body, created.body, 'and as read alone')

  const [alert] = (await inject(app, { url: '/api/alerts/?source=fw-view', headers: admin.auth })).body.results
  t.equal(alert.event, created.body.id)
  const patched = await inject(app, { method: 'PATCH', url: `/api/alerts/${alert.id}`, headers: admin.auth, payload: { status: 'Acknowledged' } })
  t.equal(patched.status, 200)
  t.match(patched.body.updated_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
  t.same((await inject(app, { url: '/api/alerts/?source=fw-view', headers: admin.auth })).body.results, [patched.body], 'the alert as listed is the alert as changed')
  t.same((await inject(app, { url: `/api/alerts/${alert.id}`, headers: admin.auth })).body, patched.body, 'and as read alone')
}

t.test('a list item is what the single reads and the write replies show, to the millisecond', async (t) => {
  await listedAsWritten(t, await build(t))
})

t.test('timestamps as PostgreSQL writes them become RFC 3339 text, in UTC, to the millisecond or microsecond', async (t) => {
  t.equal(rfc3339('2026-12-03 19:07:33.123456+00', 3), '2026-12-03T19:07:33.123Z', 'milliseconds truncated, as a Date truncates them')
  t.equal(rfc3339('2026-12-03 19:07:33.123456+00', 6), '2026-12-03T19:07:33.123456Z')
  t.equal(rfc3339('2026-12-03 19:07:33.1+00', 3), '2026-12-03T19:07:33.100Z', 'trailing zeros PostgreSQL leaves out are put back')
  t.equal(rfc3339('2026-12-03 19:07:33.000007+00', 6), '2026-12-03T19:07:33.000007Z')
  t.equal(rfc3339('2026-12-03 19:07:33+00', 3), '2026-12-03T19:07:33.000Z', 'a whole second')
  t.equal(rfc3339('2026-12-03 19:07:33+00', 6), '2026-12-03T19:07:33.000000Z')
  t.equal(rfc3339('2026-12-04 01:52:33.123456+06:45', 3), '2026-12-03T19:07:33.123Z', 'another zone is turned to UTC')
  t.equal(rfc3339('2026-12-04 01:52:33.123456+06:45', 6), '2026-12-03T19:07:33.123456Z', 'its microseconds kept')
  t.equal(rfc3339('12026-12-03 19:07:33.5+00', 3), '+012026-12-03T19:07:33.500Z', 'a year past 9999 as a Date writes it')
})

// Vigil asks every session for UTC and the ISO style, so a database whose own defaults write
// times otherwise still lists them right, and cursors still walk them to the microsecond.
if (onPostgres) t.test('a database that writes times in another zone and style by default lists them the same', async (t) => {
  const url = (await freshDatabaseUrl(t))!
  const owner = postgres(url, { max: 1, onnotice: () => {} })
  const name = new URL(url).pathname.slice(1)
  await owner.unsafe(`alter database ${name} set timezone = 'Asia/Kathmandu'`)
  await owner.unsafe(`alter database ${name} set datestyle = 'SQL, DMY'`)
  await owner.end()
  // A session that asks for nothing, opened after the change, as postgres.js opens one by default.
  const plain = postgres(url, { max: 1, onnotice: () => {} })
  const [{ shown }] = await plain.unsafe(`select now()::text as shown`)
  await plain.end()
  t.notMatch(shown, /^\d{4}-\d{2}-\d{2} /, `a plain session of that database writes ${shown}`)

  const app = await build(t, { DATABASE_URL: url })
  await listedAsWritten(t, app)

  const { admin } = await makeRoles(app)
  for (let i = 0; i < 3; i++) await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 'tz', event_type: 'intrusion', severity: 'High' } })
  await app.db.execute(sql`update alerts set created_at = '2026-03-03T23:59:59.999998Z'::timestamptz + (id % 3) * interval '1 microsecond' where source = 'tz'`)
  const expected = (await inject(app, { url: '/api/alerts/?source=tz', headers: admin.auth })).body.results.map((a: any) => a.id)
  t.equal(expected.length, 3)
  const seen: number[] = []
  for (let url: string | null = '/api/alerts/?source=tz&page_size=1'; url; ) {
    const page: any = (await inject(app, { url, headers: admin.auth })).body
    seen.push(...page.results.map((a: any) => a.id))
    url = page.next && new URL(page.next).pathname + new URL(page.next).search
  }
  t.same(seen, expected, 'a page of one at a time, a microsecond apart across midnight UTC: each once, in order')
})

// Lists are read from a pool of their own (DB_LIST_POOL_MAX): a page does not wait for the main
// pool, which ingestion chunks and dashboards' statistics keep busy. Here the main pool's one
// connection waits on a lock the test holds, and the list still answers.
if (onPostgres) t.test('a list is answered while every connection of the main pool is busy', async (t) => {
  const app = await build(t, { DB_POOL_MAX: 1, DB_LIST_POOL_MAX: 2 })
  const { admin, analyst } = await makeRoles(app)
  const posted = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 'fw-1', event_type: 'malware', severity: 'High' } })
  t.equal(posted.status, 201)
  const list = () => inject(app, { method: 'GET', url: '/api/alerts/', headers: analyst.auth })
  // The analyst's user row, read to authenticate each request, is cached once the cache's
  // subscription to user changes is confirmed: until then each request reads it on the main pool.
  t.ok(await eventually(async () => (await list()).status === 200 && app.principals.get(analyst.user.id) !== undefined, 10_000), 'the analyst is authenticated from the cache')

  const holder = postgres(app.config.DATABASE_URL!, { max: 1, onnotice: () => {} })
  t.teardown(() => holder.end())
  await holder`select pg_advisory_lock(727001)`
  const blocked = app.db.execute(sql`select pg_advisory_lock(727001)`)
  let settled = false
  void blocked.then(() => (settled = true), () => (settled = true))
  t.ok(await eventually(async () => {
    const [row] = await holder`select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'vigil' and wait_event_type = 'Lock'`
    return row.n === 1
  }, 10_000), "the main pool's only connection waits on the lock")

  const page = await list()
  t.equal(page.status, 200, 'the list answers meanwhile')
  t.equal(page.body.count, 1)
  t.equal(page.body.results[0].source, 'fw-1')
  t.equal(settled, false, 'while the main pool is still held')

  await holder`select pg_advisory_unlock(727001)`
  await blocked
  await app.db.execute(sql`select pg_advisory_unlock(727001)`)
})
