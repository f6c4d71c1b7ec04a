// Back-pressure for ingestion: at most `max` requests ingest at once (each holds one database
// connection while it writes). A request beyond that waits up to `waitMs` for a slot, in arrival
// order, and is otherwise told to come back (503 + Retry-After) instead of piling up on the pool.

interface Waiter {
  resolve(granted: boolean): void
  timer?: NodeJS.Timeout
}

export class IngestGate {
  private active = 0
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

  get waiting(): number {
    return this.queue.length
  }

  /** True when a new request would be refused: every slot taken and no room to wait. */
  get full(): boolean {
    return this.active >= this.max && (this.waitMs <= 0 || this.queue.length >= this.maxWaiting)
  }

  /** Takes a slot: true when granted (call release() once), false when busy. */
  acquire(): Promise<boolean> {
    if (this.active < this.max && this.queue.length === 0) {
      this.active++
      return Promise.resolve(true)
    }
    if (this.waitMs <= 0 || this.queue.length >= this.maxWaiting) return Promise.resolve(false)
    return new Promise((resolve) => {
      const waiter: Waiter = { resolve }
      waiter.timer = setTimeout(() => {
        const at = this.queue.indexOf(waiter)
        if (at >= 0) this.queue.splice(at, 1)
        resolve(false)
      }, this.waitMs)
      this.queue.push(waiter)
    })
  }

  release(): void {
    const next = this.queue.shift()
    if (next) {
      // The slot passes straight to the next waiter.
      clearTimeout(next.timer)
      next.resolve(true)
    } else if (this.active > 0) {
      this.active--
    }
  }
}
