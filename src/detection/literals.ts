// The rule index: every rule's needed literals (src/detection/sigma/necessity.ts), per field, in
// one Aho-Corasick automaton each, so that a record's texts are read once per field whatever the
// number of rules, and only the rules whose literals were found (and those that need none) run.
import { lower } from './sigma/wildcard.js'
import type { Necessity } from './sigma/necessity.js'
import type { FieldSource } from './types.js'

/** Aho-Corasick over UTF-16 code units: every literal added is found in one pass over a text. */
class Automaton {
  private readonly next: Map<number, number>[] = [new Map<number, number>()]
  private fail: Int32Array = new Int32Array(1)
  private readonly out: number[][] = [[]]

  add(literal: string, id: number): void {
    let s = 0
    for (let i = 0; i < literal.length; i++) {
      const c = literal.charCodeAt(i)
      let t = this.next[s].get(c)
      if (t === undefined) {
        t = this.next.length
        this.next.push(new Map<number, number>())
        this.out.push([])
        this.next[s].set(c, t)
      }
      s = t
    }
    this.out[s].push(id)
  }

  /** The root's transitions on ASCII, as a table: most characters of a text fail back to the root. */
  private root = new Int32Array(128)

  build(): void {
    for (const [c, t] of this.next[0]) if (c < 128) this.root[c] = t
    this.fail = new Int32Array(this.next.length)
    const queue: number[] = []
    for (const t of this.next[0].values()) queue.push(t)
    for (let q = 0; q < queue.length; q++) {
      const s = queue[q]
      for (const [c, t] of this.next[s]) {
        let f = this.fail[s]
        while (f !== 0 && !this.next[f].has(c)) f = this.fail[f]
        const g = this.next[f].get(c)
        this.fail[t] = g !== undefined && g !== t ? g : 0
        // A state also ends every literal its failure state ends.
        if (this.out[this.fail[t]].length) this.out[t] = [...this.out[t], ...this.out[this.fail[t]]]
        queue.push(t)
      }
    }
  }

  scan(text: string, found: (id: number) => void): void {
    let s = 0
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      let t = s === 0 ? (c < 128 ? this.root[c] || undefined : this.next[0].get(c)) : this.next[s].get(c)
      while (t === undefined && s !== 0) {
        s = this.fail[s]
        t = s === 0 ? (c < 128 ? this.root[c] || undefined : this.next[0].get(c)) : this.next[s].get(c)
      }
      s = t ?? 0
      const out = this.out[s]
      for (let k = 0; k < out.length; k++) found(out[k])
    }
  }
}

const textsOf = (v: unknown, into: string[]) => {
  if (typeof v === 'string') into.push(v)
  else if (typeof v === 'number' || typeof v === 'boolean') into.push(String(v))
  else if (Array.isArray(v)) for (const x of v) textsOf(x, into)
}

export class RuleIndex {
  private readonly fields: { field: string | null; automaton: Automaton }[] = []
  /** Per literal id: the rules that need it. */
  private readonly rulesOf: number[][] = []
  private readonly isAlways: Uint8Array
  private readonly seen: Int32Array
  private epoch = 0

  /** `needs[i]`: what rule i needs. */
  constructor(needs: readonly Necessity[]) {
    this.seen = new Int32Array(needs.length)
    this.isAlways = new Uint8Array(needs.length)
    const byField = new Map<string | null, Automaton>()
    const ids = new Map<string, number>()
    needs.forEach((need, rule) => {
      if (!need) return void (this.isAlways[rule] = 1)
      for (const n of need) {
        const key = JSON.stringify([n.field, n.literal])
        let id = ids.get(key)
        if (id === undefined) {
          ids.set(key, (id = this.rulesOf.length))
          this.rulesOf.push([])
          let a = byField.get(n.field)
          if (!a) byField.set(n.field, (a = new Automaton()))
          a.add(n.literal, id)
        }
        if (!this.rulesOf[id].includes(rule)) this.rulesOf[id].push(rule)
      }
    })
    for (const [field, automaton] of byField) {
      automaton.build()
      this.fields.push({ field, automaton })
    }
  }

  /**
   * Marks the rules that may match the record; `may(i)` then tells for rule i. Nothing is
   * allocated per record but the texts' list: this runs for every record ingested.
   */
  mark(record: FieldSource): void {
    this.epoch++
    for (const { field, automaton } of this.fields) {
      const texts = this.texts
      texts.length = 0
      if (field === null) for (const k of record.keywords()) texts.push(k)
      else textsOf(record.get(field), texts)
      for (const t of texts) automaton.scan(lower(t), this.found)
    }
  }

  may(rule: number): boolean {
    return this.isAlways[rule] === 1 || this.seen[rule] === this.epoch
  }

  private readonly texts: string[] = []
  private readonly found = (id: number) => {
    for (const r of this.rulesOf[id]) this.seen[r] = this.epoch
  }
}
