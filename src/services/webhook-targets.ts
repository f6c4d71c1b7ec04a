// Where a webhook may send (SSRF): http or https, no credentials in the URL, and a host whose every
// address is a public one: never loopback, private (RFC 1918, fc00::/7), link-local (169.254/16,
// fe80::/10, where cloud metadata services answer), CGNAT (100.64/10), unspecified, multicast,
// reserved, nor those hidden in IPv4-mapped, IPv4-compatible or NAT64 IPv6 forms. Checked when a
// webhook is saved and again at every attempt, which then connects to the address it checked, so
// a name that resolves elsewhere the second time (DNS rebinding) cannot get past.
// WEBHOOK_ALLOW_PRIVATE turns the address check off (local receivers, tests).
import { lookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'
import { HttpError } from '../errors.js'

/** Longest webhook URL. */
export const MAX_WEBHOOK_URL = 2048

const v4 = new BlockList()
for (const [net, bits] of [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4] // reserved, broadcast
] as const) {
  v4.addSubnet(net, bits, 'ipv4')
}

const v6 = new BlockList()
for (const [net, bits] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
  ['2001:db8::', 32], // documentation
  ['100::', 64] // discard
] as const) {
  v6.addSubnet(net, bits, 'ipv6')
}

/** The 16 bytes of an IPv6 address (no zone). */
function v6Bytes(address: string): number[] | undefined {
  let text = address.split('%')[0].toLowerCase()
  // A trailing dotted IPv4 part is two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted) {
    const parts = dotted[1].split('.').map(Number)
    text = `${text.slice(0, -dotted[1].length)}${((parts[0] << 8) | parts[1]).toString(16)}:${((parts[2] << 8) | parts[3]).toString(16)}`
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined]
  const a = head ? head.split(':') : []
  const b = tail === undefined ? [] : tail ? tail.split(':') : []
  const groups = tail === undefined ? a : [...a, ...Array<string>(8 - a.length - b.length).fill('0'), ...b]
  if (groups.length !== 8) return undefined
  return groups.flatMap((g) => {
    const n = parseInt(g || '0', 16)
    return [n >> 8, n & 0xff]
  })
}

/**
 * Why an address may not be reached, or undefined for a public one. IPv6 forms that carry an IPv4
 * address (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96) are judged by it.
 */
export function refusedAddress(address: string): string | undefined {
  const family = isIP(address)
  if (family === 4) return v4.check(address, 'ipv4') ? `${address} is a loopback, private, link-local or reserved address` : undefined
  if (family !== 6) return `${address} is not an IP address`
  const bytes = v6Bytes(address)
  if (!bytes) return `${address} is not an IP address`
  const zeros = (n: number) => bytes.slice(0, n).every((b) => b === 0)
  const mapped = zeros(10) && bytes[10] === 0xff && bytes[11] === 0xff
  const compatible = zeros(12) && !(bytes.slice(12).every((b) => b === 0) || (zeros(15) && bytes[15] === 1))
  const nat64 = bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && bytes.slice(4, 12).every((b) => b === 0)
  if (mapped || compatible || nat64) {
    const inner = bytes.slice(12).join('.')
    return refusedAddress(inner) === undefined ? undefined : `${address} carries ${inner}, a loopback, private, link-local or reserved address`
  }
  return v6.check(address, 'ipv6') ? `${address} is a loopback, private, link-local, multicast or reserved address` : undefined
}

const refused = (detail: string) => new HttpError('webhook_url_refused', detail, { errors: { url: [detail] } })

/** A URL a webhook may have: http or https, a host, no credentials. Throws webhook_url_refused. */
export function parseWebhookUrl(text: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw refused('Not a valid URL.')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refused('Only http and https URLs are allowed.')
  if (url.username || url.password) throw refused('The URL must not carry credentials (user:password@).')
  if (!url.hostname) throw refused('The URL has no host.')
  return url
}

/** The host of a URL as DNS and isIP take it (IPv6 literals without their brackets). */
export const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1')

export interface Target {
  address: string
  family: 4 | 6
}

/**
 * The address to connect to for a URL: every address its host resolves to must be allowed (with
 * `allowPrivate`, any is), and the first is used. Throws webhook_url_refused with why.
 */
export async function resolveTarget(url: URL, allowPrivate: boolean): Promise<Target> {
  const host = hostOf(url)
  let addresses: { address: string; family: number }[]
  const literal = isIP(host)
  if (literal) addresses = [{ address: host, family: literal }]
  else {
    try {
      addresses = await lookup(host, { all: true, verbatim: true })
    } catch (err) {
      throw refused(`The host ${JSON.stringify(host.slice(0, 100))} does not resolve (${(err as NodeJS.ErrnoException).code ?? 'error'}).`)
    }
    if (addresses.length === 0) throw refused(`The host ${JSON.stringify(host.slice(0, 100))} does not resolve.`)
  }
  if (!allowPrivate) {
    for (const a of addresses) {
      const why = refusedAddress(a.address)
      if (why) throw refused(`The host ${JSON.stringify(host.slice(0, 100))} is not allowed: ${why} (WEBHOOK_ALLOW_PRIVATE allows it).`)
    }
  }
  const first = addresses[0]
  return { address: first.address, family: first.family === 6 ? 6 : 4 }
}
