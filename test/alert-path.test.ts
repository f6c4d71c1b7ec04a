// One alert path: every way an event is stored (REST create, event update, native bulk, Splunk
// HEC, Elasticsearch _bulk) raises exactly one alert for a High or Critical event and none for
// Low or Medium, and an admin's manual raise gives one alert per event; no module but
// src/services/alerts.ts writes alert rows. One alert-change path: a status change is audited
// once, a change that changes nothing is not, the copies follow their event, and concurrent
// raises of one event leave one alert.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { and, asc, eq, inArray } from 'drizzle-orm'
import t, { type Test } from 'tap'
import { alerts, auditLog, events, SEVERITIES } from '../src/db/schema.js'
import { PROJECT_ROOT } from '../src/paths.js'
import { raisesAlert } from '../src/services/alerts.js'
import { build, inject, makeRoles } from './helper.js'
import { makeIngestKey } from './ingest-helper.js'

const RAISING = ['High', 'Critical']
const QUIET = ['Low', 'Medium']

t.test('the policy: High and Critical raise, Low and Medium do not', async (t) => {
  t.same(SEVERITIES.filter(raisesAlert), RAISING)
})

t.test('every path that stores an event raises exactly one alert, through the one policy', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const { key } = await makeIngestKey(app, admin, { event_type: 'intrusion' })
  const alertsOf = async (source: string) => {
    const stored = await app.db.select({ id: events.id, severity: events.severity }).from(events).where(eq(events.source, source))
    const raised = stored.length
      ? await app.db.select().from(alerts).where(inArray(alerts.eventId, stored.map((e) => e.id)))
      : []
    return { stored, raised }
  }
  /** Each of `sent` stored once; one alert per High or Critical event, copied from it; none else. */
  const check = async (t: Test, source: string, sent: string[]) => {
    const { stored, raised } = await alertsOf(source)
    t.same(stored.map((e) => e.severity).sort(), [...sent].sort(), 'every event stored once')
    const raising = stored.filter((e) => RAISING.includes(e.severity))
    t.same(raised.map((a) => a.eventId).sort(), raising.map((e) => e.id).sort(), 'one alert per High or Critical event, none for Low or Medium')
    for (const a of raised) {
      t.match(a, { status: 'Open', source, eventType: 'intrusion', severity: stored.find((e) => e.id === a.eventId)!.severity })
    }
  }
  const all = [...RAISING, ...QUIET]

  t.test('REST POST /api/events/', async (t) => {
    for (const severity of all) {
      const r = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 'rest', event_type: 'intrusion', severity } })
      t.equal(r.status, 201)
    }
    await check(t, 'rest', all)
  })

  t.test('REST PATCH and PUT raising the severity', async (t) => {
    const ids: number[] = []
    for (const severity of QUIET) {
      const r = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 'update', event_type: 'intrusion', severity } })
      ids.push(r.body.id)
    }
    await check(t, 'update', QUIET)
    const patched = await inject(app, { method: 'PATCH', url: `/api/events/${ids[0]}/`, headers: admin.auth, payload: { severity: 'High' } })
    t.equal(patched.status, 200)
    const put = await inject(app, {
      method: 'PUT',
      url: `/api/events/${ids[1]}/`,
      headers: admin.auth,
      payload: { source: 'update', event_type: 'intrusion', severity: 'Critical' }
    })
    t.equal(put.status, 200)
    await check(t, 'update', RAISING)
    const again = await inject(app, { method: 'PATCH', url: `/api/events/${ids[0]}/`, headers: admin.auth, payload: { severity: 'Critical' } })
    t.equal(again.status, 200)
    await check(t, 'update', ['Critical', 'Critical'])
    // Lowering the severity keeps the alert (it was raised), with the copy following the event.
    await inject(app, { method: 'PATCH', url: `/api/events/${ids[0]}/`, headers: admin.auth, payload: { severity: 'Low' } })
    const [kept] = await app.db.select().from(alerts).where(eq(alerts.eventId, ids[0]))
    t.equal(kept.severity, 'Low', 'the alert stays, its severity follows the event')
  })

  // Both statements of the ingest path: a few rows go as VALUES, more than 32 as unnest.
  for (const size of [4, 40]) {
    const sent = Array.from({ length: size }, (_, i) => all[i % all.length])
    const records = (source: string) => sent.map((severity, i) => ({ source, severity, message: `m${i}`, external_id: `${source}-${i}` }))

    t.test(`native bulk, ${size} records`, async (t) => {
      const source = `bulk-${size}`
      const payload = records(source).map((r) => JSON.stringify(r)).join('\n')
      const post = () =>
        inject(app, { method: 'POST', url: '/api/events/bulk', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' }, payload })
      t.match((await post()).body, { accepted: size, rejected: 0 })
      await check(t, source, sent)
      t.match((await post()).body, { accepted: 0, duplicates: size }, 're-sent: duplicates')
      await check(t, source, sent)
    })

    t.test(`Splunk HEC, ${size} records`, async (t) => {
      const source = `hec-${size}`
      const payload = records(source).map((r) => JSON.stringify({ event: r })).join('')
      const r = await inject(app, { method: 'POST', url: '/services/collector/event', headers: { authorization: `Splunk ${key}` }, payload })
      t.equal(r.status, 200)
      await check(t, source, sent)
    })

    t.test(`Elasticsearch _bulk, ${size} records`, async (t) => {
      const source = `es-${size}`
      const payload = records(source).map((r) => `{"create":{}}\n${JSON.stringify(r)}\n`).join('')
      const r = await inject(app, {
        method: 'POST',
        url: '/_bulk',
        headers: { authorization: `ApiKey ${Buffer.from(`id:${key}`).toString('base64')}`, 'content-type': 'application/x-ndjson' },
        payload
      })
      t.equal(r.status, 200)
      t.equal(r.body.errors, false)
      await check(t, source, sent)
    })
  }

  t.test('manual POST /api/alerts/: one alert, for an event of any severity', async (t) => {
    for (const severity of QUIET) {
      const e = await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source: 'manual', event_type: 'intrusion', severity } })
      t.equal((await inject(app, { method: 'POST', url: '/api/alerts/', headers: admin.auth, payload: { event: e.body.id } })).status, 201)
      t.equal((await inject(app, { method: 'POST', url: '/api/alerts/', headers: admin.auth, payload: { event: e.body.id } })).status, 409)
    }
    const { stored, raised } = await alertsOf('manual')
    t.same(raised.map((a) => a.eventId).sort(), stored.map((e) => e.id).sort(), 'one alert each')
  })
})

t.test('no module but src/services/alerts.ts writes alert rows', async (t) => {
  const WRITES = [/\.(insert|update|delete)\(\s*alerts\s*\)/, /\b(insert\s+into|update|delete\s+from)\s+"?alerts"?(\s|\(|$)/im]
  const files: string[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else if (path.endsWith('.ts')) files.push(path)
    }
  }
  for (const dir of ['src', 'routes', 'plugins']) walk(join(PROJECT_ROOT, dir))
  const writers = files
    .filter((f) => WRITES.some((re) => re.test(readFileSync(f, 'utf8'))))
    .map((f) => relative(PROJECT_ROOT, f))
  // The patterns find the writes the alerts module does make, so they would find others.
  t.same(writers, ['src/services/alerts.ts'])
})

t.test('one alert-change path', async (t) => {
  const app = await build(t)
  const { admin } = await makeRoles(app)
  const newEvent = async (severity: string, source = 'changes') =>
    (await inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source, event_type: 'intrusion', severity } })).body
      .id as number
  const alertOf = async (eventId: number) => (await app.db.select().from(alerts).where(eq(alerts.eventId, eventId)))[0]
  const audits = (alertId: number) =>
    app.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.targetType, 'alert'), eq(auditLog.targetId, String(alertId))))
      .orderBy(asc(auditLog.id))

  t.test('a status change is audited once; a change that changes nothing is not', async (t) => {
    const alert = await alertOf(await newEvent('High'))
    const patch = (status: string) => inject(app, { method: 'PATCH', url: `/api/alerts/${alert.id}/`, headers: admin.auth, payload: { status } })
    const acked = await patch('Acknowledged')
    t.equal(acked.status, 200)
    t.equal(acked.body.status, 'Acknowledged')
    const [entry, ...more] = await audits(alert.id)
    t.match(entry, { action: 'alert.status_changed', actorId: admin.user.id, before: { status: 'Open' }, after: { status: 'Acknowledged' } })
    t.equal(more.length, 0, 'one audit record')
    const same = await patch('Acknowledged')
    t.equal(same.status, 200)
    t.same(same.body, acked.body, 'nothing changed, not even updated_at')
    t.equal((await audits(alert.id)).length, 1, 'a no-op change is not audited')
    t.equal((await patch('Resolved')).body.status, 'Resolved')
    t.same(
      (await audits(alert.id)).map((a) => a.after),
      [{ status: 'Acknowledged' }, { status: 'Resolved' }],
      'each real change audited once'
    )
  })

  t.test("an event's changes keep its alert's copies in step, without touching its status", async (t) => {
    const id = await newEvent('High')
    const alert = await alertOf(id)
    await inject(app, { method: 'PATCH', url: `/api/alerts/${alert.id}/`, headers: admin.auth, payload: { status: 'Acknowledged' } })
    const r = await inject(app, {
      method: 'PUT',
      url: `/api/events/${id}/`,
      headers: admin.auth,
      payload: { source: 'moved', event_type: 'malware', severity: 'Critical' }
    })
    t.equal(r.status, 200)
    const after = await alertOf(id)
    t.match(after, { id: alert.id, status: 'Acknowledged', source: 'moved', eventType: 'malware', severity: 'Critical' })
    t.ok(after.updatedAt.getTime() >= alert.updatedAt.getTime())
    const api = await inject(app, { method: 'GET', url: `/api/alerts/${alert.id}/`, headers: admin.auth })
    t.match(api.body, { source: 'moved', event_type: 'malware', severity: 'Critical', status: 'Acknowledged' })
    t.equal((await audits(alert.id)).length, 1, 'only the status change is audited')
  })

  t.test('concurrent raises of one event leave one alert', async (t) => {
    const id = await newEvent('Medium')
    const results = await Promise.all([
      ...Array.from({ length: 3 }, () => inject(app, { method: 'PATCH', url: `/api/events/${id}/`, headers: admin.auth, payload: { severity: 'High' } })),
      ...Array.from({ length: 3 }, () => inject(app, { method: 'POST', url: '/api/alerts/', headers: admin.auth, payload: { event: id } }))
    ])
    t.same(results.slice(0, 3).map((r) => r.status), [200, 200, 200])
    const manual = results.slice(3).map((r) => r.status)
    t.ok(manual.every((s) => s === 201 || s === 409), 'a manual raise either raises it or finds it raised')
    t.ok(manual.filter((s) => s === 201).length <= 1, 'at most one manual raise succeeds')
    t.equal((await app.db.select().from(alerts).where(eq(alerts.eventId, id))).length, 1, 'one alert')
  })
})
