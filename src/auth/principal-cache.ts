// Recently read user rows, so a busy client's requests do not each cost a database round trip to
// authenticate. Safe because every change to a user row is announced by the database
// (drizzle/0001_user_changes.sql: NOTIFY on the vigil_users channel at commit) and drops the copy
// here, on every instance; changes made through this instance also drop it directly. A copy is
// never older than the TTL, and nothing is cached while the subscription is not confirmed (before
// it is made, and from the moment its connection drops until it is made again).
import type { UserChange } from '../db/channels.js'
import type { Role } from '../db/schema.js'

export interface CachedUser {
  id: number
  username: string
  email: string | null
  role: Role
  isActive: boolean
  tokenVersion: number
  createdAt: Date
}

/** Most users remembered; beyond it the oldest copy goes. */
const MAX_ENTRIES = 10_000

export class PrincipalCache<T extends { id: number } = CachedUser> {
  private readonly rows = new Map<number, { row: T; at: number }>()
  /** Bumped by every invalidation: a read that started before one must not be cached after it. */
  private generation = 0
  /** False until the database confirms the subscription to changes; nothing is cached meanwhile. */
  private subscribed = false

  constructor(private readonly ttlMs: number) {}

  /** The cached row, if fresh. */
  get(id: number): T | undefined {
    const hit = this.rows.get(id)
    if (!hit) return undefined
    if (performance.now() - hit.at < this.ttlMs) return hit.row
    this.rows.delete(id)
    return undefined
  }

  /** Reads through the cache: `read` runs on a miss, and its row is kept unless a change came meanwhile. */
  async load(id: number, read: () => Promise<T | undefined>): Promise<T | undefined> {
    const cached = this.get(id)
    if (cached) return cached
    const generation = this.generation
    const row = await read()
    if (row && this.subscribed && this.ttlMs > 0 && generation === this.generation) {
      if (this.rows.size >= MAX_ENTRIES) this.rows.delete(this.rows.keys().next().value!)
      this.rows.set(id, { row, at: performance.now() })
    }
    return row
  }

  /** A user changed (announced on the vigil_users channel, or changed here). '*' means any user. */
  invalidate(id: UserChange): void {
    this.generation++
    if (id === '*') this.rows.clear()
    else this.rows.delete(id)
  }

  /** The subscription to changes is (again) confirmed: what happened before it is unknown. */
  subscribedAgain(): void {
    this.invalidate('*')
    this.subscribed = true
  }

  /** The subscription is lost: changes would go unannounced, so nothing is reused until it is back. */
  unsubscribed(): void {
    this.subscribed = false
    this.invalidate('*')
  }
}
