// Sigma strings: `*` and `?` are wildcards, `\*`, `\?` and `\\` their literal forms, and any other
// backslash is itself. A string without wildcards compiles to plain string operations; one with
// wildcards to an RE2 expression (re2js), which matches in time linear in the text.
import { RE2JS } from 're2js'

export type Mode = 'exact' | 'contains' | 'startswith' | 'endswith'

/** A Sigma string split into literal text and wildcards. */
export type Part = string | { wildcard: '*' | '?' }

export function parseSigmaString(value: string): Part[] {
  const parts: Part[] = []
  let text = ''
  for (let i = 0; i < value.length; i++) {
    const c = value[i]
    if (c === '\\') {
      const next = value[i + 1]
      if (next === '*' || next === '?' || next === '\\') {
        text += next
        i++
      } else text += c
    } else if (c === '*' || c === '?') {
      if (text) parts.push(text)
      text = ''
      parts.push({ wildcard: c })
    } else text += c
  }
  if (text) parts.push(text)
  return parts
}

export const hasWildcards = (parts: Part[]) => parts.some((p) => typeof p !== 'string')

/** The text of a Sigma string with its escapes resolved, for values that take no wildcards. */
export const literalOf = (parts: Part[]) => parts.map((p) => (typeof p === 'string' ? p : p.wildcard)).join('')

const quote = (text: string) => text.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&')

// Every rule of a record folds the same few texts (its message above all): the last two are kept.
let foldedA = ''
let foldedALower = ''
let foldedB = ''
let foldedBLower = ''
function lower(t: string): string {
  if (t === foldedA) return foldedALower
  if (t === foldedB) return foldedBLower
  foldedB = foldedA
  foldedBLower = foldedALower
  foldedA = t
  foldedALower = t.toLowerCase()
  return foldedALower
}

/**
 * `*`-only patterns: the literal pieces found in order, each as early as it can be (which is
 * exact for `*`: an earlier piece leaves the most room for the rest). Linear in practice, with
 * no regular expression machinery.
 */
function starMatcher(pieces: string[], anchoredStart: boolean, anchoredEnd: boolean): (t: string) => boolean {
  const first = pieces[0]
  const last = pieces[pieces.length - 1]
  return (t) => {
    let at = 0
    let from = 0
    let to = pieces.length
    if (anchoredStart) {
      if (!t.startsWith(first)) return false
      at = first.length
      from = 1
    }
    if (anchoredEnd) {
      if (t.length - last.length < at || !t.endsWith(last)) return false
      to--
    }
    const end = anchoredEnd ? t.length - last.length : t.length
    for (let i = from; i < to; i++) {
      const found = t.indexOf(pieces[i], at)
      if (found < 0 || found + pieces[i].length > end) return false
      at = found + pieces[i].length
    }
    return true
  }
}

/** A predicate on a record's text for one Sigma string under a mode. */
export function stringMatcher(parts: Part[], mode: Mode, cased: boolean): (text: string) => boolean {
  const fold = cased ? (t: string) => t : lower
  if (!hasWildcards(parts)) {
    const literal = cased ? literalOf(parts) : literalOf(parts).toLowerCase()
    switch (mode) {
      case 'exact':
        return (t) => t.length === literal.length && fold(t) === literal
      case 'contains':
        return (t) => fold(t).includes(literal)
      case 'startswith':
        return (t) => fold(t).startsWith(literal)
      case 'endswith':
        return (t) => fold(t).endsWith(literal)
    }
  }
  if (!parts.some((p) => typeof p !== 'string' && p.wildcard === '?')) {
    // Split at the stars; the mode's own star is an unanchored end.
    const pieces: string[] = ['']
    for (const p of parts) {
      if (typeof p === 'string') pieces[pieces.length - 1] += cased ? p : p.toLowerCase()
      else pieces.push('')
    }
    const test = starMatcher(pieces, mode === 'exact' || mode === 'startswith', mode === 'exact' || mode === 'endswith')
    return (t) => test(fold(t))
  }
  const body = parts.map((p) => (typeof p === 'string' ? quote(p) : p.wildcard === '*' ? '.*' : '.')).join('')
  const pattern = `${mode === 'exact' || mode === 'startswith' ? '^' : ''}${body}${mode === 'exact' || mode === 'endswith' ? '$' : ''}`
  const re = RE2JS.compile(pattern, RE2JS.DOTALL | (cased ? 0 : RE2JS.CASE_INSENSITIVE))
  return (t) => re.matcher(t).find()
}
