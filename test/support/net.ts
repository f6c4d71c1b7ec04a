import { connect, createServer, type Socket } from 'node:net'

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
    srv.on('error', reject)
  })
}

export interface RawResponse {
  status: number
  headers: Record<string, string>
  text: string
  /** The body parsed as JSON, or undefined when it is not JSON. */
  body: any
}

/** The request line and headers of an HTTP/1.1 request, ready to write (the body follows). */
export function head(method: string, path: string, headers: Record<string, string | number>): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'host: 127.0.0.1']
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`)
  return `${lines.join('\r\n')}\r\n\r\n`
}

/**
 * An HTTP/1.1 client on one real socket that writes exactly the bytes it is given, when it is
 * told to, and can vanish at any moment: what a shipper that gives up (or trickles) looks like
 * to the server. Responses are read as they arrive (Content-Length bodies, as Vigil sends).
 */
export class RawClient {
  /** Resolves when the connection is closed, by either side. */
  readonly closed: Promise<void>
  private buffered = Buffer.alloc(0)
  private readonly responses: RawResponse[] = []
  private wake: (() => void) | undefined
  private ended = false

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk])
      this.parse()
      this.wake?.()
    })
    // A reset from the server is one way for it to close; the test looks at what it received.
    socket.on('error', () => {})
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.ended = true
        this.wake?.()
        resolve()
      })
    )
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => resolve(new RawClient(socket)))
      socket.once('error', reject)
    })
  }

  /** Resolves once the bytes are handed to the kernel. */
  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())))
  }

  /** Closes the connection at once, like a client that gives up. */
  destroy(): void {
    this.socket.destroy()
  }

  /** Responses received so far. */
  get received(): number {
    return this.responses.length
  }

  /** The next response, or null when the connection closes without one. */
  async response(): Promise<RawResponse | null> {
    for (;;) {
      const next = this.responses.shift()
      if (next) return next
      if (this.ended) return null
      await new Promise<void>((resolve) => (this.wake = resolve))
    }
  }

  private parse() {
    for (;;) {
      const end = this.buffered.indexOf('\r\n\r\n')
      if (end < 0) return
      const [statusLine, ...lines] = this.buffered.subarray(0, end).toString('latin1').split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of lines) {
        const colon = line.indexOf(':')
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
      }
      const length = Number(headers['content-length'] ?? 0)
      if (this.buffered.length < end + 4 + length) return
      const text = this.buffered.subarray(end + 4, end + 4 + length).toString('utf8')
      this.buffered = this.buffered.subarray(end + 4 + length)
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch {
        body = undefined
      }
      this.responses.push({ status: Number(statusLine.split(' ')[1]), headers, text, body })
    }
  }
}
