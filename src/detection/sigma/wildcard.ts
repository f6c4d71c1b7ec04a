// Sigma strings: `*` and `?` are wildcards, `\*`, `\?` and `\\` their literal forms, and any other
// backslash is itself. A string without wildcards compiles to plain string operations, one with
// wildcards to a search of its pieces in order (no regular expression, no backtracking).
import { RE2JS } from 're2js'

/**
 * A piece with `?` costs up to its length per candidate place: past this length the pattern runs
 * on RE2 instead, so every pattern stays linear in the text.
 */
const MAX_GLOB_PIECE = 64
const quote = (text: string) => text.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&')

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

/** Lower case, for the case-insensitive comparisons. Every rule of a record folds the same few texts (its message above all): the last two are kept. */
let foldedA = ''
let foldedALower = ''
let foldedB = ''
let foldedBLower = ''
export function lower(t: string): string {
  if (t === foldedA) return foldedALower
  if (t === foldedB) return foldedBLower
  foldedB = foldedA
  foldedBLower = foldedALower
  foldedA = t
  foldedALower = t.toLowerCase()
  return foldedALower
}

/** A piece of a pattern between stars: fixed length, `?` at the places marked. */
interface Piece {
  text: string
  /** Places of `?` (any one character); empty for a literal piece. */
  any: number[]
  /** The longest literal run of the piece and its offset, to find candidates with indexOf. */
  anchor: string
  anchorAt: number
}

function pieceOf(parts: Part[], cased: boolean): Piece {
  let text = ''
  const any: number[] = []
  for (const p of parts) {
    if (typeof p === 'string') text += cased ? p : p.toLowerCase()
    else {
      any.push(text.length)
      text += '?'
    }
  }
  let anchor = ''
  let anchorAt = 0
  let run = 0
  for (let i = 0; i <= text.length; i++) {
    if (i === text.length || any.includes(i)) {
      if (i - run > anchor.length) {
        anchor = text.slice(run, i)
        anchorAt = run
      }
      run = i + 1
    }
  }
  return { text, any, anchor, anchorAt }
}

/** Whether the piece matches `t` at `i`. */
function matchesAt(piece: Piece, t: string, i: number): boolean {
  if (i < 0 || i + piece.text.length > t.length) return false
  if (piece.any.length === 0) return t.startsWith(piece.text, i)
  for (let j = 0; j < piece.text.length; j++) {
    if (t.charCodeAt(i + j) !== piece.text.charCodeAt(j) && !piece.any.includes(j)) return false
  }
  return true
}

/** The earliest place from `from` on where the piece matches, or -1. */
function find(piece: Piece, t: string, from: number): number {
  if (piece.any.length === 0) return t.indexOf(piece.text, from)
  for (let a = t.indexOf(piece.anchor, from + piece.anchorAt); a >= 0; a = t.indexOf(piece.anchor, a + 1)) {
    const i = a - piece.anchorAt
    if (matchesAt(piece, t, i)) return i
    if (i + piece.text.length > t.length) return -1
  }
  return -1
}

/**
 * Wildcard patterns without regular expressions: the pieces between stars found in order, each
 * as early as it can be. A piece has a fixed length (`?` is one character), so the earliest place
 * leaves the most room for the rest and the greedy search is exact; indexOf on each piece's
 * longest literal run finds the candidates.
 */
function globMatcher(pieces: Piece[], anchoredStart: boolean, anchoredEnd: boolean): (t: string) => boolean {
  const first = pieces[0]
  const last = pieces[pieces.length - 1]
  if (pieces.length === 1) {
    // No star: one piece, at the start, at the end, both, or anywhere.
    if (anchoredStart && anchoredEnd) return (t) => t.length === first.text.length && matchesAt(first, t, 0)
    if (anchoredStart) return (t) => matchesAt(first, t, 0)
    if (anchoredEnd) return (t) => matchesAt(first, t, t.length - first.text.length)
    return (t) => find(first, t, 0) >= 0
  }
  return (t) => {
    let at = 0
    let from = 0
    let to = pieces.length
    if (anchoredStart) {
      if (!matchesAt(first, t, 0)) return false
      at = first.text.length
      from = 1
    }
    let end = t.length
    if (anchoredEnd) {
      end = t.length - last.text.length
      if (end < at || !matchesAt(last, t, end)) return false
      to--
    }
    for (let i = from; i < to; i++) {
      const found = find(pieces[i], t, at)
      if (found < 0 || found + pieces[i].text.length > end) return false
      at = found + pieces[i].text.length
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
  // Split at the stars; the mode's own star is an unanchored end.
  const groups: Part[][] = [[]]
  for (const p of parts) {
    if (typeof p !== 'string' && p.wildcard === '*') groups.push([])
    else groups[groups.length - 1].push(p)
  }
  const pieces = groups.map((g) => pieceOf(g, cased))
  if (pieces.some((p) => p.any.length > 0 && p.text.length > MAX_GLOB_PIECE)) {
    const body = parts.map((p) => (typeof p === 'string' ? quote(p) : p.wildcard === '*' ? '.*' : '.')).join('')
    const anchored = mode === 'exact' || mode === 'startswith'
    const ended = mode === 'exact' || mode === 'endswith'
    const re = RE2JS.compile(`${anchored ? '^' : ''}${body}${ended ? '$' : ''}`, RE2JS.DOTALL | (cased ? 0 : RE2JS.CASE_INSENSITIVE))
    return (t) => re.matcher(t).find()
  }
  const test = globMatcher(
    pieces,
    mode === 'exact' || mode === 'startswith',
    mode === 'exact' || mode === 'endswith'
  )
  return (t) => test(fold(t))
}
