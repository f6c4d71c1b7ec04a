// Value transforms of Sigma's modifiers (base64, base64offset, utf16*, wide, windash) and the
// address ranges of `cidr`. Transforms turn one rule value into the list of strings a record may
// carry; they run once, when the rule is compiled.

/** A byte string: each char is one byte (0-255), as the utf16 modifiers produce for base64. */
export type Bytes = { bytes: Buffer }

export function utf16(value: string, kind: 'utf16le' | 'utf16be' | 'utf16'): Bytes {
  const le = Buffer.from(value, 'utf16le')
  if (kind === 'utf16le') return { bytes: le }
  if (kind === 'utf16') return { bytes: Buffer.concat([Buffer.from([0xff, 0xfe]), le]) }
  const be = Buffer.alloc(le.length)
  for (let i = 0; i + 1 < le.length; i += 2) {
    be[i] = le[i + 1]
    be[i + 1] = le[i]
  }
  return { bytes: be }
}

const bytesOf = (value: string | Bytes) => (typeof value === 'string' ? Buffer.from(value, 'utf8') : value.bytes)

export const base64 = (value: string | Bytes) => bytesOf(value).toString('base64')

// The three base64 forms a value takes at byte offsets 0, 1 and 2 of an encoded text, cut to the
// characters that do not depend on the neighbouring bytes (SigmaHQ's definition of base64offset).
const START = [0, 2, 3]
const END = [0, -3, -2]
export function base64offset(value: string | Bytes): string[] {
  const bytes = bytesOf(value)
  const out: string[] = []
  for (let i = 0; i < 3; i++) {
    const encoded = Buffer.concat([Buffer.alloc(i, 0x20), bytes]).toString('base64')
    const end = END[(bytes.length + i) % 3]
    out.push(encoded.slice(START[i], end === 0 ? undefined : end))
  }
  return out
}

/** The characters Windows programs accept where a command line has a dash (SigmaHQ's windash set). */
export const WINDASH = ['-', '/', '\u2013', '\u2014', '\u2015']
/** More dashes than this in one value would make the permutations explode; the rule is refused. */
export const MAX_WINDASH = 4

/**
 * Every spelling of a command line's options: each `-` or `/` that starts an option (not inside a
 * word, followed by one) becomes each of the windash characters. Returns null past MAX_WINDASH.
 */
export function windash(value: string): string[] | null {
  const at: number[] = []
  for (let i = 0; i < value.length; i++) {
    const c = value[i]
    if (c !== '-' && c !== '/') continue
    const before = i === 0 ? '' : value[i - 1]
    const after = value[i + 1] ?? ''
    if (!/\w/.test(before) && /\w/.test(after)) at.push(i)
  }
  if (at.length > MAX_WINDASH) return null
  let out = [value]
  for (const i of at) {
    const next: string[] = []
    for (const v of out) for (const d of WINDASH) next.push(v.slice(0, i) + d + v.slice(i + 1))
    out = next
  }
  return out
}

// --- addresses ------------------------------------------------------------------------------

interface Address {
  v6: boolean
  n: bigint
}

function parseV4(text: string): bigint | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  let n = 0n
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null
    const b = Number(p)
    if (b > 255) return null
    n = (n << 8n) | BigInt(b)
  }
  return n
}

function parseV6(text: string): bigint | null {
  let s = text
  const zone = s.indexOf('%')
  if (zone >= 0) s = s.slice(0, zone)
  // An embedded IPv4 tail (::ffff:192.0.2.1) is the last two groups.
  const lastColon = s.lastIndexOf(':')
  if (s.indexOf('.', lastColon) >= 0) {
    const v4 = parseV4(s.slice(lastColon + 1))
    if (v4 === null) return null
    s = `${s.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`
  }
  const halves = s.split('::')
  if (halves.length > 2) return null
  const groupsOf = (h: string) => (h === '' ? [] : h.split(':'))
  const head = groupsOf(halves[0])
  const tail = halves.length === 2 ? groupsOf(halves[1]) : []
  for (const g of [...head, ...tail]) if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null
  const count = head.length + tail.length
  if (halves.length === 1 ? count !== 8 : count > 7) return null
  const zeros = Array<string>(8 - count).fill('0')
  let n = 0n
  for (const g of [...head, ...zeros, ...tail]) n = (n << 16n) | BigInt(parseInt(g, 16))
  return n
}

export function parseAddress(text: string): Address | null {
  if (text.length > 64) return null
  const t = text.trim()
  if (t.includes(':')) {
    const n = parseV6(t.startsWith('[') && t.endsWith(']') ? t.slice(1, -1) : t)
    return n === null ? null : { v6: true, n }
  }
  const n = parseV4(t)
  return n === null ? null : { v6: false, n }
}

export interface Range {
  v6: boolean
  base: bigint
  mask: bigint
}

/** `10.0.0.0/8`, `2001:db8::/32`, or one address; null when it is not a range. */
export function parseRange(text: string): Range | null {
  const slash = text.indexOf('/')
  const addr = parseAddress(slash < 0 ? text : text.slice(0, slash))
  if (!addr) return null
  const bits = addr.v6 ? 128 : 32
  let prefix = bits
  if (slash >= 0) {
    const p = text.slice(slash + 1)
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) return null
    prefix = Number(p)
  }
  const all = (1n << BigInt(bits)) - 1n
  const mask = (all << BigInt(bits - prefix)) & all
  return { v6: addr.v6, base: addr.n & mask, mask }
}

/** IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are their IPv4 address for IPv4 ranges. */
export function inRange(range: Range, addr: Address): boolean {
  let { v6, n } = addr
  if (v6 && !range.v6 && n >> 32n === 0xffffn) {
    v6 = false
    n = n & 0xffffffffn
  }
  return v6 === range.v6 && (n & range.mask) === range.base
}
