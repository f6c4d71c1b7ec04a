// /api/views through the real app: saving, listing, reading and deleting views; what other users
// see of them (shared views, never private ones); who may delete; unique names regardless of case;
// the per-user limit; filters checked by the list's own query schema; a view's `url` listing what
// its filters do; the role a list needs, and ingest keys refused.
import { count, eq } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { AlertQuery } from '../routes/alerts/schema.js'
import { EventQuery } from '../routes/events/schema.js'
import { IncidentQuery } from '../routes/incidents/schema.js'
import { savedViews } from '../src/db/schema.js'
import { MAX_VIEWS_PER_USER } from '../src/services/saved-views.js'
import { build, inject, makeUser, type TestUser } from './helper.js'

const FIELDS = ['created_at', 'filters', 'id', 'list', 'name', 'owner', 'owner_username', 'shared', 'updated_at', 'url']

const post = (app: FastifyInstance, who: TestUser, payload: Record<string, unknown>) =>
  inject(app, { method: 'POST', url: '/api/views/', headers: who.auth, payload })
const get = (app: FastifyInstance, who: TestUser, url: string) => inject(app, { method: 'GET', url, headers: who.auth })
const del = (app: FastifyInstance, who: TestUser, id: number) => inject(app, { method: 'DELETE', url: `/api/views/${id}/`, headers: who.auth })

async function save(app: FastifyInstance, who: TestUser, payload: Record<string, unknown>) {
  const r = await post(app, who, { filters: {}, ...payload })
  if (r.status !== 201) throw new Error(`view not saved: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}

const ids = (page: { results: { id: number }[] }) => page.results.map((v) => v.id)

async function storedViews(app: FastifyInstance, ownerId?: number) {
  const q = app.db.select({ n: count() }).from(savedViews)
  const [{ n }] = await (ownerId === undefined ? q : q.where(eq(savedViews.ownerId, ownerId)))
  return n
}

t.test('save, list, read and delete a view', async (t) => {
  const app = await build(t)
  const alice = await makeUser(app, 'analyst')

  const created = await post(app, alice, { name: '  Open High alerts ', filters: { status: 'Open', severity: 'High' } })
  t.equal(created.status, 201)
  const view = created.body
  t.same(Object.keys(view).sort(), FIELDS)
  t.equal(view.name, 'Open High alerts', 'the name is trimmed')
  t.equal(view.list, 'alerts', 'alerts by default')
  t.equal(view.shared, false, 'private by default')
  t.same(view.filters, { severity: 'High', status: 'Open' })
  t.equal(view.owner, alice.user.id)
  t.equal(view.owner_username, alice.user.username)
  t.equal(view.url, '/api/alerts/?severity=High&status=Open', 'the list URL, its filters by name')
  t.match(view.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)

  const second = await save(app, alice, { name: 'Incidents', list: 'incidents', filters: {} })
  t.equal(second.url, '/api/incidents/', 'no filters: the bare list URL')

  const list = await get(app, alice, '/api/views/')
  t.equal(list.status, 200)
  t.equal(list.body.count, 2)
  t.same(ids(list.body), [second.id, view.id], 'newest first')
  t.same(list.body.results[1], view, 'each item as the view itself')
  t.same(ids((await get(app, alice, '/api/views/?list=incidents')).body), [second.id], 'filtered by list')
  t.same(ids((await get(app, alice, '/api/views/?page_size=1')).body), [second.id], 'paginated')

  const one = await get(app, alice, `/api/views/${view.id}/`)
  t.equal(one.status, 200)
  t.same(one.body, view)

  t.equal((await del(app, alice, view.id)).status, 204)
  t.equal((await get(app, alice, `/api/views/${view.id}/`)).status, 404, 'gone')
  t.equal((await del(app, alice, view.id)).status, 404, 'deleting it again finds nothing')
  t.same(ids((await get(app, alice, '/api/views/')).body), [second.id])
})

t.test('shared views are seen by every user, private ones by their owner alone', async (t) => {
  const app = await build(t)
  const alice = await makeUser(app, 'analyst')
  const bob = await makeUser(app, 'viewer')
  const admin = await makeUser(app, 'admin')

  const mine = await save(app, alice, { name: 'Mine', filters: { severity: 'Low' } })
  const shared = await save(app, alice, { name: 'Team queue', filters: { status: 'Open' }, shared: true })
  const bobs = await save(app, bob, { name: 'Bob private' })

  const bobList = await get(app, bob, '/api/views/')
  t.same(ids(bobList.body), [bobs.id, shared.id], "bob sees his own view and alice's shared one, not her private one")
  t.equal(bobList.body.count, 2)
  const seen = bobList.body.results.find((v: any) => v.id === shared.id)
  t.equal(seen.owner_username, alice.user.username, "with its owner's name")

  t.same(ids((await get(app, bob, '/api/views/?mine=true')).body), [bobs.id], 'mine=true: only his own')
  t.same(ids((await get(app, bob, '/api/views/?mine=false')).body), [shared.id], "mine=false: only others' shared views")
  t.same(ids((await get(app, bob, '/api/views/?shared=true')).body), [shared.id], 'shared=true')
  t.same(ids((await get(app, bob, '/api/views/?shared=false')).body), [bobs.id], 'shared=false: his private ones')
  t.same(ids((await get(app, alice, '/api/views/')).body), [shared.id, mine.id], "alice does not see bob's private view")

  t.equal((await get(app, bob, `/api/views/${shared.id}/`)).status, 200, 'a shared view can be read by anyone')
  const hidden = await get(app, bob, `/api/views/${mine.id}/`)
  t.equal(hidden.status, 404, 'a private view of another user is not found')
  t.equal(hidden.body.code, 'not_found')
  t.equal((await get(app, admin, `/api/views/${mine.id}/`)).status, 404, 'not even by an admin')

  const refused = await del(app, bob, shared.id)
  t.equal(refused.status, 403, "another user's shared view cannot be deleted")
  t.equal(refused.body.code, 'permission_denied')
  t.equal((await del(app, bob, mine.id)).status, 404, 'a private view of another user is not revealed by DELETE either')
  t.equal((await get(app, alice, `/api/views/${shared.id}/`)).status, 200, 'both are still there')
  t.equal((await get(app, alice, `/api/views/${mine.id}/`)).status, 200)

  t.equal((await del(app, admin, shared.id)).status, 204, "an admin deletes another user's shared view")
  t.same(ids((await get(app, alice, '/api/views/')).body), [mine.id], 'it is gone for its owner too')
  t.same(ids((await get(app, bob, '/api/views/')).body), [bobs.id])
})

t.test('names are unique per user regardless of case', async (t) => {
  const app = await build(t)
  const alice = await makeUser(app, 'analyst')
  const bob = await makeUser(app, 'analyst')
  const first = await save(app, alice, { name: 'Night shift' })

  const dup = await post(app, alice, { name: ' NIGHT shift ', filters: { severity: 'High' } })
  t.equal(dup.status, 409)
  t.equal(dup.body.code, 'conflict')
  t.ok(dup.body.errors.name, 'names the field')
  t.equal(await storedViews(app, alice.user.id), 1, 'nothing was stored')

  t.equal((await post(app, bob, { name: 'night SHIFT', filters: {} })).status, 201, 'another user may use the name')
  t.equal((await del(app, alice, first.id)).status, 204)
  t.equal((await post(app, alice, { name: 'NIGHT SHIFT', filters: {} })).status, 201, 'free again once deleted')

  const blank = await post(app, alice, { name: '   ', filters: {} })
  t.equal(blank.status, 400, 'a blank name is refused')
  t.same(Object.keys(blank.body.errors), ['name'])
  const control = await post(app, alice, { name: 'a\u0000b', filters: {} })
  t.equal(control.status, 400, 'a name with a control character is refused')
  t.same(Object.keys(control.body.errors), ['name'])
  t.equal((await post(app, alice, { name: 'x'.repeat(101), filters: {} })).status, 400, 'at most 100 characters')
})

t.test(`at most ${MAX_VIEWS_PER_USER} views per user`, async (t) => {
  const app = await build(t)
  const alice = await makeUser(app, 'viewer')
  const bob = await makeUser(app, 'viewer')
  let last: any
  for (let i = 1; i <= MAX_VIEWS_PER_USER; i++) last = await save(app, alice, { name: `view ${i}`, filters: { severity: 'High' } })
  t.equal(await storedViews(app, alice.user.id), MAX_VIEWS_PER_USER)

  const over = await post(app, alice, { name: 'one more', filters: {} })
  t.equal(over.status, 409, 'the 101st is refused')
  t.equal(over.body.code, 'conflict')
  t.match(over.body.detail, /100 saved views/, 'saying why')
  t.equal(await storedViews(app, alice.user.id), MAX_VIEWS_PER_USER, 'and not stored')
  t.equal((await get(app, alice, '/api/views/')).body.count, MAX_VIEWS_PER_USER)

  t.equal((await post(app, bob, { name: 'one more', filters: {} })).status, 201, 'the limit is per user')
  t.equal((await del(app, alice, last.id)).status, 204)
  t.equal((await post(app, alice, { name: 'one more', filters: {} })).status, 201, 'room again once one is deleted')
})

t.test("filters are checked by the list's own query schema", async (t) => {
  const app = await build(t)
  const analyst = await makeUser(app, 'analyst')
  const admin = await makeUser(app, 'admin')
  const refused = async (who: TestUser, payload: Record<string, unknown>, fields: string[], what: string) => {
    const r = await post(app, who, { name: 'x', ...payload })
    t.equal(r.status, 400, what)
    t.equal(r.body.code, 'validation_failed', `${what}: validation_failed`)
    t.same(Object.keys(r.body.errors ?? {}).sort(), fields, `${what}: names ${fields.join(', ')}`)
    return r.body
  }

  const unknown = await refused(analyst, { filters: { severity: 'High', nope: 'x' } }, ['filters.nope'], 'an unknown filter')
  t.match(unknown.detail, /^Invalid body field 'filters\.nope': Not a filter of the alerts list \(its filters: .*severity/)
  const bad = await refused(analyst, { filters: { severity: 'Extreme' } }, ['filters.severity'], 'a value the list refuses')
  t.match(bad.errors['filters.severity'], [/"Extreme" is not a valid choice/], 'in the words of the list')
  for (const paging of ['page', 'page_size', 'cursor']) {
    const r = await refused(analyst, { filters: { [paging]: paging === 'cursor' ? 'abc' : 2 } }, [`filters.${paging}`], `the paging parameter ${paging}`)
    t.match(r.errors[`filters.${paging}`], [/paging parameter, not a filter/])
  }
  await refused(analyst, { filters: { severity: 'Low', status: 'Gone', created_after: 'yesterday' } }, ['filters.created_after', 'filters.status'], 'every bad filter at once')
  await refused(analyst, { filters: { source: { $ne: null } } }, ['filters.source'], 'an object where a value belongs')
  await refused(analyst, { filters: { source: ['a', 'b'] } }, ['filters.source'], 'several values')
  await refused(analyst, { filters: { source: 'fw\u0000' } }, ['filters.source'], 'a control character')
  await refused(analyst, { list: 'incidents', filters: { event_type: 'malware' } }, ['filters.event_type'], "another list's filter")
  await refused(analyst, { list: 'incidents', filters: { assignee: 'me' } }, ['filters.assignee'], 'not a user id')
  await refused(admin, { list: 'events', filters: { status: 'Open' } }, ['filters.status'], 'events have no status')
  await refused(analyst, { list: 'reports', filters: {} }, ['list'], 'an unknown list')
  await refused(analyst, { filters: 'severity=High' }, ['filters'], 'filters that are no object')
  t.equal(await storedViews(app), 0, 'none was stored')

  // Every filter each list takes is one a view may hold (filters added to a list later too): given
  // a value of the wrong shape, each is refused for its value, never as unknown.
  for (const [list, query] of [['alerts', AlertQuery], ['events', EventQuery], ['incidents', IncidentQuery]] as const) {
    const names = Object.keys(query.properties).filter((k) => !['page', 'page_size', 'cursor'].includes(k))
    const r = await post(app, admin, { name: 'x', list, filters: Object.fromEntries(names.map((k) => [k, {}])) })
    t.equal(r.status, 400)
    t.same(Object.keys(r.body.errors).sort(), names.map((k) => `filters.${k}`).sort(), `every ${list} filter is known`)
    t.same([...new Set(Object.values(r.body.errors).flat())], ['Must be of type string, number or boolean.'], `${list}: refused for its value alone`)
  }

  // Values are taken as a query string carries them, and kept as the list reads them.
  const converted = await save(app, analyst, { name: 'by model', filters: { model: '5', source: 42, created_after: '2026-01-01' } })
  t.same(converted.filters, { created_after: '2026-01-01', model: 5, source: '42' })
  t.equal(converted.url, '/api/alerts/?created_after=2026-01-01&model=5&source=42')
  const incidents = await save(app, analyst, { name: 'mine', list: 'incidents', filters: { assignee: analyst.user.id, search: 'ssh & rdp' } })
  t.equal(incidents.url, `/api/incidents/?assignee=${analyst.user.id}&search=ssh%20%26%20rdp`, 'values URL-encoded')
})

t.test("a view's url lists what its filters do", async (t) => {
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  const viewer = await makeUser(app, 'viewer')
  const events = [
    { source: 'fw edge&1', event_type: 'intrusion', severity: 'High' },
    { source: 'fw edge&1', event_type: 'malware', severity: 'Critical' },
    { source: 'fw edge&1', event_type: 'intrusion', severity: 'High' },
    { source: 'ids-2', event_type: 'intrusion', severity: 'High' },
    { source: 'fw edge&1', event_type: 'anomaly', severity: 'Low' }
  ]
  for (const payload of events) t.equal((await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload })).status, 201)

  // Alerts (High and Critical events raise one), saved by a viewer.
  const filters = { severity: 'High', source: 'fw edge&1' }
  const view = await save(app, viewer, { name: 'edge High', filters })
  const byView = await get(app, viewer, view.url)
  t.equal(byView.status, 200)
  const byFilters = await get(app, viewer, `/api/alerts/?${new URLSearchParams(filters).toString()}`)
  t.equal(byView.body.count, 2, 'the two High alerts of that source')
  t.same(ids(byView.body), ids(byFilters.body), 'the same alerts as the filters give the list')
  t.ok(byView.body.results.every((a: any) => a.severity === 'High' && a.source === 'fw edge&1'))
  t.equal((await get(app, viewer, '/api/alerts/')).body.count, 4, 'out of four alerts')

  // Events, for an admin.
  const evView = await save(app, admin, { name: 'intrusions', list: 'events', filters: { event_type: 'intrusion', severity: 'High' } })
  t.equal(evView.url, '/api/events/?event_type=intrusion&severity=High')
  const evs = await get(app, admin, evView.url)
  t.equal(evs.status, 200)
  t.equal(evs.body.count, 3)
  t.ok(evs.body.results.every((e: any) => e.event_type === 'intrusion' && e.severity === 'High'))
})

t.test('who may save a view of which list', async (t) => {
  const app = await build(t)
  const viewer = await makeUser(app, 'viewer')
  const analyst = await makeUser(app, 'analyst')
  const admin = await makeUser(app, 'admin')

  const alertsView = await post(app, viewer, { name: 'alerts', filters: { status: 'Open' } })
  t.equal(alertsView.status, 201, 'a viewer saves an alerts view')
  t.equal((await post(app, viewer, { name: 'incidents', list: 'incidents', filters: { status: 'Open' } })).status, 201, 'and an incidents view')
  for (const who of [viewer, analyst]) {
    const r = await post(app, who, { name: 'events', list: 'events', filters: { severity: 'High' } })
    t.equal(r.status, 403, `a ${who.user.role} may not read events, so may not save a view of them`)
    t.equal(r.body.code, 'permission_denied')
  }
  t.equal((await post(app, admin, { name: 'events', list: 'events', filters: { severity: 'High' } })).status, 201, 'an admin may')

  const key = await inject(app, { method: 'POST', url: '/api/ingest-keys/', headers: admin.auth, payload: { name: 'shipper' } })
  t.equal(key.status, 201)
  const ingest = { authorization: `Bearer ${key.body.key}` }
  for (const [method, url] of [
    ['GET', '/api/views/'],
    ['POST', '/api/views/'],
    ['GET', `/api/views/${alertsView.body.id}/`],
    ['DELETE', `/api/views/${alertsView.body.id}/`]
  ]) {
    const r = await inject(app, { method: method as any, url, headers: ingest, ...(method === 'POST' ? { payload: { name: 'k', filters: {} } } : {}) })
    t.equal(r.status, 403, `an ingest key: ${method} ${url}`)
    t.equal(r.body.code, 'permission_denied')
  }
  t.equal((await get(app, viewer, `/api/views/${alertsView.body.id}/`)).status, 200, 'the view is still there')
  t.equal((await get(app, viewer, '/api/views/')).status, 200)
  t.equal((await inject(app, { method: 'GET', url: '/api/views/' })).status, 401, 'anonymous: 401')
})
