// /api/suppressions through the real app, and the matcher ingestion calls: creating, reading,
// listing, changing and ending suppressions (admins only, every change audited); what a new one
// is refused for; the bound of unexpired ones; resolve_matching resolving the open alerts a new
// suppression matches; and SuppressionSet: each condition alone and together, fields by dotted
// path and in arrays, the lowest id first, expiry noticed without a reload, hits counted and
// written, and every instance reading the suppressions again when the database announces a change.
import { sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { suppressionChanges } from '../src/db/channels.js'
import { rowsOf } from '../src/db/queries.js'
import type { EventType, Severity } from '../src/db/schema.js'
import { recordView } from '../src/detection/record.js'
import { MAX_ACTIVE_SUPPRESSIONS, SuppressionSet, type SuppressionSubject } from '../src/services/suppressions.js'
import { build, eventually, inject, makeUser, type TestUser } from './helper.js'

const FIELDS = [
  'active', 'created_at', 'created_by', 'event_type', 'expires_at', 'fields', 'hits', 'id', 'last_hit_at', 'owner', 'reason', 'rule_id', 'severity', 'source', 'updated_at'
]

const DAY = 86_400_000
/** An expiry `ms` from now. */
const ahead = (ms: number) => new Date(Date.now() + ms).toISOString()

const post = (app: FastifyInstance, who: TestUser, payload: Record<string, unknown>) =>
  inject(app, { method: 'POST', url: '/api/suppressions/', headers: who.auth, payload })
const get = (app: FastifyInstance, who: TestUser, url: string) => inject(app, { method: 'GET', url, headers: who.auth })
const patch = (app: FastifyInstance, who: TestUser, id: number, payload: Record<string, unknown>) =>
  inject(app, { method: 'PATCH', url: `/api/suppressions/${id}/`, headers: who.auth, payload })
const end = (app: FastifyInstance, who: TestUser, id: number) => inject(app, { method: 'DELETE', url: `/api/suppressions/${id}/`, headers: who.auth })

async function create(app: FastifyInstance, who: TestUser, payload: Record<string, unknown>) {
  const r = await post(app, who, { reason: 'test', expires_at: ahead(30 * DAY), ...payload })
  if (r.status !== 201) throw new Error(`suppression not created: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}

const stored = async (app: FastifyInstance) => (await rowsOf<{ n: number }>(app.db, sql`select count(*)::int as n from suppressions`))[0].n

async function audits(app: FastifyInstance, who: TestUser, id: number) {
  const r = await get(app, who, `/api/audit/?target_type=suppression&target_id=${id}`)
  return (r.body.results as { action: string; actor_id: number; before: unknown; after: Record<string, unknown> }[]).reverse()
}

t.test('create, read, list, change and end a suppression', async (t) => {
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  const analyst = await makeUser(app, 'analyst')

  const expires = ahead(30 * DAY)
  const created = await post(app, admin, {
    source: 'scanner',
    event_type: 'intrusion',
    severity: 'High',
    rule_id: 'rule-1',
    fields: { 'source.ip': '10.0.0.4' },
    reason: '  Weekly scan.\nCHG-4121  ',
    expires_at: expires
  })
  t.equal(created.status, 201)
  const s = created.body
  t.same(Object.keys(s).sort(), [...FIELDS, 'bulk_job'].sort())
  t.match(s, {
    source: 'scanner',
    event_type: 'intrusion',
    severity: 'High',
    rule_id: 'rule-1',
    fields: { 'source.ip': '10.0.0.4' },
    reason: 'Weekly scan.\nCHG-4121',
    owner: admin.user.id,
    created_by: admin.user.id,
    expires_at: expires,
    active: true,
    hits: 0,
    last_hit_at: null,
    bulk_job: null
  })
  t.equal(s.reason, 'Weekly scan.\nCHG-4121', 'the reason is trimmed; line breaks are kept')

  const theirs = await create(app, admin, { event_type: 'malware', owner: analyst.user.id })
  t.equal(theirs.owner, analyst.user.id, 'another active user may own it')
  t.equal(theirs.created_by, admin.user.id)
  t.same(theirs.fields, {}, 'no field conditions: an empty object')
  t.equal(theirs.source, null, 'a condition not given is null')

  const one = await get(app, admin, `/api/suppressions/${s.id}/`)
  t.equal(one.status, 200)
  const { bulk_job: _job, ...plain } = s
  t.same(one.body, plain, 'read back as created')

  const list = await get(app, admin, '/api/suppressions/')
  t.equal(list.status, 200)
  t.equal(list.body.count, 2)
  t.same(list.body.results.map((x: { id: number }) => x.id), [theirs.id, s.id], 'newest first')
  t.same((await get(app, admin, `/api/suppressions/?owner=${analyst.user.id}`)).body.results.map((x: { id: number }) => x.id), [theirs.id], 'by owner')

  // Changing: the reason, the owner, the expiry; the match stays.
  const later = ahead(60 * DAY)
  const changed = await patch(app, admin, s.id, { expires_at: later, reason: 'Weekly scan, extended.', source: 'elsewhere' })
  t.equal(changed.status, 200)
  t.equal(changed.body.expires_at, later, 'extended')
  t.equal(changed.body.reason, 'Weekly scan, extended.')
  t.equal(changed.body.source, 'scanner', 'the match cannot be changed')
  t.ok(changed.body.updated_at >= s.updated_at)
  const same = await patch(app, admin, s.id, { reason: 'Weekly scan, extended.' })
  t.equal(same.status, 200, 'a change to what it already is answers as it is')
  const handed = await patch(app, admin, s.id, { owner: analyst.user.id })
  t.equal(handed.body.owner, analyst.user.id)
  t.equal(handed.body.expires_at, later)
  const shorter = ahead(DAY)
  t.equal((await patch(app, admin, s.id, { expires_at: shorter })).body.expires_at, shorter, 'shortened')

  // Ending: it stays, inactive, and ending it again changes nothing.
  const ended = await end(app, admin, s.id)
  t.equal(ended.status, 204)
  t.equal(ended.raw.body, '')
  const after = (await get(app, admin, `/api/suppressions/${s.id}/`)).body
  t.equal(after.active, false, 'ended')
  t.ok(Date.parse(after.expires_at) <= Date.now(), 'its expiry is now')
  t.same((await get(app, admin, '/api/suppressions/?active=true')).body.results.map((x: { id: number }) => x.id), [theirs.id], 'no longer among the active ones')
  t.same((await get(app, admin, '/api/suppressions/?active=false')).body.results.map((x: { id: number }) => x.id), [s.id], 'listed among the ended ones')
  t.equal((await end(app, admin, s.id)).status, 204, 'ending an ended one is fine')
  t.same((await get(app, admin, `/api/suppressions/${s.id}/`)).body, after, 'and changes nothing')
  t.equal(await stored(app), 2, 'never deleted')

  // An ended one extended applies again.
  const again = await patch(app, admin, s.id, { expires_at: later })
  t.equal(again.body.active, true, 'extended again, it applies again')

  for (const [method, url] of [['GET', '/api/suppressions/999999/'], ['PATCH', '/api/suppressions/999999/'], ['DELETE', '/api/suppressions/999999/']]) {
    const r = await inject(app, { method: method as 'GET', url, headers: admin.auth, ...(method === 'PATCH' ? { payload: { reason: 'x' } } : {}) })
    t.equal(r.status, 404, `${method} of no such suppression`)
    t.equal(r.body.code, 'not_found')
  }

  // Every change in the audit trail: who, and the fields before and after.
  const trail = await audits(app, admin, s.id)
  t.same(trail.map((a) => a.action), ['suppression.created', 'suppression.updated', 'suppression.updated', 'suppression.updated', 'suppression.ended', 'suppression.updated'])
  t.ok(trail.every((a) => a.actor_id === admin.user.id), 'by the admin')
  t.match(trail[0].after, { source: 'scanner', event_type: 'intrusion', severity: 'High', rule_id: 'rule-1', fields: { 'source.ip': '10.0.0.4' }, owner: admin.user.id, expires_at: expires })
  t.same(trail[1].before, { reason: 'Weekly scan.\nCHG-4121', expires_at: expires }, 'only what changed, before')
  t.same(trail[1].after, { reason: 'Weekly scan, extended.', expires_at: later }, 'and after')
  t.same(trail[2].before, { owner: admin.user.id })
  t.same(trail[2].after, { owner: analyst.user.id })
  t.same(trail[4].before, { expires_at: shorter, hits: 0 })
  t.equal(trail[4].after.expires_at, after.expires_at, 'the end: its expiry moved to then')
})

t.test('what a suppression is refused for', async (t) => {
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  const gone = await makeUser(app, 'analyst')
  await inject(app, { method: 'PATCH', url: `/api/users/${gone.user.id}/`, headers: admin.auth, payload: { is_active: false } })
  const base = { source: 'scanner', reason: 'r', expires_at: ahead(30 * DAY) }

  const refused = async (name: string, payload: Record<string, unknown>, field: string) => {
    const r = await post(app, admin, payload)
    t.equal(r.status, 400, name)
    t.equal(r.body.code, 'validation_failed', `${name}: validation_failed`)
    t.ok(r.body.errors?.[field], `${name}: names ${field}`, { errors: r.body.errors })
    return r.body
  }
  const none = await refused('no condition', { reason: 'r', expires_at: ahead(DAY) }, 'non_field_errors')
  t.match(none.detail, 'at least one match condition')
  await refused('empty fields are no condition', { reason: 'r', expires_at: ahead(DAY), fields: {} }, 'non_field_errors')
  await refused('expires in the past', { ...base, expires_at: ahead(-60_000) }, 'expires_at')
  await refused('expires more than 366 days ahead', { ...base, expires_at: ahead(367 * DAY) }, 'expires_at')
  await refused('expires without a time zone', { ...base, expires_at: '2031-01-01T00:00:00' }, 'expires_at')
  await refused('no expiry', { source: 'scanner', reason: 'r' }, 'expires_at')
  await refused('a field path starting with a dot', { ...base, fields: { '.ip': '1' } }, 'fields')
  await refused('a field path with a space', { ...base, fields: { 'source ip': '1' } }, 'fields')
  await refused('a field path too long', { ...base, fields: { [`a${'b'.repeat(128)}`]: '1' } }, 'fields')
  await refused('a field value of two lines', { ...base, fields: { 'user.name': 'a\nb' } }, 'fields.user.name')
  await refused('a field value that is no text', { ...base, fields: { 'user.name': 7 } }, 'fields.user.name')
  await refused('an empty field value', { ...base, fields: { 'user.name': '' } }, 'fields.user.name')
  await refused('more than 20 fields', { ...base, fields: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`f${i}`, 'v'])) }, 'fields')
  await refused('a reason with a direction override', { ...base, reason: 'scan \u202eexe.txt' }, 'reason')
  await refused('a reason with a NUL', { ...base, reason: 'a\u0000b' }, 'reason')
  await refused('a blank reason', { ...base, reason: '   ' }, 'reason')
  await refused('no reason', { source: 'scanner', expires_at: ahead(DAY) }, 'reason')
  await refused('a reason over 2000 characters', { ...base, reason: 'r'.repeat(2001) }, 'reason')
  await refused('a source with a control character', { ...base, source: 'scan\u0007ner' }, 'source')
  await refused('an owner who is not a user', { ...base, owner: 999999 }, 'owner')
  await refused('an owner who is deactivated', { ...base, owner: gone.user.id }, 'owner')
  await refused('an unknown verdict', { ...base, resolve_matching: { verdict: 'maybe' } }, 'resolve_matching.verdict')
  const byFields = await refused('resolve_matching with fields', { ...base, fields: { 'user.name': 'deploy' }, resolve_matching: { verdict: 'benign_positive' } }, 'resolve_matching')
  t.match(byFields.detail, 'cannot be matched by event fields')
  t.equal(await stored(app), 0, 'nothing was stored')
  t.equal((await get(app, admin, '/api/alerts/bulk/')).body.length, 0, 'and no job started')

  // The limits themselves are allowed.
  const edge = await create(app, admin, {
    fields: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}.sub_@-x`, 'v'.repeat(1024)])),
    reason: 'r'.repeat(2000),
    expires_at: ahead(365 * DAY)
  })
  t.equal(Object.keys(edge.fields).length, 20, '20 fields of 1024 characters, a reason of 2000, 365 days ahead')

  const s = await create(app, admin, base)
  for (const [name, payload, field] of [
    ['an expiry in the past', { expires_at: ahead(-1000) }, 'expires_at'],
    ['an expiry too far ahead', { expires_at: ahead(400 * DAY) }, 'expires_at'],
    ['an owner who is not a user', { owner: 999999 }, 'owner'],
    ['a reason with a direction override', { reason: '\u2066x' }, 'reason']
  ] as const) {
    const r = await patch(app, admin, s.id, payload)
    t.equal(r.status, 400, `PATCH: ${name}`)
    t.ok(r.body.errors?.[field], `PATCH: ${name}: names ${field}`)
  }
  t.same((await get(app, admin, `/api/suppressions/${s.id}/`)).body.expires_at, s.expires_at, 'a refused change changes nothing')
})

t.test('suppressions are for admins only', async (t) => {
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  const s = await create(app, admin, { source: 'scanner' })
  for (const role of ['analyst', 'responder', 'viewer'] as const) {
    const who = await makeUser(app, role)
    for (const [method, url, payload] of [
      ['GET', '/api/suppressions/', undefined],
      ['POST', '/api/suppressions/', { source: 'x', reason: 'r', expires_at: ahead(DAY) }],
      ['GET', `/api/suppressions/${s.id}/`, undefined],
      ['PATCH', `/api/suppressions/${s.id}/`, { reason: 'mine now' }],
      ['DELETE', `/api/suppressions/${s.id}/`, undefined]
    ] as const) {
      const r = await inject(app, { method, url, headers: who.auth, ...(payload ? { payload } : {}) })
      t.equal(r.status, 403, `${role}: ${method} ${url}`)
      t.equal(r.body.code, 'permission_denied')
    }
  }
  const still = (await get(app, admin, `/api/suppressions/${s.id}/`)).body
  t.equal(still.reason, 'test', 'unchanged')
  t.equal(still.active, true, 'not ended')
  t.equal(await stored(app), 1, 'nothing created')
})

t.test(`at most ${MAX_ACTIVE_SUPPRESSIONS} unexpired suppressions at once`, async (t) => {
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  await app.db.execute(sql`insert into suppressions (source, reason, expires_at)
    select 'src-' || i, 'bulk', now() + interval '1 day' from generate_series(1, ${MAX_ACTIVE_SUPPRESSIONS}::int) i`)
  // Expired ones do not count.
  await app.db.execute(sql`insert into suppressions (source, reason, expires_at) values ('old', 'expired', now() - interval '1 day')`)
  const full = await post(app, admin, { source: 'one-more', reason: 'r', expires_at: ahead(DAY) })
  t.equal(full.status, 409)
  t.equal(full.body.code, 'conflict')
  t.match(full.body.detail, `${MAX_ACTIVE_SUPPRESSIONS} unexpired suppressions`)
  const [first] = await rowsOf<{ id: number }>(app.db, sql`select id from suppressions order by id limit 1`)
  t.equal((await end(app, admin, Number(first.id))).status, 204, 'one ended')
  const room = await post(app, admin, { source: 'one-more', reason: 'r', expires_at: ahead(DAY) })
  t.equal(room.status, 201, 'makes room for one')
  t.equal((await post(app, admin, { source: 'two-more', reason: 'r', expires_at: ahead(DAY) })).status, 409, 'and one only')
  const revive = await patch(app, admin, Number(first.id), { expires_at: ahead(DAY) })
  t.equal(revive.status, 409, 'an ended one cannot apply again while the bound is reached')
  t.equal((await get(app, admin, `/api/suppressions/${first.id}/`)).body.active, false)
  t.equal((await patch(app, admin, room.body.id, { expires_at: ahead(2 * DAY) })).status, 200, 'an unexpired one may still be extended')
})

t.test('resolve_matching resolves the open alerts a new suppression matches', async (t) => {
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  const event = async (source: string) => {
    const r = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source, event_type: 'intrusion', severity: 'High' } })
    t.equal(r.status, 201)
  }
  for (let i = 0; i < 5; i++) await event('scanner')
  for (let i = 0; i < 2; i++) await event('fw')
  const alertsOf = async (source: string) =>
    (await get(app, admin, `/api/alerts/?source=${source}&page_size=100`)).body.results as { id: number; status: string; verdict: string | null; reason: string | null }[]
  const scanner = await alertsOf('scanner')
  t.equal(scanner.length, 5, 'each High event raised an alert')
  const earlier = scanner.slice(0, 2).map((a) => a.id)
  for (const id of earlier) {
    const r = await inject(app, { method: 'PATCH', url: `/api/alerts/${id}/`, headers: admin.auth, payload: { status: 'Resolved', verdict: 'true_positive', reason: 'real' } })
    t.equal(r.status, 200)
  }
  const acked = scanner[2].id
  t.equal((await inject(app, { method: 'PATCH', url: `/api/alerts/${acked}/`, headers: admin.auth, payload: { status: 'Acknowledged' } })).status, 200)

  const r = await post(app, admin, { source: 'scanner', reason: 'The scanner is expected.', expires_at: ahead(7 * DAY), resolve_matching: { verdict: 'benign_positive', reason: 'scanner noise' } })
  t.equal(r.status, 201)
  t.type(r.body.bulk_job, 'number', 'the reply names the job')
  const job = async () => (await get(app, admin, `/api/alerts/bulk/${r.body.bulk_job}/`)).body
  t.ok(await eventually(async () => (await job()).state === 'done', 30_000), 'the job finishes')
  const j = await job()
  t.same(j.filter, { source: 'scanner', resolved: false }, 'over the open alerts of the match')
  t.same(j.set, { status: 'Resolved', verdict: 'benign_positive', reason: 'scanner noise' })
  t.equal(j.matched, 3)
  t.equal(j.updated, 3)

  const now = await alertsOf('scanner')
  for (const a of now) {
    if (earlier.includes(a.id)) t.match(a, { status: 'Resolved', verdict: 'true_positive', reason: 'real' }, `alert ${a.id}, resolved before, keeps its verdict`)
    else t.match(a, { status: 'Resolved', verdict: 'benign_positive', reason: 'scanner noise' }, `alert ${a.id} is resolved by the job`)
  }
  t.ok((await alertsOf('fw')).every((a) => a.status === 'Open' && a.verdict === null), 'alerts of another source are untouched')
  const [created] = await audits(app, admin, r.body.id)
  t.match(created, { action: 'suppression.created', after: { resolve_matching: { verdict: 'benign_positive', reason: 'scanner noise' }, bulk_job: r.body.bulk_job } })
})

/** An event as ingestion would match it: anomaly, Low, from `other`, no rules and no fields, unless given. */
function subject(over: Partial<Omit<SuppressionSubject, 'field'>> & { record?: Record<string, unknown> } = {}): SuppressionSubject {
  const view = recordView(over.record ?? {})
  return {
    source: over.source ?? 'other',
    eventType: over.eventType ?? ('anomaly' as EventType),
    severity: over.severity ?? ('Low' as Severity),
    ruleIds: over.ruleIds ?? [],
    field: (path) => view.get(path)
  }
}

t.test('the matcher', async (t) => {
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  const set = new SuppressionSet(app.db, app.log)
  await set.reload()
  t.equal(set.active, false, 'none yet: nothing to match')
  t.equal(set.match(subject({ source: 'scanner' })), null)

  const bySource = await create(app, admin, { source: 'scanner' })
  const byType = await create(app, admin, { event_type: 'malware' })
  const bySeverity = await create(app, admin, { severity: 'Critical' })
  const byRule = await create(app, admin, { rule_id: 'rule-x' })
  const byFields = await create(app, admin, { fields: { 'user.name': 'deploy', 'source.ip': '10.0.0.4' } })
  const all = await create(app, admin, { source: 'web', event_type: 'intrusion', severity: 'High', rule_id: 'sqli', fields: { 'http.response.status_code': '500' } })
  const byTag = await create(app, admin, { fields: { tags: 'noisy' } })
  const byNumber = await create(app, admin, { fields: { count: '42' } })
  const byFlag = await create(app, admin, { fields: { 'flags.test': 'true' } })
  await set.reload()
  t.equal(set.active, true)

  t.equal(set.match(subject()), null, 'an event no suppression names')
  t.equal(set.match(subject({ source: 'scanner' })), bySource.id, 'by source')
  t.equal(set.match(subject({ source: 'Scanner' })), null, 'exactly')
  t.equal(set.match(subject({ eventType: 'malware' })), byType.id, 'by event type')
  t.equal(set.match(subject({ severity: 'Critical' })), bySeverity.id, 'by severity')
  t.equal(set.match(subject({ ruleIds: ['other-rule', 'rule-x'] })), byRule.id, 'by any of the rules that detected it')
  t.equal(set.match(subject({ record: { user: { name: 'deploy' }, source: { ip: '10.0.0.4' } } })), byFields.id, 'by fields, dotted paths through objects')
  t.equal(set.match(subject({ record: { 'user.name': 'deploy', 'source.ip': '10.0.0.4' } })), byFields.id, 'by fields, flat dotted keys')
  t.equal(set.match(subject({ record: { user: { name: 'deploy' } } })), null, 'every field must hold')
  t.equal(set.match(subject({ record: { user: { name: 'deploy' }, source: { ip: '10.0.0.5' } } })), null, 'with its own value')

  const web = { source: 'web', eventType: 'intrusion' as EventType, severity: 'High' as Severity, ruleIds: ['sqli'], record: { http: { response: { status_code: 500 } } } }
  t.equal(set.match(subject(web)), all.id, 'every condition together')
  for (const [name, miss] of [
    ['source', { source: 'web2' }],
    ['event type', { eventType: 'anomaly' as EventType }],
    ['severity', { severity: 'Medium' as Severity }],
    ['rule', { ruleIds: [] }],
    ['field', { record: { http: { response: { status_code: 200 } } } }]
  ] as const) {
    t.equal(set.match(subject({ ...web, ...miss })), null, `all but the ${name}: no match`)
  }

  t.equal(set.match(subject({ record: { tags: ['a', 'noisy'] } })), byTag.id, 'an array holding the value')
  t.equal(set.match(subject({ record: { tags: ['a', 'b'] } })), null, 'an array without it')
  t.equal(set.match(subject({ record: { tags: 'noisy' } })), byTag.id, 'or the value itself')
  t.equal(set.match(subject({ record: { count: 42 } })), byNumber.id, 'a number, as text')
  t.equal(set.match(subject({ record: { count: '42' } })), byNumber.id)
  t.equal(set.match(subject({ record: { count: [41, 42] } })), byNumber.id, 'in an array')
  t.equal(set.match(subject({ record: { count: 42.5 } })), null)
  t.equal(set.match(subject({ record: { count: { value: 42 } } })), null, 'an object is no value')
  t.equal(set.match(subject({ record: { flags: { test: true } } })), byFlag.id, 'a boolean, as text')

  t.equal(set.match(subject({ source: 'scanner', eventType: 'malware', severity: 'Critical' })), bySource.id, 'several match: the lowest id')
  t.equal((await end(app, admin, bySource.id)).status, 204)
  await set.reload()
  t.equal(set.match(subject({ source: 'scanner', eventType: 'malware', severity: 'Critical' })), byType.id, 'ended, the next one')
  t.equal(set.match(subject({ source: 'scanner' })), null, 'an ended one no longer matches')

  // Expiry is noticed by the matcher itself, without a reload.
  const soon = await create(app, admin, { source: 'brief', expires_at: ahead(2000) })
  await set.reload()
  t.equal(set.match(subject({ source: 'brief' })), soon.id, 'matches until it expires')
  t.ok(await eventually(async () => set.match(subject({ source: 'brief' })) === null, 10_000), 'then no longer, without a reload')

  // Hits: counted in memory, written in one statement; the counters alone change nothing else.
  set.hit(byType.id)
  set.hit(byType.id, 2)
  set.hit(byRule.id, 5)
  await set.flush()
  await set.flush()
  const hitType = (await get(app, admin, `/api/suppressions/${byType.id}/`)).body
  t.equal(hitType.hits, 3, 'hits written')
  t.ok(hitType.last_hit_at && Date.parse(hitType.last_hit_at) >= Date.parse(hitType.created_at), 'with the time of the last')
  t.equal(hitType.updated_at, byType.updated_at, 'a hit is not a change of the suppression')
  t.equal((await get(app, admin, `/api/suppressions/${byRule.id}/`)).body.hits, 5)
  t.equal((await get(app, admin, `/api/suppressions/${bySeverity.id}/`)).body.hits, 0, 'only the ones hit')
})

t.test('every instance reads the suppressions again when one changes', async (t) => {
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  const matched = (source: string) => app.suppressions.match(subject({ source }))

  const s = await create(app, admin, { source: 'announced' })
  t.ok(await eventually(async () => matched('announced') === s.id, 10_000), 'one created through the API is matched')
  const [bySql] = await rowsOf<{ id: number }>(app.db, sql`insert into suppressions (source, reason, expires_at) values ('by-sql', 'r', now() + interval '1 hour') returning id`)
  t.ok(await eventually(async () => matched('by-sql') === Number(bySql.id), 10_000), 'one written by any other means too (the database announces it)')
  t.equal((await end(app, admin, s.id)).status, 204)
  t.ok(await eventually(async () => matched('announced') === null, 10_000), 'one ended stops matching')

  // The app's own counters are written every second.
  app.suppressions.hit(Number(bySql.id), 4)
  t.ok(await eventually(async () => (await get(app, admin, `/api/suppressions/${bySql.id}/`)).body.hits === 4, 10_000), 'hits are written by the app')

  // Writing hits is not announced: the next announcement is the next real change.
  const heard: unknown[] = []
  let ready = false
  const stop = new AbortController()
  t.teardown(() => stop.abort())
  app.notifications.subscribe(suppressionChanges, { onMessage: (id) => heard.push(id), onReady: () => (ready = true) }, { signal: stop.signal })
  t.ok(await eventually(async () => ready, 10_000))
  const counters = new SuppressionSet(app.db, app.log)
  counters.hit(Number(bySql.id), 2)
  await counters.flush()
  t.equal((await patch(app, admin, Number(bySql.id), { reason: 'changed' })).status, 200)
  t.ok(await eventually(async () => heard.length > 0, 10_000))
  t.same(heard, [Number(bySql.id)], 'one announcement: the change of its reason, not its hits')
  t.equal((await get(app, admin, `/api/suppressions/${bySql.id}/`)).body.hits, 6)
})
