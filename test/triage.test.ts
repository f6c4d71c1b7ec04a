// Alert triage (issue 12): enforced transitions with verdicts and reasons, response times,
// assignment and its filters, tags, comments, the full history, optimistic concurrency
// (ETag / If-Match) and bulk changes by ids. Real HTTP for the race; a real database throughout.
import t, { type Test } from 'tap'
import { build, inject, makeRoles, makeUser, type Overrides, type TestUser } from './helper.js'
import type { FastifyInstance } from 'fastify'

async function setup(t: Test, overrides: Overrides = {}) {
  const app = await build(t, overrides)
  const { admin, analyst, viewer } = await makeRoles(app)
  const responder = await makeUser(app, 'responder')
  return { app, admin, analyst, viewer, responder }
}

/** A High event and its alert. */
async function newAlert(app: FastifyInstance, by: TestUser, source = 'fw-1') {
  const ev = await inject(app, { method: 'POST', url: '/api/events/', headers: by.auth, payload: { source, event_type: 'intrusion', severity: 'High' } })
  const list = await inject(app, { method: 'GET', url: `/api/alerts/?source=${source}`, headers: by.auth })
  return list.body.results.find((a: any) => a.event === ev.body.id)
}

const patch = (app: FastifyInstance, by: TestUser, id: number, payload: unknown, headers: Record<string, string> = {}) =>
  inject(app, { method: 'PATCH', url: `/api/alerts/${id}/`, headers: { ...by.auth, ...headers }, payload: payload as any })

const history = async (app: FastifyInstance, by: TestUser, id: number) =>
  (await inject(app, { method: 'GET', url: `/api/alerts/${id}/history/?page_size=100`, headers: by.auth })).body.results.reverse()

t.test('transitions: every allowed one applies, every other is 409 naming the allowed ones', async (t) => {
  const { app, admin, responder } = await setup(t)
  const allowed: [string, string][] = [
    ['Open', 'Acknowledged'],
    ['Open', 'Resolved'],
    ['Acknowledged', 'Resolved'],
    ['Acknowledged', 'Open'],
    ['Resolved', 'Open']
  ]
  const refused: [string, string, string][] = [['Resolved', 'Acknowledged', 'Open']]
  const reach = async (status: string) => {
    const a = await newAlert(app, admin)
    if (status === 'Acknowledged') t.equal((await patch(app, responder, a.id, { status })).status, 200)
    if (status === 'Resolved') t.equal((await patch(app, responder, a.id, { status, verdict: 'true_positive' })).status, 200)
    return a
  }
  for (const [from, to] of allowed) {
    const a = await reach(from)
    const body: Record<string, string> = { status: to }
    if (to === 'Resolved') body.verdict = 'benign_positive'
    if (from === 'Resolved') body.reason = 'seen again'
    const r = await patch(app, responder, a.id, body)
    t.equal(r.status, 200, `${from} -> ${to} applies`)
    t.equal(r.body.status, to)
  }
  for (const [from, to, names] of refused) {
    const a = await reach(from)
    const before = (await inject(app, { method: 'GET', url: `/api/alerts/${a.id}/`, headers: admin.auth })).body
    const r = await patch(app, responder, a.id, { status: to })
    t.equal(r.status, 409, `${from} -> ${to} is refused`)
    t.equal(r.body.code, 'conflict')
    t.match(r.body.errors.status[0], names, 'names the allowed transitions')
    const after = (await inject(app, { method: 'GET', url: `/api/alerts/${a.id}/`, headers: admin.auth })).body
    t.same(after, before, 'nothing changed')
  }
  // The same status again is no change: 200, nothing written, the version stays.
  const a = await newAlert(app, admin)
  const same = await patch(app, responder, a.id, { status: 'Open' })
  t.equal(same.status, 200)
  t.equal(same.body.version, a.version)
})

t.test('verdicts: recorded on resolve, corrected while resolved, cleared by a reopen that needs a reason', async (t) => {
  const { app, admin, responder } = await setup(t)
  const a = await newAlert(app, admin)
  t.equal(a.verdict, null)

  const early = await patch(app, responder, a.id, { verdict: 'false_positive' })
  t.equal(early.status, 400, 'a verdict without resolving is refused')
  t.ok(early.body.errors.verdict)

  const res = await patch(app, responder, a.id, { status: 'Resolved', verdict: 'false_positive', reason: 'IT scanner' })
  t.equal(res.status, 200)
  t.equal(res.body.verdict, 'false_positive')
  t.equal(res.body.reason, 'IT scanner')
  t.ok(res.body.resolved_at, 'resolved_at is set')
  t.equal(res.body.acknowledged_at, res.body.resolved_at, 'resolved straight from Open: acknowledged then too')

  const fix = await patch(app, responder, a.id, { verdict: 'benign_positive' })
  t.equal(fix.status, 200, 'a resolved alert’s verdict is corrected')
  t.equal(fix.body.verdict, 'benign_positive')
  t.equal(fix.body.reason, 'IT scanner', 'the reason stays')

  const bare = await patch(app, responder, a.id, { status: 'Open' })
  t.equal(bare.status, 400, 'a reopen without a reason is refused')
  t.ok(bare.body.errors.reason)
  const reopen = await patch(app, responder, a.id, { status: 'Open', reason: 'beaconed again' })
  t.equal(reopen.status, 200)
  t.equal(reopen.body.verdict, null, 'the verdict is cleared')
  t.equal(reopen.body.reason, null, 'and its reason')
  t.equal(reopen.body.resolved_at, null, 'no longer resolved')
  t.equal(reopen.body.acknowledged_at, res.body.acknowledged_at, 'the first response time stays')

  const [, , last] = (await history(app, admin, a.id)).filter((h: any) => h.action === 'changed')
  t.same(last.before, { status: 'Resolved', verdict: 'benign_positive', reason: 'IT scanner' }, 'the history keeps what was cleared')
  t.same(last.after, { status: 'Open', verdict: null, reason: null, reopen_reason: 'beaconed again' })

  // The Django original's clients resolve with a status alone: `other` is recorded.
  const b = await newAlert(app, admin)
  const legacy = await patch(app, admin, b.id, { status: 'Resolved' })
  t.equal(legacy.status, 200)
  t.equal(legacy.body.verdict, 'other')
})

t.test('VERDICT_REQUIRED: resolving without a verdict is 400 and changes nothing', async (t) => {
  const { app, admin, responder } = await setup(t, { VERDICT_REQUIRED: true })
  const a = await newAlert(app, admin)
  const r = await patch(app, responder, a.id, { status: 'Resolved' })
  t.equal(r.status, 400)
  t.equal(r.body.code, 'validation_failed')
  t.ok(r.body.errors.verdict)
  const now = (await inject(app, { method: 'GET', url: `/api/alerts/${a.id}/`, headers: admin.auth })).body
  t.equal(now.status, 'Open')
  t.equal(now.version, a.version)
})

t.test('acknowledged_at is the first response; resolved_at the last resolve', async (t) => {
  const { app, admin, responder } = await setup(t)
  const a = await newAlert(app, admin)
  const ack = await patch(app, responder, a.id, { status: 'Acknowledged' })
  t.ok(ack.body.acknowledged_at)
  t.ok(new Date(ack.body.acknowledged_at) >= new Date(a.created_at))
  const back = await patch(app, responder, a.id, { status: 'Open' })
  t.equal(back.body.acknowledged_at, ack.body.acknowledged_at, 'going back to Open keeps it')
  const again = await patch(app, responder, a.id, { status: 'Acknowledged' })
  t.equal(again.body.acknowledged_at, ack.body.acknowledged_at, 'a second acknowledgement does not move it')
  const res = await patch(app, responder, a.id, { status: 'Resolved', verdict: 'duplicate' })
  t.ok(new Date(res.body.resolved_at) >= new Date(again.body.updated_at))
})

t.test('assignment: to responders and admins only; filters assignee, me and unassigned', async (t) => {
  const { app, admin, analyst, viewer, responder } = await setup(t)
  const mine = await newAlert(app, admin, 'src-a')
  const theirs = await newAlert(app, admin, 'src-b')
  const nobody = await newAlert(app, admin, 'src-c')
  t.equal((await patch(app, responder, mine.id, { assignee: responder.user.id })).body.assignee, responder.user.id)
  t.equal((await patch(app, responder, theirs.id, { assignee: admin.user.id })).body.assignee, admin.user.id)

  for (const [who, why] of [
    [analyst.user.id, 'may not triage'],
    [viewer.user.id, 'may not triage'],
    [999999, 'does not exist']
  ] as const) {
    const r = await patch(app, responder, nobody.id, { assignee: who })
    t.equal(r.status, 400, `assignee ${who}: 400`)
    t.match(r.body.errors.assignee[0], why)
  }
  const ids = async (q: string, by = responder) => (await inject(app, { method: 'GET', url: `/api/alerts/?${q}`, headers: by.auth })).body.results.map((a: any) => a.id)
  t.same(await ids('assignee=me'), [mine.id], 'me')
  t.same(await ids('assignee=me', admin), [theirs.id], 'me is whoever asks')
  t.same(await ids(`assignee=${admin.user.id}`), [theirs.id], 'by id')
  t.same(await ids('unassigned=true'), [nobody.id], 'nobody')
  t.same((await ids('unassigned=false')).sort(), [mine.id, theirs.id].sort(), 'somebody')
  const bad = await inject(app, { method: 'GET', url: '/api/alerts/?assignee=someone', headers: admin.auth })
  t.equal(bad.status, 400)

  const un = await patch(app, responder, mine.id, { assignee: null })
  t.equal(un.body.assignee, null, 'null unassigns')
  t.same(await ids('assignee=me'), [])
})

t.test('tags: added and removed, bounded, filtered by', async (t) => {
  const { app, admin, responder } = await setup(t)
  const a = await newAlert(app, admin)
  const b = await newAlert(app, admin)
  t.same((await patch(app, responder, a.id, { add_tags: ['phishing', 'vip'] })).body.tags, ['phishing', 'vip'])
  t.same((await patch(app, responder, a.id, { add_tags: ['vip', 'triage'], remove_tags: ['phishing'] })).body.tags, ['vip', 'triage'], 'kept in order, no repeats')
  await patch(app, responder, b.id, { add_tags: ['triage'] })
  const ids = async (tag: string) => (await inject(app, { method: 'GET', url: `/api/alerts/?tag=${tag}`, headers: admin.auth })).body.results.map((x: any) => x.id)
  t.same(await ids('vip'), [a.id])
  t.same((await ids('triage')).sort(), [a.id, b.id].sort())
  t.same(await ids('phishing'), [])

  const bad = await patch(app, responder, a.id, { add_tags: ['has space'] })
  t.equal(bad.status, 400, 'a tag is a label')
  const many = Array.from({ length: 31 }, (_, i) => `t${i}`)
  const over = await patch(app, responder, a.id, { add_tags: many })
  t.equal(over.status, 400, 'at most 32 tags on an alert')
  t.ok(over.body.errors.add_tags)
  t.same((await inject(app, { method: 'GET', url: `/api/alerts/${a.id}/`, headers: admin.auth })).body.tags, ['vip', 'triage'], 'nothing changed')
})

t.test('comments: bounded text; the author deletes their own, an admin any; analysts read them', async (t) => {
  const { app, admin, analyst, responder } = await setup(t)
  const other = await makeUser(app, 'responder')
  const a = await newAlert(app, admin)
  const url = `/api/alerts/${a.id}/comments/`
  const c1 = await inject(app, { method: 'POST', url, headers: responder.auth, payload: { body: 'looks like the scanner' } })
  t.equal(c1.status, 201)
  t.equal(c1.body.author, responder.user.username)
  const c2 = await inject(app, { method: 'POST', url, headers: other.auth, payload: { body: 'agreed' } })
  t.equal((await inject(app, { method: 'POST', url, headers: analyst.auth, payload: { body: 'x' } })).status, 403, 'analysts read, admins and responders write')
  t.equal((await inject(app, { method: 'POST', url, headers: responder.auth, payload: { body: '   ' } })).status, 400, 'not blank')
  t.equal((await inject(app, { method: 'POST', url, headers: responder.auth, payload: { body: 'x'.repeat(10_001) } })).status, 400, 'bounded')
  t.equal((await inject(app, { method: 'POST', url: '/api/alerts/999999/comments/', headers: responder.auth, payload: { body: 'x' } })).status, 404)

  const list = await inject(app, { method: 'GET', url, headers: analyst.auth })
  t.same(list.body.results.map((c: any) => c.body), ['agreed', 'looks like the scanner'], 'newest first')

  const notMine = await inject(app, { method: 'DELETE', url: `${url}${c1.body.id}/`, headers: other.auth })
  t.equal(notMine.status, 403, "not another's")
  t.equal((await inject(app, { method: 'DELETE', url: `${url}${c1.body.id}/`, headers: responder.auth })).status, 204, 'their own')
  t.equal((await inject(app, { method: 'DELETE', url: `${url}${c2.body.id}/`, headers: admin.auth })).status, 204, 'an admin any')
  t.equal((await inject(app, { method: 'DELETE', url: `${url}${c2.body.id}/`, headers: admin.auth })).status, 404, 'gone')
  t.equal((await inject(app, { method: 'GET', url, headers: analyst.auth })).body.count, 0)

  const h = await history(app, admin, a.id)
  t.same(
    h.map((e: any) => [e.action, e.actor]),
    [
      ['raised', null],
      ['commented', responder.user.username],
      ['commented', other.user.username],
      ['comment_deleted', responder.user.username],
      ['comment_deleted', admin.user.username]
    ]
  )
  t.equal(h[3].before.body, 'looks like the scanner', 'a deleted comment stays on record')
})

t.test('history: every change with actor, time, before and after', async (t) => {
  const { app, admin, responder } = await setup(t)
  const a = await newAlert(app, admin)
  await patch(app, responder, a.id, { status: 'Acknowledged', assignee: responder.user.id, add_tags: ['ssh'] })
  const inc = await inject(app, { method: 'POST', url: '/api/incidents/', headers: responder.auth, payload: { title: 'case', severity: 'High', alert_ids: [a.id] } })
  await inject(app, { method: 'DELETE', url: `/api/incidents/${inc.body.id}/alerts/${a.id}/`, headers: responder.auth })
  await inject(app, { method: 'POST', url: `/api/incidents/${inc.body.id}/alerts/`, headers: responder.auth, payload: { alert_ids: [a.id] } })
  await patch(app, responder, a.id, { status: 'Resolved', verdict: 'true_positive', reason: 'confirmed' })
  // The event's own change follows to its alert: by nobody.
  await inject(app, { method: 'PATCH', url: `/api/events/${a.event}/`, headers: admin.auth, payload: { severity: 'Critical' } })
  const h = await history(app, admin, a.id)
  t.same(
    h.map((e: any) => [e.action, e.actor, e.before, e.after]),
    [
      ['raised', null, null, { status: 'Open' }],
      ['changed', responder.user.username, { status: 'Open', assignee: null, tags: [] }, { status: 'Acknowledged', assignee: responder.user.id, tags: ['ssh'] }],
      ['linked', responder.user.username, null, { incident_id: inc.body.id }],
      ['unlinked', responder.user.username, { incident_id: inc.body.id }, null],
      ['linked', responder.user.username, null, { incident_id: inc.body.id }],
      ['changed', responder.user.username, { status: 'Acknowledged', verdict: null, reason: null }, { status: 'Resolved', verdict: 'true_positive', reason: 'confirmed' }],
      ['changed', null, { severity: 'High' }, { severity: 'Critical' }]
    ]
  )
  for (const e of h) t.ok(new Date(e.created_at) >= new Date(a.created_at), 'each has its time')
  t.equal((await inject(app, { method: 'GET', url: '/api/alerts/999999/history/', headers: admin.auth })).status, 404)
})

t.test('If-Match: two changes from the same version, one applies and the other is 412', async (t) => {
  const { app, admin, responder } = await setup(t)
  const a = await newAlert(app, admin)
  const got = await inject(app, { method: 'GET', url: `/api/alerts/${a.id}/`, headers: responder.auth })
  t.equal(got.headers.etag, `"${a.version}"`, 'GET carries the ETag')

  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const send = (payload: unknown) =>
    fetch(`http://127.0.0.1:${port}/api/alerts/${a.id}/`, {
      method: 'PATCH',
      headers: { ...responder.auth, 'content-type': 'application/json', 'if-match': got.headers.etag as string },
      body: JSON.stringify(payload)
    })
  const [r1, r2] = await Promise.all([send({ status: 'Acknowledged' }), send({ status: 'Resolved', verdict: 'false_positive' })])
  const statuses = [r1.status, r2.status].sort()
  t.same(statuses, [200, 412], 'exactly one wins')
  const winner = r1.status === 200 ? r1 : r2
  const loser = r1.status === 200 ? r2 : r1
  const won = await winner.json()
  t.equal(winner.headers.get('etag'), `"${a.version + 1}"`, 'the reply carries the new ETag')
  const lost = await loser.json()
  t.equal(lost.code, 'precondition_failed')
  const now = (await inject(app, { method: 'GET', url: `/api/alerts/${a.id}/`, headers: admin.auth })).body
  t.equal(now.status, won.status, "the loser's change did not apply")
  t.equal(now.version, a.version + 1)
  t.equal((await history(app, admin, a.id)).filter((e: any) => e.action === 'changed').length, 1, 'one change in the history')

  t.equal((await patch(app, responder, a.id, { add_tags: ['x'] }, { 'if-match': '*' })).status, 200, '* matches any version')
  t.equal((await patch(app, responder, a.id, { add_tags: ['y'] }, { 'if-match': 'W/"1", "garbage"' })).status, 412, 'a weak or unknown tag matches nothing')
  t.equal((await patch(app, responder, a.id, { add_tags: ['z'] })).status, 200, 'without If-Match the change applies (the Django clients send none)')
})

t.test('bulk by ids: one result per id, refusals and moved versions skipped with why', async (t) => {
  const { app, admin, analyst, responder } = await setup(t)
  const open = await newAlert(app, admin)
  const resolved = await newAlert(app, admin)
  await patch(app, responder, resolved.id, { status: 'Resolved', verdict: 'other' })
  const moved = await newAlert(app, admin)
  await patch(app, responder, moved.id, { add_tags: ['x'] })
  const already = await newAlert(app, admin)
  await patch(app, responder, already.id, { status: 'Acknowledged' })

  const body = { ids: [open.id, resolved.id, { id: moved.id, version: moved.version }, already.id, 999999], set: { status: 'Acknowledged', assignee: responder.user.id } }
  t.equal((await inject(app, { method: 'POST', url: '/api/alerts/bulk/', headers: analyst.auth, payload: body })).status, 403)
  const r = await inject(app, { method: 'POST', url: '/api/alerts/bulk/', headers: responder.auth, payload: body })
  t.equal(r.status, 200)
  t.same(
    r.body.results.map((x: any) => [x.id, x.result, x.reason]),
    [
      [open.id, 'updated', undefined],
      [resolved.id, 'skipped', 'transition_not_allowed'],
      [moved.id, 'skipped', 'version_moved'],
      [already.id, 'updated', undefined],
      [999999, 'not_found', undefined]
    ]
  )
  t.same([r.body.updated, r.body.skipped, r.body.not_found], [2, 2, 1])
  t.equal(r.body.results[3].alert.assignee, responder.user.id, 'already Acknowledged: only the assignee changed')
  const mine = (await inject(app, { method: 'GET', url: '/api/alerts/?assignee=me', headers: responder.auth })).body.results.map((a: any) => a.id)
  t.same(mine.sort(), [open.id, already.id].sort())

  const tooMany = await inject(app, { method: 'POST', url: '/api/alerts/bulk/', headers: responder.auth, payload: { ids: Array.from({ length: 1001 }, (_, i) => i + 1), set: { status: 'Acknowledged' } } })
  t.equal(tooMany.status, 400, 'at most 1,000 ids')
})
