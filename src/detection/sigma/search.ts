// A Sigma search (one named entry of `detection`) compiled to a predicate on a record: a map is
// the AND of its fields, a list of maps their OR, a list of plain values (or one value) keywords
// matched in the message. Each field's modifiers are checked and applied here, once, so that
// evaluating a record never parses or decides anything.
import { RE2JS } from 're2js'
import { isMap, type FieldSource, type Matcher, type SigmaOptions } from '../types.js'
import { SigmaError } from './problem.js'
import { base64, base64offset, inRange, parseAddress, parseRange, utf16, windash, type Bytes, type Range } from './values.js'
import { requiredLiteral } from './prefilter.js'
import { hasWildcards, literalOf, lower, parseSigmaString, stringMatcher, type Mode } from './wildcard.js'

/** Bounds that keep one rule's compiled form small. */
const MAX_VALUES = 1_000
const MAX_PATTERN = 4_096

const TRANSFORMS = ['expand', 'windash', 'utf16le', 'utf16be', 'utf16', 'wide', 'base64', 'base64offset'] as const
const MODES = ['contains', 'startswith', 'endswith'] as const
const KINDS = ['re', 'cidr', 'lt', 'lte', 'gt', 'gte', 'exists', 'fieldref'] as const
const FLAGS = ['all', 'cased', 'neq'] as const
const RE_FLAGS = ['i', 'm', 's'] as const
type Transform = (typeof TRANSFORMS)[number]
type Kind = (typeof KINDS)[number]

/** Every modifier Vigil runs, for the docs and the error that names an unknown one. */
export const MODIFIERS: readonly string[] = [...MODES, ...FLAGS, ...KINDS, ...RE_FLAGS, ...TRANSFORMS]

type Scalar = string | number | boolean | null
type ValueTest = (value: unknown, record: FieldSource) => boolean

interface Modifiers {
  transforms: Transform[]
  mode: Mode
  kind?: Kind
  all: boolean
  cased: boolean
  neq: boolean
  reFlags: Set<string>
}

function parseModifiers(names: string[], path: string): Modifiers {
  const m: Modifiers = { transforms: [], mode: 'exact', all: false, cased: false, neq: false, reFlags: new Set() }
  for (const name of names) {
    if ((TRANSFORMS as readonly string[]).includes(name)) m.transforms.push(name as Transform)
    else if ((MODES as readonly string[]).includes(name)) {
      if (m.mode !== 'exact') throw new SigmaError(path, `modifiers ${m.mode} and ${name} cannot be combined`)
      m.mode = name as Mode
    } else if ((KINDS as readonly string[]).includes(name)) {
      if (m.kind) throw new SigmaError(path, `modifiers ${m.kind} and ${name} cannot be combined`)
      m.kind = name as Kind
    } else if ((RE_FLAGS as readonly string[]).includes(name)) {
      if (m.kind !== 're') throw new SigmaError(path, `modifier ${name} only follows re`)
      m.reFlags.add(name)
    } else if (name === 'all') m.all = true
    else if (name === 'cased') m.cased = true
    else if (name === 'neq') m.neq = true
    else throw new SigmaError(path, `unknown modifier '${name}' (supported: ${MODIFIERS.join(', ')})`)
  }
  if (m.kind && m.mode !== 'exact') throw new SigmaError(path, `modifier ${m.kind} cannot be combined with ${m.mode}`)
  if (m.kind && m.transforms.some((t) => t !== 'expand')) {
    throw new SigmaError(path, `modifier ${m.kind} cannot be combined with ${m.transforms.join(', ')}`)
  }
  const encodings = m.transforms.filter((t) => t.startsWith('utf16') || t === 'wide')
  const b64 = m.transforms.filter((t) => t.startsWith('base64'))
  if (encodings.length > 1 || b64.length > 1) throw new SigmaError(path, 'only one encoding and one base64 modifier may apply')
  if (encodings.length && b64.length && m.transforms.indexOf(b64[0]) < m.transforms.indexOf(encodings[0])) {
    throw new SigmaError(path, `modifier ${encodings[0]} must come before ${b64[0]}`)
  }
  return m
}

// --- values ---------------------------------------------------------------------------------

const scalars = (value: unknown, path: string): Scalar[] => {
  const list = Array.isArray(value) ? value : [value]
  if (list.length === 0) throw new SigmaError(path, 'an empty list matches nothing')
  if (list.length > MAX_VALUES) throw new SigmaError(path, `more than ${MAX_VALUES} values`)
  for (const v of list) {
    if (v !== null && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new SigmaError(path, 'values must be strings, numbers, booleans or null')
    }
  }
  return list as Scalar[]
}

/** A record value as text for string matching; objects and absent values have none. */
const textOf = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined

const numberOf = (v: unknown): number | undefined => {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined
  if (typeof v === 'string' && v.trim() !== '' && v.length < 40) {
    const n = Number(v)
    return Number.isFinite(n) ? n : undefined
  }
  return undefined
}

function expand(value: string, path: string, options: SigmaOptions): string[] {
  let out = ['']
  let rest = value
  for (;;) {
    const start = rest.indexOf('%')
    const end = start < 0 ? -1 : rest.indexOf('%', start + 1)
    if (end < 0) break
    const name = rest.slice(start + 1, end)
    const values = options.placeholders?.[name]
    if (!values) {
      throw new SigmaError(path, `placeholder %${name}% is not configured (DETECTION_PLACEHOLDERS)`)
    }
    const next: string[] = []
    for (const o of out) for (const v of values) next.push(o + rest.slice(0, start) + v)
    if (next.length > MAX_VALUES) throw new SigmaError(path, `%${name}% expands to more than ${MAX_VALUES} values`)
    out = next
    rest = rest.slice(end + 1)
  }
  if (out.length === 1 && out[0] === '' && rest === value) {
    throw new SigmaError(path, 'expand needs a %placeholder% in the value')
  }
  return out.map((o) => o + rest)
}

/** The strings one rule value stands for after the transforms, and whether they are base64 (cased). */
function transformed(value: string, m: Modifiers, path: string): { values: string[]; encoded: boolean } {
  let values: (string | Bytes)[] = [value]
  let encoded = false
  for (const t of m.transforms) {
    const next: (string | Bytes)[] = []
    for (const v of values) {
      if (t === 'windash') {
        const all = windash(v as string)
        if (!all) throw new SigmaError(path, 'windash applies to at most 4 dashes in one value')
        next.push(...all)
      } else if (t === 'base64' || t === 'base64offset') {
        if (typeof v === 'string' && hasWildcards(parseSigmaString(v))) {
          throw new SigmaError(path, `${t} cannot encode a value with wildcards`)
        }
        const plain = typeof v === 'string' ? literalOf(parseSigmaString(v)) : v
        if (t === 'base64') next.push(base64(plain))
        else next.push(...base64offset(plain))
        encoded = true
      } else {
        if (typeof v !== 'string') throw new SigmaError(path, `${t} applies once`)
        next.push(utf16(literalOf(parseSigmaString(v)), t === 'wide' ? 'utf16le' : (t as 'utf16le' | 'utf16be' | 'utf16')))
      }
    }
    if (next.length > MAX_VALUES) throw new SigmaError(path, `the modifiers make more than ${MAX_VALUES} values`)
    values = next
  }
  // Encoded text is escaped so that its characters are literal, never wildcards. Without base64,
  // a UTF-16 value is compared as text, each byte one character (as pySigma represents it).
  const escape = (t: string) => t.replace(/[\\*?]/g, '\\$&')
  return { values: values.map((v) => (typeof v === 'string' ? (encoded ? escape(v) : v) : escape(v.bytes.toString('latin1')))), encoded }
}

function valueTest(raw: Scalar, m: Modifiers, path: string): ValueTest[] {
  switch (m.kind) {
    case 'exists':
      if (typeof raw !== 'boolean') throw new SigmaError(path, 'exists takes true or false')
      // A key that is present exists, whatever its value (null included).
      return [(v) => (v !== undefined) === raw]
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte': {
      const n = typeof raw === 'number' ? raw : undefined
      if (n === undefined) throw new SigmaError(path, `${m.kind} takes a number`)
      const cmp = { lt: (x: number) => x < n, lte: (x: number) => x <= n, gt: (x: number) => x > n, gte: (x: number) => x >= n }[m.kind]
      return [(v) => {
        const x = numberOf(v)
        return x !== undefined && cmp(x)
      }]
    }
    case 'cidr': {
      const range: Range | null = typeof raw === 'string' ? parseRange(raw.trim()) : null
      if (!range) throw new SigmaError(path, `cidr: '${String(raw)}' is not an IPv4 or IPv6 network (address with an optional /prefix)`)
      return [(v) => {
        const addr = typeof v === 'string' ? parseAddress(v) : null
        return addr !== null && inRange(range, addr)
      }]
    }
    case 're': {
      if (typeof raw !== 'string') throw new SigmaError(path, 're takes a string')
      if (raw.length > MAX_PATTERN) throw new SigmaError(path, `a regular expression longer than ${MAX_PATTERN} characters`)
      let flags = m.reFlags.has('i') ? RE2JS.CASE_INSENSITIVE : 0
      if (m.reFlags.has('m')) flags |= RE2JS.MULTILINE
      if (m.reFlags.has('s')) flags |= RE2JS.DOTALL
      let re: RE2JS
      try {
        re = RE2JS.compile(raw, flags)
      } catch (err) {
        throw new SigmaError(path, `the regular expression cannot run in linear time (RE2): ${(err as Error).message}`)
      }
      // Most texts lack the expression's required literal: they are refused before RE2 runs.
      const need = requiredLiteral(raw)
      // U+017F folds to 's' in RE2, not in toLowerCase: texts holding it go to RE2.
      const longS = need?.includes('s') ?? false
      return [(v) => {
        const t = textOf(v)
        if (t === undefined) return false
        if (need !== null && !lower(t).includes(need) && !(longS && t.includes('\u017f'))) return false
        return re.matcher(t).find()
      }]
    }
    case 'fieldref': {
      if (typeof raw !== 'string' || raw === '') throw new SigmaError(path, 'fieldref takes a field name')
      if (/[*?]/.test(raw)) throw new SigmaError(path, 'fieldref names one field: no wildcards')
      const other = raw
      const cased = m.cased
      const compare = (a: string, b: string) => {
        const x = cased ? a : a.toLowerCase()
        const y = cased ? b : b.toLowerCase()
        return m.mode === 'exact' ? x === y : m.mode === 'contains' ? x.includes(y) : m.mode === 'startswith' ? x.startsWith(y) : x.endsWith(y)
      }
      return [(v, record) => {
        const t = textOf(v)
        const o = record.get(other)
        const list = Array.isArray(o) ? o : [o]
        return t !== undefined && list.some((x) => {
          const ot = textOf(x)
          return ot !== undefined && compare(t, ot)
        })
      }]
    }
  }
  if (raw === null) {
    if (m.mode !== 'exact' || m.transforms.length) throw new SigmaError(path, 'null takes no modifiers')
    return [(v) => v === undefined || v === null]
  }
  if (typeof raw === 'boolean') {
    return [(v) => v === raw || (typeof v === 'string' && v.toLowerCase() === String(raw))]
  }
  if (typeof raw === 'number' && m.mode === 'exact' && m.transforms.length === 0) {
    const text = String(raw)
    return [(v) => v === raw || (typeof v === 'string' && v.trim() === text)]
  }
  const { values, encoded } = transformed(String(raw), m, path)
  return values.map((value) => {
    const test = stringMatcher(parseSigmaString(value), m.mode, m.cased || encoded)
    return (v: unknown) => {
      const t = textOf(v)
      return t !== undefined && test(t)
    }
  })
}

// --- fields and searches --------------------------------------------------------------------

/** One `field|modifiers: values` entry of a map. An empty field name searches the keywords. */
function fieldMatcher(key: string, value: unknown, path: string, options: SigmaOptions): Matcher {
  const [field, ...names] = key.split('|')
  const m = parseModifiers(names, path)
  const keywords = field === ''
  // Keywords are found anywhere in the message, like a full-text search.
  if (keywords && !m.kind && m.mode === 'exact') m.mode = 'contains'
  // Placeholders are expanded first: every other modifier applies to each of their values.
  let raws = scalars(value, path)
  if (m.transforms.includes('expand')) {
    raws = raws.flatMap((raw): Scalar[] => (typeof raw === 'string' ? expand(raw, path, options) : [raw]))
    m.transforms = m.transforms.filter((t) => t !== 'expand')
  }
  const tests = raws.flatMap((raw) => valueTest(raw, m, path))
  if (m.all && tests.length < 2) throw new SigmaError(path, 'all needs a list of values')
  if (keywords && (m.kind === 'exists' || m.kind === 'fieldref')) throw new SigmaError(path, `${m.kind} needs a field`)

  // A record's field may be a list: a value matches when any element does.
  const anyOf = (test: ValueTest, v: unknown, record: FieldSource) =>
    Array.isArray(v) ? (v.length === 0 ? test(undefined, record) : v.some((x) => test(x, record))) : test(v, record)
  const read = keywords ? (record: FieldSource) => record.keywords() : (record: FieldSource) => record.get(field)
  const one = m.all
    ? (v: unknown, record: FieldSource) => tests.every((test) => anyOf(test, v, record))
    : (v: unknown, record: FieldSource) => tests.some((test) => anyOf(test, v, record))
  if (m.neq) {
    // neq: the field is present and equals none of the values.
    return (record) => {
      const v = read(record)
      return v !== undefined && v !== null && !one(v, record)
    }
  }
  return (record) => one(read(record), record)
}

function mapMatcher(map: Record<string, unknown>, path: string, options: SigmaOptions): Matcher {
  const keys = Object.keys(map)
  if (keys.length === 0) throw new SigmaError(path, 'an empty map matches nothing')
  const parts = keys.map((key) => fieldMatcher(key, map[key], `${path}.${key}`, options))
  return parts.length === 1 ? parts[0] : (record) => parts.every((p) => p(record))
}

/** Compile one named search of a rule's `detection`. */
export function compileSearch(name: string, search: unknown, path: string, options: SigmaOptions = {}): Matcher {
  if (isMap(search)) return mapMatcher(search, path, options)
  if (Array.isArray(search)) {
    if (search.length === 0) throw new SigmaError(path, 'an empty list matches nothing')
    if (search.every(isMap)) {
      const parts = search.map((m, i) => mapMatcher(m, `${path}[${i}]`, options))
      return (record) => parts.some((p) => p(record))
    }
    if (search.some(isMap)) throw new SigmaError(path, `search '${name}' mixes maps and keywords`)
    return keywordMatcher(search, path, options)
  }
  if (typeof search === 'string' || typeof search === 'number') return keywordMatcher([search], path, options)
  throw new SigmaError(path, `search '${name}' must be a map, a list of maps or a list of keywords`)
}

const keywordMatcher = (values: unknown[], path: string, options: SigmaOptions) => fieldMatcher('', values, path, options)
