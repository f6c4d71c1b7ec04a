// A real webhook receiver for tests: node:http on 127.0.0.1, recording every request (headers,
// body, when it began and ended) and answering as the test says.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Received {
  path: string
  headers: IncomingMessage['headers']
  body: string
  start: number
  /** When the answer was sent (or the connection closed); undefined while it is held. */
  end?: number
  /** The client went away before an answer. */
  aborted?: boolean
}

export interface Reply {
  status: number
  headers?: Record<string, string>
  body?: string
  /** Hold the answer until this resolves. */
  hold?: Promise<unknown>
}

export type Answerer = (req: Received, index: number) => Reply | Promise<Reply>

export interface Receiver {
  url: string
  port: number
  received: Received[]
  /** What it answers from now on. */
  answer: Answerer
  close(): Promise<void>
}

interface Teardown {
  teardown(fn: () => unknown): void
}

export async function receiver(t: Teardown, answer: Answerer = () => ({ status: 200, body: 'ok' })): Promise<Receiver> {
  const state: Receiver = {
    url: '',
    port: 0,
    received: [],
    answer,
    close: async () => {}
  }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const got: Received = { path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), start: Date.now() }
      const index = state.received.push(got) - 1
      res.on('close', () => {
        got.end ??= Date.now()
        if (!res.writableFinished) got.aborted = true
      })
      void (async () => {
        const reply = await state.answer(got, index)
        if (reply.hold) await reply.hold
        if (res.destroyed) return
        got.end = Date.now()
        res.writeHead(reply.status, reply.headers ?? {})
        res.end(reply.body ?? '')
      })()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  state.port = port
  state.url = `http://127.0.0.1:${port}/hook`
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  t.teardown(() => state.close())
  return state
}
