// A lean keep-alive HTTP client (node:http with a pooled Agent): on 2 cores the load generator
// shares the CPU with Vigil and PostgreSQL, so it should cost as little as possible per request.
import { Agent, request } from 'node:http'

export interface Reply {
  status: number
  body: string
}

export class Client {
  private readonly agent: Agent
  private readonly host: string
  private readonly port: number

  constructor(baseUrl: string, connections: number) {
    const url = new URL(baseUrl)
    this.host = url.hostname
    this.port = Number(url.port)
    this.agent = new Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections })
  }

  send(method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.host,
          port: this.port,
          method,
          path,
          agent: this.agent,
          headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) }
        },
        (res) => {
          const parts: Buffer[] = []
          res.on('data', (c: Buffer) => parts.push(c))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }))
          res.on('error', reject)
        }
      )
      req.on('error', reject)
      req.end(body)
    })
  }

  /** Sends JSON and parses the JSON reply; any status other than `expect` is an error. */
  async json<T>(method: string, path: string, headers: Record<string, string>, body: unknown, expect: number): Promise<T> {
    const reply = await this.send(method, path, { 'content-type': 'application/json', ...headers }, JSON.stringify(body))
    if (reply.status !== expect) throw new Error(`${method} ${path}: expected ${expect}, got ${reply.status} ${reply.body.slice(0, 300)}`)
    return JSON.parse(reply.body) as T
  }

  close() {
    this.agent.destroy()
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
