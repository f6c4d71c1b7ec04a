// The body splitter and the field mapping, on their own: pure functions, no database.
import t from 'tap'
import { mapRecord, parseTime, RecordSplitter, type Segment } from '../src/ingest/index.js'

function split(body: string | Buffer, chunk = 0, max = 1024 * 1024): string[] {
  const buf = typeof body === 'string' ? Buffer.from(body) : body
  const s = new RecordSplitter(max)
  const out: Segment[] = []
  if (chunk === 0) out.push(...s.push(buf))
  else for (let i = 0; i < buf.length; i += chunk) out.push(...s.push(buf.subarray(i, i + chunk)))
  out.push(...s.end())
  return out.map((x) => (x.error !== undefined ? `!${x.line}:${x.error}` : `${x.line}:${x.value !== undefined ? JSON.stringify(x.value) : x.text}`))
}

t.test('splitting bodies into records', async (t) => {
  const cases: [string, string, string[]][] = [
    ['ndjson', '{"a":1}\n{"b":2}\n', ['1:{"a":1}', '2:{"b":2}']],
    ['no trailing newline, blank lines', '\n{"a":1}\n\n\n{"b":2}', ['2:{"a":1}', '5:{"b":2}']],
    ['crlf and escaped quotes', '{"a":1}\r\n{"b":"x\\"}"}\r\n', ['1:{"a":1}', '2:{"b":"x\\"}"}']],
    ['concatenated objects', '{"a":{"x":1}}{"b":2} {"c":3}', ['1:{"a":{"x":1}}', '1:{"b":2}', '1:{"c":3}']],
    ['array', ' [ {"a":1}, {"b":[1,2]} , 3, "s", null ] ', ['1:{"a":1}', '1:{"b":[1,2]}', '1:3', '1:"s"', '1:null']],
    ['pretty array', '[\n  {\n    "a": 1\n  },\n  {"b": 2}\n]\n', ['2:{"a":1}', '5:{"b": 2}']],
    ['events wrapper, other keys after', '{"events": [{"a":1},{"b":2}], "meta": {"x": [1]}}', ['1:{"a":1}', '1:{"b":2}']],
    ['logs wrapper', '  {\n "logs" : [ {"a":1} ] }', ['2:{"a":1}']],
    ['a record that merely has an events field', '{"source":"x","events":[1]}', ['1:{"source":"x","events":[1]}']],
    ['pretty object', '{\n  "a": 1,\n  "b": "x"\n}\n{"c":3}\n', ['1:{"a":1,"b":"x"}', '5:{"c":3}']],
    ['unclosed line does not swallow the next ones', '{"a":1}\n{"b": {\n{"c":3}\n{"d":4}\n', ['1:{"a":1}', '2:{"b": {', '3:{"c":3}', '4:{"d":4}']],
    ['unterminated string', '{"a":1}\n{"b": "open\n{"c":3}\n', ['1:{"a":1}', '!2:Not valid JSON: a string is not terminated.', '3:{"c":3}']],
    ['junk lines', 'hello world\n{"a":1}\nfoo', ['!1:Not a JSON object.', '2:{"a":1}', '!3:Not a JSON object.']],
    ['truncated last record', '{"a":1}\n{"b":', ['1:{"a":1}', '!2:Not valid JSON: the value is not terminated.']],
    ['byte order mark', '\ufeff{"a":1}', ['1:{"a":1}']],
    ['nested arrays are records', '[[{"a":1}]]', ['1:[{"a":1}]']],
    ['utf-8', '{"m":"héllo ☃ 😀"}\n', ['1:{"m":"héllo ☃ 😀"}']]
  ]
  for (const [name, body, expected] of cases) {
    const whole = split(body)
    t.same(whole, expected, name)
    for (const chunk of [1, 2, 3, 7]) t.same(split(body, chunk), whole, `${name}, in chunks of ${chunk} bytes`)
  }
  t.ok(new RecordSplitter().end().length === 0)
  const empty = new RecordSplitter()
  empty.push(Buffer.from(' \r\n\t'))
  empty.end()
  t.ok(empty.empty, 'whitespace is an empty body')
})

t.test('records over the size limit are rejected alone, memory stays bounded', async (t) => {
  const pad = ' '.repeat(300) // past the splitter's look-ahead, so the chunk size matters
  const big = 'x'.repeat(100)
  t.same(split(`${pad}{"a":"${big}"}\n{"b":1}\n`, 16, 50), ['!1:The record is larger than the limit of 50 bytes.', '2:{"b":1}'])
  t.same(split(`${pad}[{"a":"${big}"},{"b":1}]`, 16, 50), ['!1:The record is larger than the limit of 50 bytes.', '1:{"b":1}'])
  t.same(split(`{"a":"${big}"}\n{"b":1}\n`, 0, 50), ['!1:The record is larger than the limit of 50 bytes.', '2:{"b":1}'])
  // An unclosed line that ran past the limit: the lines it swallowed are recovered.
  const swallowed = split(`${pad}{"a": {\n` + '{"b":1}\n'.repeat(20) + '{"c":2}\n', 16, 60)
  t.equal(swallowed.length, 22)
  t.same(swallowed.slice(-2), ['21:{"b":1}', '22:{"c":2}'])
})

t.test('mapping documents to events', async (t) => {
  const map = (doc: Record<string, unknown>, defaults = {}) => mapRecord({ doc, nativeAttributes: true }, { defaults, maxAttributesBytes: 1024 })
  const base = { host: 'h', event_type: 'intrusion' }
  const severities: [unknown, string][] = [
    ['Low', 'Low'], ['MEDIUM', 'Medium'], ['high', 'High'], ['Critical', 'Critical'],
    ['emerg', 'Critical'], ['emergency', 'Critical'], ['panic', 'Critical'], ['alert', 'Critical'], ['crit', 'Critical'], ['fatal', 'Critical'],
    ['err', 'High'], ['error', 'High'], ['warning', 'Medium'], ['warn', 'Medium'],
    ['notice', 'Low'], ['info', 'Low'], ['informational', 'Low'], ['debug', 'Low'], ['trace', 'Low'],
    [0, 'Critical'], [1, 'Critical'], [2, 'Critical'], [3, 'High'], [4, 'Medium'], [5, 'Low'], [6, 'Low'], [7, 'Low'], ['3', 'High'], [' 4 ', 'Medium']
  ]
  for (const [value, severity] of severities) t.match(map({ ...base, severity: value }), { severity }, `severity ${JSON.stringify(value)}`)
  for (const [value, severity] of [[10, 'Low'], [20, 'Low'], [30, 'Low'], [40, 'Medium'], [50, 'High'], [60, 'Critical'], [3, 'High']] as const) {
    t.match(map({ ...base, level: value }), { severity }, `level ${value}`)
  }
  for (const [value, severity] of [[0, 'Low'], [21, 'Low'], [22, 'Medium'], [47, 'Medium'], [48, 'High'], [73, 'High'], [74, 'Critical'], [100, 'Critical']] as const) {
    t.match(map({ ...base, event: { severity: value } }), { severity }, `event.severity ${value}`)
  }
  for (const bad of [8, 9, -1, 3.5, 'Extreme', '', true, { x: 1 }]) t.match(map({ ...base, severity: bad }), /^Invalid severity/, `severity ${JSON.stringify(bad)}`)
  t.match(map({ ...base, level: 101 }), /^Invalid level/)
  t.match(map({ ...base, severity: null, level: 'error' }), { severity: 'High' }, 'null counts as absent')

  t.match(map({ ...base, severity: 'low', event_type: 'MALWARE' }), { eventType: 'malware' })
  t.match(map({ host: 'h', severity: 'low', event: { category: 'malware' } }), { eventType: 'malware' })
  t.match(map({ host: 'h', severity: 'low', 'event.category': ['authentication'] }, { event_type: 'anomaly' }), { eventType: 'anomaly' }, 'other ECS categories leave the default')
  t.match(map({ ...base, severity: 'low', message: 'x'.repeat(20_000) }), { description: 'x'.repeat(9_999) + '…' })
  t.match(map({ ...base, severity: 'low', occurred_at: '2026-11-23T20:09:11+02:00' }), { occurredAt: '2026-11-23T18:09:11.000Z' })
})

t.test('parsing times', async (t) => {
  const cases: [unknown, string | undefined][] = [
    ['2026-11-23T20:09:11+00:00', '2026-11-23T20:09:11.000Z'],
    ['2026-11-23T20:09:32.919233+00:00', '2026-11-23T20:09:32.919Z'],
    ['2026-11-23 20:09:11Z', '2026-11-23T20:09:11.000Z'],
    ['2026-11-23', '2026-11-23T00:00:00.000Z'],
    ['2026-11-23T20:09:11', '2026-11-23T20:09:11.000Z'],
    ['2026-11-23T20:09:11.5+0130', '2026-11-23T18:39:11.500Z'],
    ['2026-11-23T20:09:11+01', '2026-11-23T19:09:11.000Z'],
    ['2026-11-23T20:09:11-05:30', '2026-11-24T01:39:11.000Z'],
    ['2026-11-23T20:09:11z', '2026-11-23T20:09:11.000Z'],
    ['2026-11-23t20:09:11z', undefined],
    [1795464507.868, '2026-11-23T20:08:27.868Z'],
    ['1795464507.868', '2026-11-23T20:08:27.868Z'],
    [1795464443635, '2026-11-23T20:07:23.635Z'],
    ['Nov 23 20:09:11', undefined],
    ['yesterday', undefined],
    ['2026-13-45', undefined],
    [true, undefined],
    [1e20, undefined]
  ]
  for (const [value, iso] of cases) t.equal(parseTime(value), iso, JSON.stringify(value))
})

t.test("times already in toISOString's form are read as the general way reads them, edge days included", async (t) => {
  // Each is read once by the shortcut and once, with a space after it, the general way (trim).
  const texts = [
    '2026-11-23T20:09:11.123Z', '2024-02-29T23:59:59.999Z', '2026-02-29T00:00:00.000Z', '2026-04-31T00:00:00.000Z', '2026-04-30T12:00:00.000Z',
    '2026-12-31T23:59:59.999Z', '2026-01-01T24:00:00.000Z', '2026-01-01T23:60:00.000Z', '2026-01-01T23:59:60.000Z', '2026-13-01T00:00:00.000Z',
    '2026-00-10T00:00:00.000Z', '2026-01-00T00:00:00.000Z', '0099-01-01T00:00:00.000Z', '0100-01-01T00:00:00.000Z', '0000-06-01T00:00:00.000Z',
    '9999-12-31T23:59:59.999Z', '2100-02-29T00:00:00.000Z', '2000-02-29T00:00:00.000Z'
  ]
  for (const text of texts) {
    const general = parseTime(`${text} `)
    t.equal(parseTime(text), general, text)
  }
  t.equal(parseTime('2026-02-29T00:00:00.000Z'), '2026-03-01T00:00:00.000Z', 'a day past the month rolls over, as before')
  t.equal(parseTime('2024-02-29T10:00:00.000Z'), '2024-02-29T10:00:00.000Z', 'a leap day is kept')
})
