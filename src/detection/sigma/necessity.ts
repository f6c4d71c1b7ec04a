// What a rule cannot match without: a set of (field, literal) pairs of which at least one must be
// found, lower-cased, in the field's text (a null field: the keywords). The engine indexes these
// literals for all rules at once (src/detection/engine.ts), so a record is tried only against the
// rules whose literals it holds, plus those with no such set. Conservative by construction:
// whatever cannot be read for sure (negations, numbers, ranges, encodings, lists with non-text
// values) gives no set, and the rule is always tried.
import type { Condition } from './condition.js'
import { requiredLiteral } from './prefilter.js'
import { parseSigmaString } from './wildcard.js'
import { isMap } from '../types.js'

export interface Needed {
  /** null: the keywords (the message texts). */
  field: string | null
  literal: string
}

/** At least one of these; null: nothing is needed (the rule is always tried). */
export type Necessity = Needed[] | null

/** Literals shorter than this say too little to be worth an index entry. */
const MIN_LITERAL = 3
/** Modifiers whose values are not in the field's text as written (or that negate). */
const OPAQUE = new Set(['neq', 'exists', 'lt', 'lte', 'gt', 'gte', 'cidr', 'fieldref', 'base64', 'base64offset', 'utf16le', 'utf16be', 'utf16', 'wide', 'windash', 'expand'])

/** The longest literal run of a Sigma string (between wildcards), lower-cased. */
function longestPiece(value: string): string {
  let best = ''
  let run = ''
  for (const p of parseSigmaString(value)) {
    if (typeof p === 'string') run += p
    else {
      if (run.length > best.length) best = run
      run = ''
    }
  }
  if (run.length > best.length) best = run
  return best.toLowerCase()
}

/** The literal one value stands for, or null. */
function literalOf(value: unknown, re: boolean): string | null {
  if (typeof value !== 'string') return null
  const lit = re ? requiredLiteral(value) : longestPiece(value)
  return lit !== null && lit.length >= MIN_LITERAL ? lit : null
}

/** One `field|modifiers: values` entry. */
function entryNeeds(key: string, value: unknown): Necessity {
  const [field, ...mods] = key.split('|')
  if (mods.some((m) => OPAQUE.has(m))) return null
  const re = mods.includes('re')
  const values = Array.isArray(value) ? value : [value]
  const lits = values.map((v) => literalOf(v, re))
  const name = field === '' ? null : field
  if (mods.includes('all')) {
    // Every value is needed: the longest one will do.
    const best = lits.filter((l): l is string => l !== null).sort((a, b) => b.length - a.length)[0]
    return best ? [{ field: name, literal: best }] : null
  }
  if (lits.some((l) => l === null)) return null
  return (lits as string[]).map((literal) => ({ field: name, literal }))
}

/** Of several necessities that all hold (AND), the one that narrows most: its shortest literal is the longest. */
function best(options: Necessity[]): Necessity {
  let out: Necessity = null
  let score = -1
  for (const o of options) {
    if (!o) continue
    const s = Math.min(...o.map((n) => n.literal.length)) - o.length / 100
    if (s > score) {
      out = o
      score = s
    }
  }
  return out
}

/** Any of several (OR): all must have a necessity, and their union is one. */
export function union(options: Necessity[]): Necessity {
  if (options.length === 0 || options.some((o) => o === null)) return null
  return options.flat() as Needed[]
}

export function searchNeeds(search: unknown): Necessity {
  if (isMap(search)) return best(Object.entries(search).map(([k, v]) => entryNeeds(k, v)))
  if (Array.isArray(search)) {
    if (search.every(isMap)) return union(search.map((m) => searchNeeds(m)))
    return entryNeeds('', search)
  }
  return entryNeeds('', search)
}

export function conditionNeeds(c: Condition, searches: ReadonlyMap<string, Necessity>): Necessity {
  switch (c.op) {
    case 'search':
      return searches.get(c.name) ?? null
    case 'not':
      return null
    case 'and':
      return best(c.args.map((a) => conditionNeeds(a, searches)))
    case 'or':
      return union(c.args.map((a) => conditionNeeds(a, searches)))
    case 'of': {
      const each = c.names.map((n) => searches.get(n) ?? null)
      return c.quantifier === 'one' ? union(each) : best(each)
    }
  }
}
