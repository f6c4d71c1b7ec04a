// A Server-Sent Events client over a real socket, parsing the stream as the EventSource
// specification reads it (fields, comments, blank line dispatch), for the stream tests.
import http from 'node:http'

export interface SseEvent {
  id?: string
  event: string
  data: string
}

export interface SseClient {
  status: number
  headers: http.IncomingHttpHeaders
  /** Events dispatched so far (with data), in order. */
  events: SseEvent[]
  /** Comment lines so far (without the colon). */
  comments: string[]
  /** The last `id:` field read, as EventSource keeps it for Last-Event-ID. */
  lastEventId: string | undefined
  /** The body of a refused request (not a stream). */
  body: string
  /** Resolves when the server ends the response or the socket closes. */
  ended: Promise<void>
  closed: boolean
  /** Waits until `check` holds on what arrived; rejects after `ms`. */
  until(check: (c: SseClient) => boolean, ms?: number): Promise<void>
  close(): void
  /** Stops reading (the socket's buffers fill, as a stalled client's do) and starts again. */
  pause(): void
  resume(): void
}

export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } })
    req.on('error', reject)
    req.on('response', (res) => {
      let buffer = ''
      let data: string[] = []
      let type = ''
      let idBuffer: string | undefined
      const waiters = new Set<() => void>()
      let endedResolve!: () => void
      const client: SseClient = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        events: [],
        comments: [],
        lastEventId: undefined,
        body: '',
        ended: new Promise<void>((r) => (endedResolve = r)),
        closed: false,
        until(check, ms = 30_000) {
          if (check(client)) return Promise.resolve()
          return new Promise<void>((ok, fail) => {
            const timer = setTimeout(() => {
              waiters.delete(test)
              fail(new Error(`the stream did not get there within ${ms} ms (${client.events.length} events: ${client.events.slice(-3).map((e) => e.event).join(', ')})`))
            }, ms)
            const test = () => {
              if (!check(client)) return
              clearTimeout(timer)
              waiters.delete(test)
              ok()
            }
            waiters.add(test)
          })
        },
        close: () => req.destroy(),
        pause: () => res.pause(),
        resume: () => res.resume()
      }
      const notify = () => {
        for (const w of [...waiters]) w()
      }
      const line = (text: string) => {
        if (text === '') {
          // As EventSource: the id read becomes the last event id when its event is dispatched.
          client.lastEventId = idBuffer
          if (data.length > 0) client.events.push({ id: idBuffer, event: type || 'message', data: data.join('\n') })
          data = []
          type = ''
          return
        }
        if (text.startsWith(':')) {
          client.comments.push(text.slice(1).trim())
          return
        }
        const colon = text.indexOf(':')
        const field = colon < 0 ? text : text.slice(0, colon)
        const value = colon < 0 ? '' : text.slice(colon + 1).replace(/^ /, '')
        if (field === 'data') data.push(value)
        else if (field === 'event') type = value
        else if (field === 'id') idBuffer = value
      }
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        if (client.status !== 200) {
          client.body += chunk
          return
        }
        const lines = (buffer + chunk).split('\n')
        buffer = lines.pop()!
        for (const text of lines) line(text.endsWith('\r') ? text.slice(0, -1) : text)
        notify()
      })
      const done = () => {
        client.closed = true
        endedResolve()
        notify()
      }
      res.on('end', done)
      res.on('close', done)
      res.on('error', done)
      if (client.status === 200) resolve(client)
      else res.on('end', () => resolve(client))
    })
  })
}
