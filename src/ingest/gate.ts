// Back-pressure for ingestion: at most `max` requests ingest at once (each holds one database
// connection while it writes). A request beyond that waits up to `waitMs` for a slot, in arrival
// order, and is otherwise told to come back (503 + Retry-After) instead of piling up on the pool.
//
// A slot is a Slot object, given back exactly once: when its request is over (answered, or the
// client gone) and no database work runs for it. Work already started when the client leaves
// runs to its end (its rows are committed; a re-send finds them as duplicates), then frees the
// slot. Nothing else gives a slot back, so the count can neither leak nor be given back twice.

import { HttpError } from '../errors.js'

interface Waiter {
  resolve(slot: Slot | null): void
  timer?: NodeJS.Timeout
  signal?: AbortSignal
  onAbort?: () => void
}

/**
 * Thrown by Slot.run when the client left before the work began: nothing was done. 499 is the
 * status proxies log for "client closed request"; nobody receives it.
 */
export class ClientGone extends HttpError {
  constructor() {
    super('client_closed_request', 'The client closed the connection before its request was processed.')
  }
}

export class IngestGate {
  private active = 0
  private running = 0
  private left = 0
  private shut = false
  private readonly queue: Waiter[] = []

  constructor(
    readonly max: number,
    readonly waitMs: number,
    /** Requests allowed to wait at once; more are refused at once. */
    readonly maxWaiting = max * 4
  ) {}

  /** Slots in use. */
  get inFlight(): number {
    return this.active
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.queue.length
  }

  /** Slots whose database work is running. */
  get working(): number {
    return this.running
  }

  /** Slots whose work is still running though their client has left. */
  get abandoned(): number {
    return this.left
  }

  /** True once shutDown() was called. */
  get shuttingDown(): boolean {
    return this.shut
  }

  /**
   * Refuses every request from now on, the waiting ones at once: the process is shutting down,
   * and a refusal (which shippers retry, against another instance or after the restart) beats a
   * wait that ends in a dropped connection. Slots already granted finish their work.
   */
  shutDown(): void {
    this.shut = true
    for (const waiter of this.queue.splice(0)) this.settle(waiter, null)
  }

  /** True when a new request would be refused: every slot taken and no room to wait. */
  get full(): boolean {
    return this.active >= this.max && (this.waitMs <= 0 || this.queue.length >= this.maxWaiting)
  }

  /**
   * Takes a slot: resolves with it, or with null when Vigil is busy (no slot within `waitMs`),
   * shutting down, or `signal` aborted (the client left; it leaves the queue at once, not when
   * its timer ends).
   */
  acquire(signal?: AbortSignal): Promise<Slot | null> {
    if (signal?.aborted || this.shut) return Promise.resolve(null)
    if (this.active < this.max && this.queue.length === 0) {
      this.active++
      return Promise.resolve(this.grant())
    }
    if (this.waitMs <= 0 || this.queue.length >= this.maxWaiting) return Promise.resolve(null)
    return new Promise((resolve) => {
      const waiter: Waiter = { resolve, signal }
      const leave = () => {
        const at = this.queue.indexOf(waiter)
        if (at >= 0) this.queue.splice(at, 1)
        this.settle(waiter, null)
      }
      waiter.timer = setTimeout(leave, this.waitMs)
      if (signal) {
        waiter.onAbort = leave
        signal.addEventListener('abort', leave, { once: true })
      }
      this.queue.push(waiter)
    })
  }

  private settle(waiter: Waiter, slot: Slot | null) {
    clearTimeout(waiter.timer)
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort)
    waiter.resolve(slot)
  }

  private grant(): Slot {
    return new Slot({
      giveBack: () => {
        const next = this.queue.shift()
        // The slot passes straight to the next waiter: the count stays.
        if (next) this.settle(next, this.grant())
        else this.active--
      },
      track: (running, left) => {
        this.running += running
        this.left += left
      }
    })
  }
}

/** What a slot tells its gate; private to the gate, so only a slot can give a slot back. */
interface SlotOwner {
  /** Called once per slot. */
  giveBack(): void
  track(running: number, left: number): void
}

/** One granted slot; see the file comment for when it goes back. */
export class Slot {
  private closed = false
  private busy = false
  private released = false

  constructor(private readonly owner: SlotOwner) {}

  /** True once the request is over (answered, or its client gone). */
  get over(): boolean {
    return this.closed
  }

  /**
   * The request is over: its response was sent or its connection lost. The slot goes back now,
   * or when the running work ends.
   */
  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.busy) this.owner.track(0, 1)
    else this.release()
  }

  /**
   * Runs the request's database work holding the slot, even if the client leaves meanwhile.
   * Throws ClientGone, without running it, when the client has already left.
   */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) throw new ClientGone()
    if (this.busy) throw new Error('Slot.run while its work already runs')
    this.busy = true
    this.owner.track(1, 0)
    try {
      return await work()
    } finally {
      this.busy = false
      this.owner.track(-1, 0)
      if (this.closed) {
        this.owner.track(0, -1)
        this.release()
      }
    }
  }

  private release() {
    if (this.released) return
    this.released = true
    this.owner.giveBack()
  }
}
