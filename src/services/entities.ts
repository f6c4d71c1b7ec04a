// Validation and normalisation of incident entities (observables / IOCs), one rule per type.
// Pure functions: no database, no Fastify, so every rule is unit-tested on its own
// (test/entities.test.ts). Values are trimmed; case is folded only where it carries no meaning
// (hashes, domain names, host names, email addresses), so "EXAMPLE.com" and "example.com" are
// one entity and the unique index on (incident, type, value) catches the duplicate.
import { isIP } from 'node:net'
import { domainToASCII } from 'node:url'
import type { EntityType } from '../db/schema.js'
import { LINE_UNSAFE } from '../text.js'

export const MAX_ENTITY_VALUE = 2048
export const MAX_USER_VALUE = 256
export const MAX_EMAIL_VALUE = 254
export const MAX_DOMAIN_VALUE = 253

export type EntityCheck = { ok: true; value: string } | { ok: false; message: string }

/** What each type accepts, for the API docs. */
export const ENTITY_RULES: Record<EntityType, string> = {
  ip: 'an IPv4 address (dotted quad, no leading zeros) or an IPv6 address, without a zone id or prefix length',
  domain: 'a DNS name with at least one dot: RFC 1123 labels of 1 to 63 letters, digits or hyphens, at most 253 characters; lowercased, IDNs stored as punycode',
  hostname: 'a host name: one or more RFC 1123 labels, at most 253 characters; lowercased',
  url: 'an absolute http, https or ftp URL with a host, no whitespace',
  user: '1 to 256 printable characters (an account name, e.g. CORP\\alice)',
  file_hash: 'an MD5 (32), SHA-1 (40) or SHA-256 (64) hex digest; lowercased',
  email: 'local@domain with a dot-atom local part (at most 64 characters) and a valid domain; lowercased',
  other: '1 to 2048 printable characters'
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
const ALL_DIGITS = /^[0-9]+$/
const HEX = /^[0-9a-f]+$/
const HASH_LENGTHS = new Set([32, 40, 64])
// RFC 5322 dot-atom: atext runs separated by single dots.
const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/

const ok = (value: string): EntityCheck => ({ ok: true, value })
const fail = (message: string): EntityCheck => ({ ok: false, message })

/**
 * A DNS name made of RFC 1123 labels, lowercased (and converted to punycode when it holds
 * non-ASCII letters). One trailing dot (the fully qualified form) is dropped. The last label may
 * not be all digits, so an IPv4 address is never taken for a name.
 */
export function normalizeDnsName(input: string, requireDot: boolean): string | undefined {
  let name = input.endsWith('.') ? input.slice(0, -1) : input
  if (/[^\x00-\x7f]/.test(name)) {
    name = domainToASCII(name)
    if (!name) return undefined
  }
  name = name.toLowerCase()
  if (name.length === 0 || name.length > MAX_DOMAIN_VALUE) return undefined
  const labels = name.split('.')
  if (requireDot && labels.length < 2) return undefined
  if (!labels.every((l) => LABEL.test(l))) return undefined
  if (ALL_DIGITS.test(labels[labels.length - 1])) return undefined
  return name
}

function checkIp(v: string): EntityCheck {
  // A zone id ("%eth0") only means something on one host and may hold any text: refuse it.
  if (v.includes('%')) return fail('Enter a valid IPv4 or IPv6 address (without a zone id).')
  const family = isIP(v)
  if (family === 4) return ok(v)
  if (family === 6) return ok(v.toLowerCase())
  return fail('Enter a valid IPv4 or IPv6 address.')
}

function checkDomain(v: string): EntityCheck {
  const name = normalizeDnsName(v, true)
  return name ? ok(name) : fail('Enter a valid domain name (e.g. example.com).')
}

function checkHostname(v: string): EntityCheck {
  const name = normalizeDnsName(v, false)
  return name ? ok(name) : fail('Enter a valid host name (e.g. web-01 or web-01.corp.example).')
}

function checkUrl(v: string): EntityCheck {
  const invalid = fail('Enter a valid absolute http, https or ftp URL.')
  // The WHATWG parser also accepts "http:example.com" and silently encodes spaces; an indicator
  // must be a URL as written, so require the scheme and // and refuse whitespace.
  if (!/^(https?|ftp):\/\//i.test(v) || /\s/.test(v)) return invalid
  let url: URL
  try {
    url = new URL(v)
  } catch {
    return invalid
  }
  if (!['http:', 'https:', 'ftp:'].includes(url.protocol) || !url.hostname) return invalid
  return ok(v)
}

function checkUser(v: string): EntityCheck {
  if (v.length > MAX_USER_VALUE) return fail(`Ensure this value has no more than ${MAX_USER_VALUE} characters.`)
  return ok(v)
}

function checkHash(v: string): EntityCheck {
  const h = v.toLowerCase()
  if (!HEX.test(h) || !HASH_LENGTHS.has(h.length)) {
    return fail('Enter an MD5 (32), SHA-1 (40) or SHA-256 (64) hexadecimal digest.')
  }
  return ok(h)
}

function checkEmail(v: string): EntityCheck {
  const invalid = fail('Enter a valid email address.')
  const at = v.lastIndexOf('@')
  if (at <= 0 || v.length > MAX_EMAIL_VALUE) return invalid
  const local = v.slice(0, at)
  if (local.length > 64 || !DOT_ATOM.test(local)) return invalid
  const domain = normalizeDnsName(v.slice(at + 1), true)
  if (!domain) return invalid
  const email = `${local.toLowerCase()}@${domain}`
  return email.length <= MAX_EMAIL_VALUE ? ok(email) : invalid
}

const CHECKS: Record<EntityType, (v: string) => EntityCheck> = {
  ip: checkIp,
  domain: checkDomain,
  hostname: checkHostname,
  url: checkUrl,
  user: checkUser,
  file_hash: checkHash,
  email: checkEmail,
  other: ok
}

/** Checks an entity value for its type and returns it normalised, or the reason it is refused. */
export function validateEntity(type: EntityType, raw: string): EntityCheck {
  if (typeof raw !== 'string') return fail('Must be of type string.')
  const v = raw.trim()
  if (v.length === 0) return fail('This field may not be blank.')
  if (v.length > MAX_ENTITY_VALUE) return fail(`Ensure this value has no more than ${MAX_ENTITY_VALUE} characters.`)
  if (LINE_UNSAFE.test(v)) return fail('Must not contain control characters.')
  const check = CHECKS[type]
  if (!check) return fail('Unknown entity type.')
  return check(v)
}
