// What closing waits for: background work (a maintenance round, a counter flush, a bulk job's batch,
// a webhook round) is given a bound to end on its own, never the database's whole statement timeout.
// Work cut short is safe to leave: its transaction commits or rolls back by itself, and what it was
// for is done again by the next round, on this instance after a restart or on another one.

/**
 * How long closing waits for one piece of background work. Five plugins wait at close, one after
 * another, the webhooks' aborted attempts get as long again, and the pool then gets POOL_END_S to
 * end its queries: together within the server's shutdown grace (src/server.ts).
 */
export const CLOSE_WAIT_MS = 1000

/** How long the pool's queries get to end at close before their connections are closed. */
export const POOL_END_S = 3

/** Waits for `work` to settle, at most `ms`. Never rejects. */
export async function settleWithin(work: Promise<unknown> | Promise<unknown>[], ms: number = CLOSE_WAIT_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const settled = Promise.allSettled(Array.isArray(work) ? work : [work])
  try {
    await Promise.race([settled, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))])
  } finally {
    clearTimeout(timer)
  }
}
