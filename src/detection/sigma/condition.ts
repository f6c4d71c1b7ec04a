// Sigma conditions: `and`, `or`, `not`, parentheses, `1 of x*`, `all of x*`, `1 of them`, `all of
// them`, with the specification's precedence (not binds tighter than and, and tighter than or).
// Parsed once into a tree, then compiled into one predicate over the rule's compiled searches.
import type { Matcher } from '../types.js'
import { SigmaError } from './problem.js'

export type Condition =
  | { op: 'search'; name: string }
  | { op: 'not'; arg: Condition }
  | { op: 'and' | 'or'; args: Condition[] }
  | { op: 'of'; quantifier: 'one' | 'all'; names: string[] }

const TOKEN = /\s*(\(|\)|[^\s()]+)/y

function tokenize(text: string, path: string): string[] {
  const tokens: string[] = []
  TOKEN.lastIndex = 0
  while (TOKEN.lastIndex < text.length) {
    const at = TOKEN.lastIndex
    const m = TOKEN.exec(text)
    if (!m) {
      if (text.slice(at).trim() === '') break
      throw new SigmaError(path, `cannot read the condition at '${text.slice(at, at + 20)}'`)
    }
    tokens.push(m[1])
  }
  return tokens
}

const KEYWORDS = new Set(['and', 'or', 'not', 'of', 'them', '(', ')'])
const NAME = /^[\w.*-]+$/

/** Search names a `x*` pattern selects; `them` is every search whose name does not start with `_`. */
function select(pattern: string, names: readonly string[], path: string): string[] {
  if (pattern === 'them') return names.filter((n) => !n.startsWith('_'))
  const re = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\-]/g, '\\$&').replace(/\*/g, '.*')}$`)
  const picked = names.filter((n) => re.test(n))
  if (picked.length === 0) throw new SigmaError(path, `'${pattern}' names no search`)
  return picked
}

/** Parse one condition string against the rule's search names. */
export function parseCondition(text: string, names: readonly string[], path: string): Condition {
  if (text.includes('|')) {
    throw new SigmaError(path, 'aggregations in conditions (`| count() ...`) are deprecated: write a correlation rule')
  }
  const tokens = tokenize(text, path)
  if (tokens.length === 0) throw new SigmaError(path, 'the condition is empty')
  let i = 0
  const peek = () => tokens[i]
  const fail = (what: string): never => {
    throw new SigmaError(path, `${what} in condition '${text}'`)
  }

  const or = (): Condition => {
    const args = [and()]
    while (peek() === 'or') {
      i++
      args.push(and())
    }
    return args.length === 1 ? args[0] : { op: 'or', args }
  }
  const and = (): Condition => {
    const args = [not()]
    while (peek() === 'and') {
      i++
      args.push(not())
    }
    return args.length === 1 ? args[0] : { op: 'and', args }
  }
  const not = (): Condition => {
    if (peek() === 'not') {
      i++
      return { op: 'not', arg: not() }
    }
    return primary()
  }
  const primary = (): Condition => {
    const t = tokens[i++]
    if (t === undefined) return fail('unexpected end')
    if (t === '(') {
      const inner = or()
      if (tokens[i++] !== ')') fail("missing ')'")
      return inner
    }
    if ((t === '1' || t === 'all') && tokens[i] === 'of') {
      i++
      const pattern = tokens[i++]
      if (pattern === undefined || (pattern !== 'them' && (KEYWORDS.has(pattern) || !NAME.test(pattern)))) {
        return fail(`'${t} of' needs a search pattern or 'them'`)
      }
      return { op: 'of', quantifier: t === '1' ? 'one' : 'all', names: select(pattern, names, path) }
    }
    if (/^\d+$/.test(t) && tokens[i] === 'of') {
      return fail(`'${t} of' is not supported: use '1 of' or 'all of'`)
    }
    if (KEYWORDS.has(t) || !NAME.test(t)) return fail(`unexpected '${t}'`)
    if (t.includes('*')) return fail(`a pattern like '${t}' needs '1 of' or 'all of'`)
    if (!names.includes(t)) return fail(`unknown search '${t}'`)
    return { op: 'search', name: t }
  }

  const tree = or()
  if (i < tokens.length) fail(`unexpected '${tokens[i]}'`)
  return tree
}

/** Names the condition reads. */
export function searchesOf(c: Condition, into = new Set<string>()): Set<string> {
  if (c.op === 'search') into.add(c.name)
  else if (c.op === 'not') searchesOf(c.arg, into)
  else if (c.op === 'of') for (const n of c.names) into.add(n)
  else for (const a of c.args) searchesOf(a, into)
  return into
}

export function compileCondition(c: Condition, searches: ReadonlyMap<string, Matcher>): Matcher {
  switch (c.op) {
    case 'search':
      return searches.get(c.name)!
    case 'not': {
      const arg = compileCondition(c.arg, searches)
      return (r) => !arg(r)
    }
    case 'and': {
      const args = c.args.map((a) => compileCondition(a, searches))
      return (r) => args.every((a) => a(r))
    }
    case 'or': {
      const args = c.args.map((a) => compileCondition(a, searches))
      return (r) => args.some((a) => a(r))
    }
    case 'of': {
      const args = c.names.map((n) => searches.get(n)!)
      return c.quantifier === 'one' ? (r) => args.some((a) => a(r)) : (r) => args.every((a) => a(r))
    }
  }
}
