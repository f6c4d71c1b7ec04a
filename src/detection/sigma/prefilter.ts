// A literal that every match of a regular expression contains, found once per rule, so that the
// RE2 engine (re2js, linear but slow in JavaScript) runs only on texts that contain it: a rule's
// regular expression is tried on most records in about the time of one indexOf. Conservative by
// construction: whatever the scan cannot read for sure (groups, alternation, classes, escapes of
// character kinds, quantified characters) ends a literal run instead of joining it, and the text
// and the literal are compared in lower case, which keeps every case-insensitive match.

/** Where the class that opens at `i` ends (the index after its `]`). */
function skipClass(p: string, i: number): number {
  let j = i + 1
  if (p[j] === '^') j++
  if (p[j] === ']') j++
  for (; j < p.length; j++) {
    if (p[j] === '\\') j++
    else if (p[j] === '[' && p[j + 1] === ':') {
      const close = p.indexOf(':]', j + 2)
      if (close > 0) j = close + 1
    } else if (p[j] === ']') return j + 1
  }
  return -1
}

/** Where the group that opens at `i` ends (the index after its `)`). */
function skipGroup(p: string, i: number): number {
  let depth = 0
  for (let j = i; j < p.length; j++) {
    const c = p[j]
    if (c === '\\') j++
    else if (c === '[') {
      j = skipClass(p, j) - 1
      if (j < 0) return -1
    } else if (c === '(') depth++
    else if (c === ')' && --depth === 0) return j + 1
  }
  return -1
}

/** The longest literal (lower case, at least 3 characters) every match contains, or null. */
export function requiredLiteral(p: string): string | null {
  if (p.includes('\\Q')) return null
  let best = ''
  let run = ''
  const flush = () => {
    if (run.length > best.length) best = run
    run = ''
  }
  for (let i = 0; i < p.length; ) {
    const c = p[i]
    if (c === '\\') {
      const n = p[i + 1]
      if (n === undefined) return null
      i += 2
      if (/[A-Za-z0-9]/.test(n)) {
        // A kind of character (\d, \s, \w), an assertion (\b, \A), a code (\x41, \p{L}), a reference.
        flush()
        if ((n === 'x' || n === 'p' || n === 'P') && p[i] === '{') {
          const close = p.indexOf('}', i)
          i = close < 0 ? p.length : close + 1
        } else if (n === 'x') i += 2
        else if (n === 'p' || n === 'P') i += 1
        continue
      }
      run += n
      continue
    }
    if (c === '[') {
      flush()
      i = skipClass(p, i)
      if (i < 0) return null
      continue
    }
    if (c === '(') {
      flush()
      i = skipGroup(p, i)
      if (i < 0) return null
      continue
    }
    if (c === '|') return null
    if (c === '*' || c === '?' || c === '{') {
      // The character before is optional (or repeated a number of times that may be zero).
      run = run.slice(0, -1)
      flush()
      if (c === '{') {
        const close = p.indexOf('}', i)
        i = close < 0 ? p.length : close + 1
      } else i++
      if (p[i] === '?') i++
      continue
    }
    if (c === '+') {
      // At least once: what came before stands, but the run ends (more of it may follow).
      flush()
      i++
      if (p[i] === '?') i++
      continue
    }
    if (c === '.' || c === '^' || c === '$') {
      flush()
      i++
      continue
    }
    run += c
    i++
  }
  flush()
  return best.length >= 3 ? best.toLowerCase() : null
}
