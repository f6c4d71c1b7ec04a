// Lists: the DRF envelope, page bounds, newest-first order with an id tie-breaker, every filter
// and their combinations, for events and alerts.
import t from 'tap'
import { eq, sql } from 'drizzle-orm'
import { alerts, events } from '../src/db/schema.js'
import { build, inject, makeRoles } from './helper.js'

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
  t.same(Object.keys(first.body).sort(), ['count', 'next', 'previous', 'results'])
  t.equal(first.body.count, 24)
  t.equal(first.body.results.length, 20, 'default page size is 20')
  t.equal(first.body.previous, null)
  t.equal(first.body.next, 'http://localhost/api/events/?page=2')
  t.equal(first.body.results[0].id, created[23].id, 'newest first')

  const second = await inject(app, { method: 'GET', url: first.body.next.replace('http://localhost', ''), headers: admin.auth })
  t.equal(second.body.results.length, 4)
  t.equal(second.body.next, null)
  t.equal(second.body.previous, 'http://localhost/api/events/')
  const ids = [...first.body.results, ...second.body.results].map((e: any) => e.id)
  t.same(ids, created.map((e) => e.id).reverse(), 'two pages cover every event once, in order')

  const sized = await get('?page_size=5&page=2&severity=High')
  t.equal(sized.status, 200)
  t.equal(sized.body.count, 6)
  t.equal(sized.body.results.length, 1, 'last partial page')
  t.equal(sized.body.next, null)
  t.notMatch(sized.body.previous, /[?&]page=/, 'the link to page 1 carries no page number')
  t.match(sized.body.previous, /page_size=5/)
  t.match(sized.body.previous, /severity=High/, 'page links keep the filters')

  t.equal((await get('?page=99')).status, 404, 'a page past the end is 404')
  t.same((await get('?page=99')).body, { code: 'not_found', detail: 'Invalid page.' })
  for (const bad of ['page=0', 'page=-1', 'page=abc', 'page_size=0', 'page_size=101', 'page_size=x']) {
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
