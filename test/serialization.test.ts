// Responses are written by fast-json-stringify from each route's schema, in the form
// src/compilers.ts serializedForm gives it: a field that is "X or null" is written as a nullable X,
// not as an anyOf that asks Ajv per value which branch it is. What a client reads must not change:
// the JSON of a page with every such field null, and with every one set, is what JSON.stringify
// writes of the same items, and the route schemas (validation, the OpenAPI document) keep their anyOf.
import t from 'tap'
import fastJsonStringify from 'fast-json-stringify'
import { serializedForm } from '../src/compilers.js'
import { Page } from '../src/schemas.js'
import { AlertOut } from '../routes/alerts/schema.js'
import { EventOut } from '../routes/events/schema.js'

const TIME = '2026-12-04T10:00:00.123Z'
const detection = { model_id: 3, model_name: 'Pack', version: '2', rule_id: 'r-1', title: 'Rule "one"', level: 'high', count: 2, event_ids: [7, 8], group: { host: 'h\u00e9' } }

const alert = (id: number, set: boolean) => ({
  id,
  event: id * 2,
  status: 'Open',
  severity: 'High',
  event_type: 'intrusion',
  source: 'fw-1',
  detections: set ? [detection] : null,
  assignee: set ? 5 : null,
  verdict: set ? 'true_positive' : null,
  reason: set ? 'a "quoted"\nreason' : null,
  tags: ['t'],
  acknowledged_at: set ? TIME : null,
  resolved_at: set ? TIME : null,
  version: 2,
  occurrences: 1,
  first_seen: set ? TIME : null,
  last_seen: set ? TIME : null,
  previous_alert: set ? 9 : null,
  fingerprint: set ? 'abc' : null,
  created_at: TIME,
  updated_at: TIME
})

const event = (id: number, set: boolean) => ({
  id,
  source: 'fw-1',
  event_type: 'malware',
  severity: 'Low',
  description: 'd',
  timestamp: TIME,
  occurred_at: set ? TIME : null,
  external_id: set ? 'x-1' : null,
  attributes: set ? { a: [1, { b: null }], 'k"': 'v' } : null,
  detections: set ? [detection] : null,
  suppression: set ? 4 : null,
  updated_at: TIME
})

const envelope = (results: unknown[], next: string | null) => ({ count: results.length, count_estimated: false, next, previous: null, results })

t.test('a page is written as JSON.stringify writes it, its nullable fields null or set', async (t) => {
  for (const [name, item, make] of [['alerts', AlertOut, alert], ['events', EventOut, event]] as const) {
    const serialize = fastJsonStringify(serializedForm(Page(item)) as object)
    for (const set of [false, true]) {
      const page = envelope([make(1, set), make(2, !set)], set ? 'http://localhost/api/x/?cursor=abc' : null)
      t.equal(serialize(page), JSON.stringify(page), `${name}, first item's nullable fields ${set ? 'set' : 'null'}`)
    }
  }
})

t.test('a value of the wrong kind is still refused, not written as something else', async (t) => {
  const serialize = fastJsonStringify(serializedForm(AlertOut) as object)
  t.throws(() => serialize({ ...alert(1, false), created_at: undefined }), /created_at/, 'a required field missing')
})

t.test('the route schemas keep their anyOf: only what the serializer compiles changes', async (t) => {
  const before = JSON.stringify(AlertOut)
  const form = serializedForm(AlertOut) as { properties: Record<string, { anyOf?: unknown; nullable?: boolean }> }
  t.equal(JSON.stringify(AlertOut), before, 'AlertOut is not changed')
  t.ok((AlertOut.properties.assignee as { anyOf?: unknown }).anyOf, 'the schema still says integer or null')
  t.same(
    Object.keys(form.properties).filter((k) => form.properties[k].nullable),
    ['detections', 'assignee', 'reason', 'acknowledged_at', 'resolved_at', 'first_seen', 'last_seen', 'previous_alert', 'fingerprint'],
    'each "X or null" field is a nullable X to the serializer'
  )
  t.notOk(Object.values(form.properties).some((p) => p.anyOf), 'no anyOf is left for it to ask Ajv about')
})
