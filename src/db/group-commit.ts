// Group commit for single-row writes. Callers that arrive while a group is being written wait
// for it and are then written together, as the next group, in one statement: one round trip
// and one commit (one WAL flush) for all of them. The first caller goes at once, so an idle
// server adds no delay; under load the groups grow by themselves. This is what PostgreSQL does
// with concurrent commits' WAL flushes, done one step earlier where it also saves a round trip
// and a statement per row. Every caller still gets its own outcome, after its row is committed.

export interface GroupOptions {
  /** Groups written at once; more let the database work in parallel, fewer make bigger groups. */
  concurrency: number
  /** Most items in one group. */
  maxGroup: number
}

interface Waiting<I, O> {
  item: I
  resolve(outcome: O): void
  reject(err: unknown): void
}

/**
 * Returns a function that writes one item through `writeGroup`, grouped with whatever other
 * items are waiting. `writeGroup` answers one outcome per item, in order; if it throws, every
 * item of that group fails with the error (so it must isolate per-item failures itself).
 */
export function groupCommit<I, O>(writeGroup: (items: I[]) => Promise<O[]>, opts: GroupOptions): (item: I) => Promise<O> {
  let waiting: Waiting<I, O>[] = []
  let writing = 0

  const next = () => {
    while (writing < opts.concurrency && waiting.length > 0) {
      const group = waiting.length <= opts.maxGroup ? waiting : waiting.slice(0, opts.maxGroup)
      waiting = group === waiting ? [] : waiting.slice(opts.maxGroup)
      writing++
      writeGroup(group.map((w) => w.item))
        .then(
          (outcomes) => group.forEach((w, i) => w.resolve(outcomes[i])),
          (err: unknown) => group.forEach((w) => w.reject(err))
        )
        .finally(() => {
          writing--
          next()
        })
    }
  }

  return (item) =>
    new Promise<O>((resolve, reject) => {
      waiting.push({ item, resolve, reject })
      next()
    })
}
