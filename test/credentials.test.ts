// Every header form a shipper uses carries the ingest key intact, whatever random bytes the key
// happens to contain (a plain key decoded as base64 can look like "id:key").
import t from 'tap'
import { generateIngestKey, readCredential } from '../src/auth/ingest-keys.js'

t.test('ingest keys survive every header form', async (t) => {
  const b64 = (s: string) => Buffer.from(s).toString('base64')
  let wrong = 0
  for (let i = 0; i < 2000; i++) {
    const { key } = generateIngestKey()
    const forms = [
      { authorization: `Bearer ${key}` },
      { authorization: `Splunk ${key}` },
      { authorization: `ApiKey ${key}` },
      { authorization: `ApiKey ${b64(key)}` },
      { authorization: `ApiKey ${b64(`some-id:${key}`)}` },
      { authorization: `Basic ${b64(`anyone:${key}`)}` },
      { authorization: `Basic ${b64(`${key}:`)}` },
      { 'x-api-key': key }
    ]
    for (const headers of forms) {
      const c = readCredential(headers)
      if (c?.kind !== 'ingest-key' || c.key !== key) wrong++
    }
  }
  t.equal(wrong, 0, '16,000 header forms, every key read back intact')
  t.same(readCredential({ authorization: 'Bearer a.b.c' }), { kind: 'jwt', token: 'a.b.c' }, 'a JWT-shaped bearer is a token')
  t.equal(readCredential({ authorization: 'Digest abc' }), undefined, 'unknown schemes carry nothing')
  t.equal(readCredential({}), undefined)
})
