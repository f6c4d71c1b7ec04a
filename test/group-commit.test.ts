// POST /api/events/ writes concurrent requests together (src/db/group-commit.ts): each request
// must still get exactly its own answer, and one bad request must not fail its neighbours.
import t from 'tap'
import { groupCommit } from '../src/db/group-commit.js'
import { build, inject, makeRoles } from './helper.js'

t.test('concurrent creates: each gets its own event, duplicates and refusals stay alone', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const severities = ['Low', 'Medium', 'High', 'Critical'] as const
  const bodies: Record<string, unknown>[] = Array.from({ length: 40 }, (_, i) => ({
    source: `host-${i % 7}`,
    event_type: i % 2 ? 'malware' : 'intrusion',
    severity: severities[i % 4],
    description: `event ${i}`,
    ...(i % 3 === 0 && { external_id: `ext-${i}` }),
    ...(i % 5 === 0 && { attributes: { i, tags: ['a', 'b'] } })
  }))
  // The same (source, external_id) twice at once, and a value only the database refuses (NUL).
  bodies.push({ ...bodies[3], description: 'same id again' })
  bodies.push({ source: 'host-x', event_type: 'anomaly', severity: 'High', description: 'nul \u0000 byte' })

  const replies = await Promise.all(bodies.map((payload) => inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload })))

  const dup = [replies[3], replies[40]].map((r) => r.status).sort()
  t.same(dup, [201, 409], 'one of the two with the same (source, external_id) is stored, the other is a 409')
  t.equal(replies[41].status, 400, 'the value the database refuses is a 400 for that request only')
  t.match(replies[41].body.detail, /refused/)
  const created = replies.map((r, i) => ({ r, i })).filter(({ r }) => r.status === 201)
  t.equal(created.length, 40, 'every other request is stored')
  t.equal(new Set(created.map(({ r }) => r.body.id)).size, 40, 'each with an id of its own')
  for (const { r, i } of created) {
    const sent = bodies[i]
    t.match(r.body, { source: sent.source, event_type: sent.event_type, severity: sent.severity, description: sent.description, external_id: sent.external_id ?? null }, `request ${i} gets its own event`)
    t.same(r.body.attributes, sent.attributes ?? null, `request ${i}: attributes as stored`)
    const stored = await inject(app, { method: 'GET', url: `/api/events/${r.body.id}/`, headers: admin.auth })
    t.same(stored.body, r.body, `request ${i}: the reply is what GET shows`)
  }
  const alerting = created.filter(({ i }) => ['High', 'Critical'].includes(bodies[i].severity as string)).length
  const alerts = await inject(app, { method: 'GET', url: '/api/alerts/?page_size=100', headers: admin.auth })
  t.equal(alerts.body.count, alerting, 'one alert per stored High or Critical event, none for the refused one')
  const events = await inject(app, { method: 'GET', url: '/api/events/?page_size=100', headers: admin.auth })
  t.equal(events.body.count, 40, 'nothing stored twice, nothing extra')
})

t.test('groupCommit: waiting callers go together, each outcome to its caller, failures stay in their group', async (t) => {
  const groups: number[][] = []
  let release: (() => void)[] = []
  const write = groupCommit(
    async (items: number[]) => {
      groups.push(items)
      await new Promise<void>((resolve) => release.push(resolve))
      if (items.includes(13)) throw new Error('unlucky group')
      return items.map((n) => n * 10)
    },
    { concurrency: 1, maxGroup: 3 }
  )
  const first = write(1)
  const waiting = [2, 3, 4, 13].map((n) => write(n).then((v) => v, (e: Error) => e.message))
  t.same(groups, [[1]], 'the first caller goes at once')
  const drain = async () => {
    while (release.length > 0 || groups.length < 3) {
      const r = release
      release = []
      r.forEach((f) => f())
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  await drain()
  t.equal(await first, 10)
  t.same(await Promise.all(waiting), [20, 30, 40, 'unlucky group'], 'outcomes in order; only the failed group fails')
  t.same(groups, [[1], [2, 3, 4], [13]], 'callers that waited went together, at most maxGroup at a time')
})
