// Live alert streams (GET /api/alerts/stream): Server-Sent Events read from the outbox of alert
// changes (src/services/alert-stream.ts). Each stream keeps its own cursor; every instance wakes its
// streams when a change is announced (the vigil_alert_changes NOTIFY, whichever instance made the
// change) and at least every ALERT_STREAM_POLL_MS, reads the outbox once to see whether there is
// anything new at all, then reads for the streams behind it. Nothing is pushed from memory: what a
// client receives was committed, and the event id resumes it on any instance.
//
// Bounds: streams per user and per instance (429 beyond); a client that stops reading gets nothing
// more once ALERT_STREAM_MAX_BUFFER_BYTES wait for it, and is closed if it has not caught up within
// ALERT_STREAM_DRAIN_MS (its last event id resumes it). A stream ends when its user is deactivated,
// loses the permission to read alerts or logs out (bearer token), when its token expires, at its
// `timeout`, and when the instance shuts down.
import type { ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { can } from '../src/auth/permissions.js'
import type { UserPrincipal } from '../src/auth/principal.js'
import { alertChanges, userChanges } from '../src/db/channels.js'
import { HttpError } from '../src/errors.js'
import { cursorText, headCursor, isBefore, otherDatabases, readChanges, startCursor, type StreamCursor, type StreamEvent, type StreamFilter } from '../src/services/alert-stream.js'

/** What a client is told to wait before reconnecting (the SSE `retry:` field). */
const RETRY_MS = 2000
/** After the last line to a closed stream, how long its client has to take it before the socket goes. */
const END_GRACE_MS = 1000

export type StreamEnd = 'timeout' | 'token_expired' | 'revoked' | 'slow_client' | 'shutting_down'

export interface OpenStream {
  principal: UserPrincipal
  filter: StreamFilter
  /** Where to start: after this change; undefined for changes from now on. */
  after: StreamCursor | undefined
  /** Ends the stream at this time (its timeout, or its bearer token's expiry). */
  until: number
  untilReason: StreamEnd
  /** A bearer token's version: the stream ends when the user logs out (it moves). */
  tokenVersion?: number
  /** Writes an event's data: the route's allow-list serializer (the alert as the list shows it). */
  serialize: (data: StreamEvent['data']) => string
}

interface Stream {
  id: number
  principal: UserPrincipal
  tokenVersion?: number
  serialize: OpenStream['serialize']
  filter: StreamFilter
  cursor: StreamCursor
  raw: ServerResponse
  pumping: boolean
  again: boolean
  /** Waiting for the client to take what it was sent. */
  blocked: boolean
  /** A page read and not yet all written (its client lagged). */
  page?: PageInFlight
  ended: boolean
  timers: NodeJS.Timeout[]
}

type PageInFlight = Awaited<ReturnType<typeof readChanges>> & { next: number }

declare module 'fastify' {
  interface FastifyInstance {
    alertStreams: AlertStreams
  }
}

export interface AlertStreams {
  /** Opens a stream on `reply` (hijacked), or throws (429, a database error) before anything is sent. */
  open(request: FastifyRequest, reply: FastifyReply, opts: OpenStream): Promise<void>
  /** Streams open on this instance. */
  readonly size: number
}

async function alertStreamPlugin(app: FastifyInstance) {
  const { config, db } = app
  const log = app.log.child({ component: 'alert-stream' })
  const streams = new Map<number, Stream>()
  let nextId = 1
  let closing = false
  /** The notification subscriptions and the poll run while at least one stream is open. */
  let live: { stop: AbortController; poll: NodeJS.Timeout; heartbeat: NodeJS.Timeout } | undefined
  let waking = false
  let wakeAgain = false

  const write = (s: Stream, text: string) => {
    if (!s.ended) s.raw.write(text)
  }

  function end(s: Stream, reason: StreamEnd) {
    if (s.ended) return
    // The last event id a client holds resumes it; `end` repeats the cursor for clients that read ids themselves.
    write(s, `event: end\nid: ${cursorText(s.cursor)}\ndata: ${JSON.stringify({ reason, resume: cursorText(s.cursor) })}\n\n`)
    s.ended = true
    forget(s)
    s.raw.end()
    // A client that takes nothing more must not hold its socket (and what is queued for it).
    setTimeout(() => s.raw.destroy(), END_GRACE_MS).unref()
    log.debug({ stream: s.id, user: s.principal.id, reason }, 'alert stream ended')
  }

  function forget(s: Stream) {
    for (const timer of s.timers) clearTimeout(timer)
    streams.delete(s.id)
    if (streams.size === 0 && live) {
      live.stop.abort()
      clearInterval(live.poll)
      clearInterval(live.heartbeat)
      live = undefined
    }
  }

  /** Is the stream's user still allowed to read alerts (and, for a bearer token, still logged in)? */
  async function recheck(s: Stream) {
    try {
      const p = await app.userPrincipal(s.principal.id, s.tokenVersion)
      if (!p || !can(p.role, 'alerts:read')) end(s, 'revoked')
    } catch (err) {
      log.warn({ err: { message: (err as Error).message }, stream: s.id }, 'could not check a stream user; checking again on the next change')
    }
  }

  function startLive() {
    const stop = new AbortController()
    app.notifications.subscribe(alertChanges, { onMessage: () => wake(), onReady: () => wake() }, { signal: stop.signal })
    app.notifications.subscribe(
      userChanges,
      {
        onMessage: (change) => {
          for (const s of streams.values()) if (change === '*' || s.principal.id === change) void recheck(s)
        },
        // Changes may have been missed while the connection was down.
        onReady: () => {
          for (const s of streams.values()) void recheck(s)
        }
      },
      { signal: stop.signal }
    )
    const poll = setInterval(() => wake(), config.ALERT_STREAM_POLL_MS)
    const heartbeat = setInterval(() => {
      for (const s of streams.values()) if (!s.blocked) write(s, ': heartbeat\n\n')
    }, config.ALERT_STREAM_HEARTBEAT_MS)
    poll.unref()
    heartbeat.unref()
    live = { stop, poll, heartbeat }
  }

  /** One read of the outbox's head, then a read for each stream behind it. */
  function wake() {
    if (waking) {
      wakeAgain = true
      return
    }
    waking = true
    void (async () => {
      try {
        do {
          wakeAgain = false
          if (streams.size === 0) return
          // Read once for the head and every stream's read of this wake (src/services/alert-stream.ts).
          const others = await otherDatabases(db)
          const head = await headCursor(db, others)
          if (!head) continue
          for (const s of streams.values()) if (isBefore(s.cursor, head)) void pump(s, others)
        } while (wakeAgain)
      } catch (err) {
        if (!closing) log.warn({ err: { message: (err as Error).message } }, 'could not read the outbox; the next poll tries again')
      } finally {
        waking = false
      }
    })()
  }

  /** Sends a stream what it has not had, page by page, until it is up to date or its client lags. */
  async function pump(s: Stream, others?: string[]) {
    if (s.pumping) {
      s.again = true
      return
    }
    s.pumping = true
    try {
      for (;;) {
        s.again = false
        if (s.ended || s.blocked) return
        if (!s.page) {
          const page = await readChanges(db, s.cursor, s.filter, others)
          if (s.ended) return
          s.page = { ...page, next: 0 }
        }
        const page = s.page
        if (!send(s, page)) return
        s.page = undefined
        s.cursor = page.cursor
        if (!page.more && !s.again) return
      }
    } catch (err) {
      if (!closing) log.warn({ err: { message: (err as Error).message }, stream: s.id }, 'could not read the outbox for a stream; the next poll tries again')
    } finally {
      s.pumping = false
    }
  }

  /**
   * Writes the page's events from where it stopped; false when the client fell behind (the rest
   * of the page waits for it: a lagging stream holds at most its buffer and one page).
   */
  function send(s: Stream, page: PageInFlight): boolean {
    while (page.next < page.events.length) {
      const ev = page.events[page.next++]
      write(s, `id: ${ev.id}\nevent: ${ev.type}\ndata: ${s.serialize(ev.data)}\n\n`)
      s.cursor = ev.cursor
      if (s.raw.writableLength > config.ALERT_STREAM_MAX_BUFFER_BYTES && page.next < page.events.length) {
        block(s)
        return false
      }
    }
    return true
  }

  function block(s: Stream) {
    s.blocked = true
    const timer = setTimeout(() => end(s, 'slow_client'), config.ALERT_STREAM_DRAIN_MS)
    s.timers.push(timer)
    s.raw.once('drain', () => {
      clearTimeout(timer)
      if (s.ended) return
      s.blocked = false
      void pump(s)
    })
  }

  const alertStreams: AlertStreams = {
    get size() {
      return streams.size
    },
    async open(request, reply, opts) {
      if (closing) throw new HttpError('shutting_down', 'Vigil is shutting down; retry later.', { headers: { 'retry-after': '1' } })
      const mine = [...streams.values()].filter((s) => s.principal.id === opts.principal.id).length
      if (mine >= config.ALERT_STREAMS_PER_USER) {
        throw new HttpError('too_many_streams', `You already hold ${mine} alert streams, as many as one user may; close one first.`, { headers: { 'retry-after': '5' } })
      }
      if (streams.size >= config.ALERT_STREAMS_MAX) {
        throw new HttpError('too_many_streams', 'This instance serves as many alert streams as it may; retry later.', { headers: { 'retry-after': '5' } })
      }
      const cursor = opts.after ?? (await startCursor(db))
      reply.hijack()
      const raw = reply.raw
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        // Proxies that buffer (nginx) would hold events back.
        'x-accel-buffering': 'no',
        'x-request-id': request.id
      })
      const s: Stream = {
        id: nextId++,
        principal: opts.principal,
        tokenVersion: opts.tokenVersion,
        serialize: opts.serialize,
        filter: opts.filter,
        cursor,
        raw,
        pumping: false,
        again: false,
        blocked: false,
        ended: false,
        timers: []
      }
      streams.set(s.id, s)
      raw.on('close', () => {
        s.ended = true
        forget(s)
      })
      s.timers.push(setTimeout(() => end(s, opts.untilReason), Math.max(0, opts.until - Date.now())))
      // The start's cursor as a comment: a client that reconnects before any event resumes from it.
      write(s, `retry: ${RETRY_MS}\nid: ${cursorText(cursor)}\n: connected\n\n`)
      if (!live) startLive()
      log.debug({ stream: s.id, user: s.principal.id }, 'alert stream opened')
      void pump(s)
    }
  }
  app.decorate('alertStreams', alertStreams)

  app.addHook('preClose', async () => {
    closing = true
    for (const s of [...streams.values()]) end(s, 'shutting_down')
  })
}

export default fp(alertStreamPlugin, { name: 'alert-stream', dependencies: ['config', 'db', 'auth'] })
