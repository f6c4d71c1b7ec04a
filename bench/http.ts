// The load generator's HTTP client: on 2 cores it shares the CPU with Vigil and PostgreSQL, so it
// should cost as little as possible per request. Keep-alive HTTP/1.1 written straight to sockets
// (Nagle off), one request in flight per connection, replies read by their Content-Length: what
// the raw baselines' driver does for its side, write a request and read one answer. Node's http
// client cost about 100 µs more CPU per request on the same cores.
import { connect, type Socket } from 'node:net'

export interface Reply {
  status: number
  body: string
}

export class Client {
  private readonly idle: RawConnection[] = []
  private readonly all: RawConnection[] = []

  constructor(baseUrl: string, connections: number) {
    const url = new URL(baseUrl)
    for (let i = 0; i < connections; i++) {
      const c = new RawConnection(url.hostname, Number(url.port))
      this.idle.push(c)
      this.all.push(c)
    }
  }

  /** Sends one request on an idle connection; callers never run more requests than connections. */
  async send(method: string, path: string, headers: Record<string, string>, body: Buffer | string = ''): Promise<Reply> {
    const c = this.idle.pop()
    if (!c) throw new Error('Client: more requests in flight than connections')
    let head = `${method} ${path} HTTP/1.1\r\nhost: bench\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`
    try {
      return await c.request(`${head}\r\n`, body)
    } finally {
      this.idle.push(c)
    }
  }

  /** Sends JSON and parses the JSON reply; any status other than `expect` is an error. */
  async json<T>(method: string, path: string, headers: Record<string, string>, body: unknown, expect: number): Promise<T> {
    const reply = await this.send(method, path, { 'content-type': 'application/json', ...headers }, JSON.stringify(body))
    if (reply.status !== expect) throw new Error(`${method} ${path}: expected ${expect}, got ${reply.status} ${reply.body.slice(0, 300)}`)
    return JSON.parse(reply.body) as T
  }

  close() {
    for (const c of this.all) c.close()
  }
}

/**
 * Runs `total` tasks with `concurrency` workers pulling the next index, as that many shipper
 * connections would; resolves with the elapsed seconds.
 */
export async function drive(total: number, concurrency: number, task: (i: number) => Promise<void>): Promise<number> {
  let next = 0
  const started = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) await task(i)
    })
  )
  return Number(process.hrtime.bigint() - started) / 1e9
}

class RawConnection {
  private readonly socket: Socket
  private chunks: Buffer[] = []
  private received = 0
  private waiting?: { resolve(r: Reply): void; reject(err: Error): void }

  constructor(host: string, port: number) {
    this.socket = connect({ host, port, noDelay: true })
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk))
    this.socket.on('error', (err) => this.fail(err))
    this.socket.on('close', () => this.fail(new Error('connection closed')))
  }

  request(head: string, body: Buffer | string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject }
      if (typeof body === 'string') this.socket.write(head + body)
      else {
        this.socket.write(head)
        this.socket.write(body)
      }
    })
  }

  close() {
    this.socket.destroy()
  }

  private onData(chunk: Buffer) {
    this.chunks.push(chunk)
    this.received += chunk.length
    const all = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks)
    const end = all.indexOf('\r\n\r\n')
    if (end < 0) return
    const head = all.toString('latin1', 0, end)
    const declared = /\r\ncontent-length: *(\d+)/i.exec(head)
    if (!declared) return this.fail(new Error(`Client: a reply without Content-Length: ${head.slice(0, 200)}`))
    const length = Number(declared[1])
    if (this.received < end + 4 + length) return
    this.chunks = []
    this.received = 0
    const waiting = this.waiting
    this.waiting = undefined
    waiting?.resolve({ status: Number(head.slice(9, 12)), body: all.toString('utf8', end + 4, end + 4 + length) })
  }

  private fail(err: Error) {
    const waiting = this.waiting
    this.waiting = undefined
    waiting?.reject(err)
  }
}
