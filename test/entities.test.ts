// Unit tests of the entity validators (src/services/entities.ts): valid values with the form they
// are stored in, and invalid values that must be refused, for every type.
import t from 'tap'
import { ENTITY_TYPES, type EntityType } from '../src/db/schema.js'
import { validateEntity } from '../src/services/entities.js'

const valid: Record<EntityType, [input: string, stored: string][]> = {
  ip: [
    ['203.0.113.7', '203.0.113.7'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    [' 10.0.0.1\n', '10.0.0.1'],
    ['::', '::'],
    ['::1', '::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:ff00:0042:8329', '2001:0db8:0000:0000:0000:ff00:0042:8329'],
    ['fe80::1', 'fe80::1'],
    ['::ffff:192.0.2.128', '::ffff:192.0.2.128']
  ],
  domain: [
    ['example.com', 'example.com'],
    ['EXAMPLE.Com', 'example.com'],
    ['example.com.', 'example.com'],
    ['a.b.c.d.example.co.uk', 'a.b.c.d.example.co.uk'],
    ['xn--bcher-kva.de', 'xn--bcher-kva.de'],
    ['bücher.de', 'xn--bcher-kva.de'],
    ['my-host.example', 'my-host.example'],
    ['1password.com', '1password.com'],
    [`${'a'.repeat(63)}.com`, `${'a'.repeat(63)}.com`],
    [`${Array(4).fill('a'.repeat(61)).join('.')}.com`, `${Array(4).fill('a'.repeat(61)).join('.')}.com`]
  ],
  hostname: [
    ['web-01', 'web-01'],
    ['WEB-01', 'web-01'],
    ['localhost', 'localhost'],
    ['db01.corp.example', 'db01.corp.example'],
    ['x', 'x'],
    ['3com', '3com'],
    ['  fileserver  ', 'fileserver']
  ],
  url: [
    ['http://example.com', 'http://example.com'],
    ['https://example.com/path?q=1#frag', 'https://example.com/path?q=1#frag'],
    ['HTTPS://Example.com/CaseKept', 'HTTPS://Example.com/CaseKept'],
    ['ftp://files.example.com/pub/x.bin', 'ftp://files.example.com/pub/x.bin'],
    ['http://203.0.113.7:8080/payload.sh', 'http://203.0.113.7:8080/payload.sh'],
    ['http://[2001:db8::1]/x', 'http://[2001:db8::1]/x'],
    ['http://user:pass@evil.example/login', 'http://user:pass@evil.example/login'],
    [' https://example.com/a%20b ', 'https://example.com/a%20b']
  ],
  user: [
    ['alice', 'alice'],
    ['CORP\\Alice', 'CORP\\Alice'],
    ['alice@corp.example', 'alice@corp.example'],
    ['root', 'root'],
    ['Jöhn Dœ', 'Jöhn Dœ'],
    ['u'.repeat(256), 'u'.repeat(256)],
    [' svc_backup ', 'svc_backup']
  ],
  file_hash: [
    ['d41d8cd98f00b204e9800998ecf8427e', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['D41D8CD98F00B204E9800998ECF8427E', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['da39a3ee5e6b4b0d3255bfef95601890afd80709', 'da39a3ee5e6b4b0d3255bfef95601890afd80709'],
    [
      'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855',
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    ]
  ],
  email: [
    ['alice@example.com', 'alice@example.com'],
    ['Alice.Smith@Example.COM', 'alice.smith@example.com'],
    ['a+tag@sub.example.co.uk', 'a+tag@sub.example.co.uk'],
    ["o'brien@example.ie", "o'brien@example.ie"],
    ['x@bücher.de', 'x@xn--bcher-kva.de'],
    [`${'l'.repeat(64)}@example.com`, `${'l'.repeat(64)}@example.com`]
  ],
  other: [
    ['anything goes', 'anything goes'],
    ['HKLM\\Software\\Run\\evil', 'HKLM\\Software\\Run\\evil'],
    ["'; DROP TABLE incidents; --", "'; DROP TABLE incidents; --"],
    ['o'.repeat(2048), 'o'.repeat(2048)],
    ['  padded  ', 'padded'],
    ['😀 emoji', '😀 emoji']
  ]
}

const invalid: Record<EntityType, string[]> = {
  ip: [
    '',
    '   ',
    '256.1.1.1',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '1.2.3.4/24',
    '1.2.3.4:80',
    'fe80::1%eth0',
    '2001:db8:::1',
    '12345::',
    'example.com',
    'localhost',
    '1.2.3.4\u0000'
  ],
  domain: [
    '',
    'localhost',
    'example',
    '-bad.example.com',
    'bad-.example.com',
    'a..b.com',
    '.example.com',
    'under_score.example.com',
    'ex ample.com',
    `${'a'.repeat(64)}.com`,
    `${Array(5).fill('a'.repeat(50)).join('.')}.com`,
    '1.2.3.4',
    'example.123',
    'http://example.com',
    'example.com/path',
    'exa\u202emple.com'
  ],
  hostname: ['', 'web 01', '-web', 'web-', 'web_01', 'a..b', '123', '10.0.0.1', `${'h'.repeat(64)}`, 'host\tname', 'web01\u0007'],
  url: [
    '',
    'example.com',
    'www.example.com/path',
    '//example.com/x',
    'http:example.com',
    'http://',
    'https://',
    'javascript:alert(1)',
    'file:///etc/passwd',
    'mailto:a@example.com',
    'data:text/html,<script>',
    'http://exa mple.com',
    'http://example.com/a b',
    'http://example.com/\u0000',
    `https://example.com/${'p'.repeat(2048)}`
  ],
  user: ['', '   ', 'u'.repeat(257), 'ali\u0000ce', 'bob\u001b[31m', 'line\nbreak', 'del\u007f', 'c1\u0085', 'lone\ud800surrogate', 'bidi\u202eevil'],
  file_hash: [
    '',
    'd41d8cd98f00b204e9800998ecf8427',
    'd41d8cd98f00b204e9800998ecf8427e0',
    'g41d8cd98f00b204e9800998ecf8427e',
    'da39a3ee5e6b4b0d3255bfef95601890afd8070',
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85',
    'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e',
    '0xd41d8cd98f00b204e9800998ecf8427e',
    'd41d8cd9-8f00-b204-e980-0998ecf8427e',
    'd41d8cd98f00b204 e9800998ecf8427e'
  ],
  email: [
    '',
    'alice',
    '@example.com',
    'alice@',
    'alice@localhost',
    'alice@@example.com',
    '.alice@example.com',
    'alice.@example.com',
    'al..ice@example.com',
    'al ice@example.com',
    '"quoted"@example.com',
    'alice@exa_mple.com',
    'alice@-example.com',
    'alice@example.com\r\nBcc: x@example.com',
    `${'l'.repeat(65)}@example.com`,
    `a@${Array(4).fill('d'.repeat(62)).join('.')}.com`
  ],
  other: ['', '   ', 'o'.repeat(2049), 'nul\u0000byte', 'esc\u001bseq', 'bidi\u2066x', 'sep\u2028x']
}

/** A test name for a value: escaped, so a U+2028 or a control character cannot break TAP lines. */
const label = (v: string) =>
  JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…(${v.length})` : v).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
  )

for (const type of ENTITY_TYPES) {
  t.test(`${type}: valid values are accepted and normalised`, async (t) => {
    for (const [input, stored] of valid[type]) {
      t.same(validateEntity(type, input), { ok: true, value: stored }, label(input))
    }
  })
  t.test(`${type}: invalid values are refused with a message`, async (t) => {
    for (const input of invalid[type]) {
      const r = validateEntity(type, input)
      t.equal(r.ok, false, label(input))
      if (!r.ok) t.match(r.message, /\S/, 'has a message')
    }
  })
}

t.test('every type has cases', async (t) => {
  for (const type of ENTITY_TYPES) {
    t.ok(valid[type].length >= 4, `${type} valid cases`)
    t.ok(invalid[type].length >= 7, `${type} invalid cases`)
  }
})

t.test('blank and control-character values get a specific message', async (t) => {
  t.same(validateEntity('other', '  '), { ok: false, message: 'This field may not be blank.' })
  t.same(validateEntity('user', 'a\u0000b'), { ok: false, message: 'Must not contain control characters.' })
  t.match(validateEntity('ip', 'nope'), { ok: false, message: /IPv4 or IPv6/ })
  t.match(validateEntity('file_hash', 'abc'), { ok: false, message: /MD5 \(32\), SHA-1 \(40\) or SHA-256 \(64\)/ })
})
