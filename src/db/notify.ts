// The notification hub: one database connection LISTENs for every channel anyone subscribes to,
// and hands each message to that channel's subscribers, typed by the channel's definition
// (src/db/channels.ts). When the connection drops, every subscriber is told at once that
// messages may be missed (onGap); the hub reconnects with bounded backoff, LISTENs again to
// every channel still wanted, and tells each subscriber when its channel is confirmed (onReady).
// Works on PostgreSQL (a postgres.js connection of its own) and on PGlite (never lost).
import { sql } from 'drizzle-orm'
import type { Database, Db, Listener, Tx } from './index.js'

/** A notification channel and how its payloads are written and read. */
export interface Channel<T> {
  readonly name: string
  format(payload: T): string
  /** May throw on a payload it cannot read; its subscribers are then told of a gap. */
  parse(text: string): T
}

/** PostgreSQL's channel names are identifiers; only plain lower-case ones are accepted. */
const CHANNEL_NAME = /^[a-z_][a-z0-9_]{0,62}$/
/** PostgreSQL refuses payloads of 8000 bytes or more. */
export const MAX_PAYLOAD_BYTES = 7999

export function defineChannel<T>(name: string, codec: Omit<Channel<T>, 'name'>): Channel<T> {
  if (!CHANNEL_NAME.test(name)) throw new Error(`not a channel name: ${name}`)
  return { name, format: codec.format, parse: codec.parse }
}

export interface Subscriber<T> {
  /** A message on the channel. Messages arrive in commit order; one may come just before onReady. */
  onMessage(payload: T): void
  /**
   * LISTEN is confirmed: every message sent from now on arrives. Runs once the subscription is
   * made, and again after each onGap once the connection is back.
   */
  onReady?(): void
  /** The connection dropped (or a message could not be read): messages may be missed until onReady. */
  onGap?(): void
}

/** Where the hub writes what its subscribers cannot be told (pino's signature, as app.log). */
export interface HubLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

// Held in one map whatever the channel's payload type; dispatch parses with the subscription's
// own channel, so each subscriber only ever sees its own type.
interface Subscription {
  channel: Channel<unknown>
  handlers: Subscriber<unknown>
  /** onReady delivered and no onGap since. */
  ready: boolean
  active: boolean
  /** Takes the abort listener off the caller's signal, which may outlive the subscription. */
  release(): void
}

/** Reconnect delays: doubling from the first to the last, so a down database costs one attempt per 2 s. */
const RETRY_FIRST_MS = 100
const RETRY_MAX_MS = 2000

export class NotificationHub {
  private readonly listener: Listener
  /** Subscriptions by channel name; a name is here while it has at least one subscriber. */
  private readonly channels = new Map<string, Set<Subscription>>()
  /** Channels LISTENed on the current connection. */
  private readonly listened = new Set<string>()
  /** Bumped by every loss of the connection: a LISTEN answered across one proves nothing. */
  private epoch = 0
  private running = false
  private again = false
  private retryTimer: NodeJS.Timeout | undefined
  private attempts = 0
  private down = false
  private closed = false

  constructor(
    database: Pick<Database, 'openListener'>,
    private readonly db: Db,
    private readonly log: HubLog
  ) {
    this.listener = database.openListener({
      onNotify: (channel, payload) => this.dispatch(channel, payload),
      onLost: () => this.lost()
    })
  }

  /**
   * Subscribes to `channel` until `signal` aborts (or the hub closes). The first subscriber of a
   * channel makes the hub LISTEN to it, the last one leaving makes it UNLISTEN. Returns at once;
   * `onReady` says when messages flow.
   */
  subscribe<T>(channel: Channel<T>, handlers: Subscriber<T>, { signal }: { signal: AbortSignal }): void {
    if (this.closed) throw new Error('the notification hub is closed')
    if (signal.aborted) return
    const end = () => this.unsubscribe(subscription)
    const subscription: Subscription = { channel, handlers, ready: false, active: true, release: () => signal.removeEventListener('abort', end) }
    let subscribers = this.channels.get(channel.name)
    if (!subscribers) this.channels.set(channel.name, (subscribers = new Set()))
    subscribers.add(subscription)
    signal.addEventListener('abort', end, { once: true })
    // Already listening: ready, but never from inside subscribe() itself.
    if (this.listened.has(channel.name)) queueMicrotask(() => this.markReady(channel.name))
    else this.sync()
  }

  /**
   * Sends a notification (parameterized pg_notify). Given a transaction, it is delivered when
   * that commits, and not at all if it rolls back.
   */
  async notify<T>(channel: Channel<T>, payload: T, tx: Db | Tx = this.db): Promise<void> {
    const text = channel.format(payload)
    if (Buffer.byteLength(text) > MAX_PAYLOAD_BYTES) throw new Error(`a ${channel.name} notification is over ${MAX_PAYLOAD_BYTES} bytes`)
    await tx.execute(sql`select pg_notify(${channel.name}, ${text})`)
  }

  /** Ends every subscription (no callback runs after this) and the connection. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.retryTimer)
    for (const subscribers of this.channels.values()) {
      for (const s of subscribers) {
        s.active = false
        s.release()
      }
    }
    this.channels.clear()
    this.listened.clear()
    await this.listener.close()
  }

  private unsubscribe(subscription: Subscription): void {
    if (!subscription.active) return
    subscription.active = false
    subscription.release()
    const name = subscription.channel.name
    const subscribers = this.channels.get(name)
    subscribers?.delete(subscription)
    if (subscribers?.size === 0) {
      this.channels.delete(name)
      this.sync()
    }
  }

  private dispatch(name: string, text: string): void {
    const subscribers = this.channels.get(name)
    if (!subscribers) return
    for (const s of [...subscribers]) {
      if (!s.active) continue
      let payload: unknown
      try {
        payload = s.channel.parse(text)
      } catch (err) {
        this.log.warn({ err, channel: name }, 'unreadable notification; telling its subscriber it missed one')
        this.call(s, 'onGap')
        if (s.ready) this.call(s, 'onReady')
        continue
      }
      this.call(s, 'onMessage', payload)
    }
  }

  private call(s: Subscription, what: keyof Subscriber<unknown>, payload?: unknown): void {
    if (!s.active) return
    try {
      s.handlers[what]?.(payload)
    } catch (err) {
      // One subscriber's bug must not cost the others their messages.
      this.log.error({ err, channel: s.channel.name }, `notification subscriber failed in ${what}`)
    }
  }

  private markReady(name: string): void {
    if (!this.listened.has(name)) return
    for (const s of [...(this.channels.get(name) ?? [])]) {
      if (s.ready || !s.active) continue
      s.ready = true
      this.call(s, 'onReady')
    }
  }

  private lost(): void {
    if (this.closed) return
    this.epoch++
    this.listened.clear()
    if (!this.down) {
      this.down = true
      this.log.warn({}, 'notification connection lost; subscribers are told they may miss messages')
    }
    for (const subscribers of this.channels.values()) {
      for (const s of [...subscribers]) {
        if (!s.ready) continue
        s.ready = false
        this.call(s, 'onGap')
      }
    }
    this.retryLater()
  }

  /** At most one timer at a time, each wait twice the last (bounded): no busy loop while down. */
  private retryLater(): void {
    if (this.closed || this.retryTimer) return
    const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** this.attempts++)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.sync()
    }, delay)
    // Nothing else to do is no reason to keep the process alive.
    this.retryTimer.unref()
  }

  /** Brings the LISTENed channels in line with the subscribed ones, one statement at a time. */
  private sync(): void {
    // While a retry is pending the database is presumably down: the retry will sync.
    if (this.closed || this.retryTimer) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = true
    void this.reconcile().finally(() => {
      this.running = false
      if (this.again) {
        this.again = false
        this.sync()
      }
    })
  }

  private async reconcile(): Promise<void> {
    try {
      for (;;) {
        if (this.closed) return
        const epoch = this.epoch
        const stale = [...this.listened].find((name) => !this.channels.has(name))
        const wanted = [...this.channels.keys()].find((name) => !this.listened.has(name))
        if (stale) {
          await this.listener.unlisten(stale)
          this.listened.delete(stale)
        } else if (wanted) {
          await this.listener.listen(wanted)
          // Lost meanwhile: the LISTEN may have been made on the dropped connection.
          if (this.epoch !== epoch || this.closed) return
          this.listened.add(wanted)
          this.markReady(wanted)
        } else {
          break
        }
        if (this.epoch !== epoch) return
      }
      this.attempts = 0
      if (this.down) {
        this.down = false
        this.log.info({ channels: [...this.listened] }, 'notification connection back; listening again')
      }
    } catch (err) {
      if (this.closed) return
      this.log.warn({ err, attempt: this.attempts + 1 }, 'cannot listen for notifications; will retry')
      this.retryLater()
    }
  }
}

/**
 * Sends one notification on a channel soon after each poke: at most one at a time and one per
 * `minIntervalMs`, and one more after any poke that came while one was under way (it may have been
 * read before the poker's commit). For writers too many to notify each, whose readers only need to
 * know that something changed: a NOTIFY takes a cluster-wide lock at commit. A failed send is
 * dropped; readers poll besides.
 */
export class Announcer<T> {
  private busy = false
  private again = false
  private closed = false

  constructor(
    private readonly hub: Pick<NotificationHub, 'notify'>,
    private readonly channel: Channel<T>,
    private readonly payload: T,
    private readonly minIntervalMs: number
  ) {}

  poke(): void {
    if (this.closed) return
    if (this.busy) {
      this.again = true
      return
    }
    this.busy = true
    void this.hub
      .notify(this.channel, this.payload)
      .catch(() => {})
      .finally(() => {
        setTimeout(() => {
          this.busy = false
          if (this.again) {
            this.again = false
            this.poke()
          }
        }, this.minIntervalMs).unref()
      })
  }

  close(): void {
    this.closed = true
  }
}
