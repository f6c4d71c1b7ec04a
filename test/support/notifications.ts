// Test subscribers for the notification hub: what each one was told, in order.
import type { Database, Listener } from '../../src/db/index.js'
import type { Channel, NotificationHub } from '../../src/db/notify.js'

export interface Recorder<T> {
  /** 'ready', 'gap' and 'message', in the order the hub called them. */
  events: string[]
  messages: T[]
  count(event: 'ready' | 'gap' | 'message'): number
}

export function record<T>(hub: NotificationHub, channel: Channel<T>, signal: AbortSignal): Recorder<T> {
  const r: Recorder<T> = { events: [], messages: [], count: (e) => r.events.filter((x) => x === e).length }
  hub.subscribe(
    channel,
    {
      onMessage: (payload) => {
        r.events.push('message')
        r.messages.push(payload)
      },
      onReady: () => r.events.push('ready'),
      onGap: () => r.events.push('gap')
    },
    { signal }
  )
  return r
}

export interface ListenCall {
  what: 'listen' | 'unlisten'
  channel: string
  at: number
  ok?: boolean
}

/** The real database's listener, with every LISTEN and UNLISTEN the hub sends written down. */
export function watchListener(database: Database, calls: ListenCall[]): Pick<Database, 'openListener'> {
  return {
    openListener(events) {
      const real: Listener = database.openListener(events)
      const watched = (what: 'listen' | 'unlisten') => async (channel: string) => {
        const call: ListenCall = { what, channel, at: performance.now() }
        calls.push(call)
        try {
          await real[what](channel)
          call.ok = true
        } catch (err) {
          call.ok = false
          throw err
        }
      }
      return { listen: watched('listen'), unlisten: watched('unlisten'), close: () => real.close() }
    }
  }
}

/** A log that keeps what it is given, for asserting on it. */
export function memoryLog() {
  const lines: { level: string; obj: object; msg: string }[] = []
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, obj, msg })
  return { lines, info: at('info'), warn: at('warn'), error: at('error') }
}
