// The webhook delivery engine, one per instance (plugins/webhooks.ts runs it). A round: fan out
// the outbox into deliveries for every webhook with changes after its cursor, then claim due
// deliveries (up to the free attempt slots) and attempt each. An attempt signs the body (Standard
// Webhooks), resolves and checks the target again, connects to the address it checked, and makes
// one POST outside any transaction, bounded in time, following no redirect, reading at most 1 KiB
// of the answer; then its result is written in one transaction (src/services/webhooks.ts).
// Rounds run when the outbox announces a change (NOTIFY), when an attempt ends, when the next
// delivery falls due, and every second besides. All SQL lives in src/services/webhooks.ts.
import { createHmac } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import type { LookupFunction } from 'node:net'
import { settleWithin } from '../closing.js'
import type { Db } from '../db/index.js'
import { HttpError } from '../errors.js'
import { NOTE_UNSAFE } from '../text.js'
import { VERSION } from '../version.js'
import { hostOf, parseWebhookUrl, resolveTarget, type Target } from './webhook-targets.js'
import { claimDeliveries, fanOut, nextDueInMs, recordAttempt, webhooksWithChanges, type AttemptResult, type Claimed } from './webhooks.js'

/** Most of an answer's body kept (and read): the rest is never read. */
export const MAX_RESPONSE_BYTES = 1024
/** The longest Retry-After honoured: a day. */
export const MAX_RETRY_AFTER_S = 86_400
/** Deliveries claimed per statement, at most. */
export const CLAIM_BATCH = 50
/** A round every this often at least (the NOTIFY may be missed while the connection is away). */
export const POLL_MS = 1000
/** The longest a connection may take to be made (within WEBHOOK_TIMEOUT_MS). */
const CONNECT_TIMEOUT_MS = 5000

/** The `webhook-signature` header: `v1,<base64 HMAC-SHA256 of id.timestamp.body>` per secret, space-separated. */
export function signatureHeader(secrets: readonly string[], messageId: string, timestamp: number, body: string): string {
  return secrets
    .map((secret) => {
      const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64')
      return `v1,${createHmac('sha256', key).update(`${messageId}.${timestamp}.${body}`).digest('base64')}`
    })
    .join(' ')
}

/** What an excerpt drops: the characters refused in a note people read (src/text.ts). */
const UNSAFE = new RegExp(NOTE_UNSAFE.source, 'gu')

/** An answer's excerpt as stored: at most 1 KiB of UTF-8 read, control characters (but tab and line breaks) removed. */
export const excerptOf = (bytes: Buffer) => bytes.subarray(0, MAX_RESPONSE_BYTES).toString('utf8').replace(/\uFFFD+$/, '').replace(UNSAFE, '')

/** Retry-After (delay-seconds or an HTTP date) as seconds from now, or undefined. */
export function retryAfterSeconds(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined
  const text = value.trim()
  if (/^\d{1,10}$/.test(text)) return Number(text)
  const at = Date.parse(text)
  if (Number.isNaN(at)) return undefined
  return Math.max(0, Math.ceil((at - now) / 1000))
}

export interface Answer {
  status: number
  retryAfter?: string
  location?: string
  body: Buffer
}

/**
 * One POST to `url` at the address checked (`target`): DNS is not asked again, so the address
 * cannot change between the check and the connection. Rejects on a network error, a timeout or
 * an abort; any status resolves.
 */
export function post(url: URL, target: Target, headers: Record<string, string>, body: string, signal: AbortSignal, connectTimeoutMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const lookup: LookupFunction = (_host, options, callback) => {
      if (options.all) (callback as unknown as (err: null, all: { address: string; family: number }[]) => void)(null, [{ address: target.address, family: target.family }])
      else callback(null, target.address, target.family)
    }
    const request = (url.protocol === 'https:' ? https : http).request({
      protocol: url.protocol,
      hostname: hostOf(url),
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      agent: false,
      lookup,
      signal
    })
    let settled = false
    const fail = (err: Error) => {
      if (settled) return
      settled = true
      reject(err)
    }
    request.on('error', fail)
    request.on('socket', (socket) => {
      const timer = setTimeout(() => request.destroy(Object.assign(new Error(`no connection within ${connectTimeoutMs} ms`), { code: 'CONNECT_TIMEOUT' })), connectTimeoutMs)
      socket.once('connect', () => clearTimeout(timer))
      socket.once('close', () => clearTimeout(timer))
    })
    request.on('response', (response) => {
      const chunks: Buffer[] = []
      let size = 0
      const done = () => {
        if (settled) return
        settled = true
        const header = (name: string) => {
          const v = response.headers[name]
          return Array.isArray(v) ? v[0] : v
        }
        resolve({ status: response.statusCode ?? 0, retryAfter: header('retry-after'), location: header('location'), body: Buffer.concat(chunks) })
        // The rest of the answer is not read.
        response.destroy()
      }
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        size += chunk.length
        if (size >= MAX_RESPONSE_BYTES) done()
      })
      response.on('end', done)
      response.on('error', (err) => (size > 0 ? done() : fail(err)))
      response.on('close', done)
    })
    request.end(body)
  })
}

export interface EngineOptions {
  db: Db
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void }
  allowPrivate: boolean
  timeoutMs: number
  /** Seconds before each attempt (WEBHOOK_RETRY_SCHEDULE). */
  schedule: number[]
  disableAfterDays: number
  concurrency: number
  /** Told of every attempt whose result was written, by what it came to (the metrics count them). */
  onAttempt?: (outcome: AttemptOutcome) => void
}

/** What an attempt came to: delivered (2xx), failed (the delivery is over: 410 or the schedule ran out), retry. */
export type AttemptOutcome = 'delivered' | 'failed' | 'retry'
export const ATTEMPT_OUTCOMES: readonly AttemptOutcome[] = ['delivered', 'failed', 'retry']

const shortError = (err: unknown) => {
  const e = err as NodeJS.ErrnoException
  const text = e.code && !e.message.includes(e.code) ? `${e.code}: ${e.message}` : e.message
  return (text || 'error').slice(0, 500)
}

/** The seconds until attempt `made + 1` of the schedule, or null once `made` attempts are all it has. */
export function nextDelay(schedule: readonly number[], made: number, retryAfter: number | undefined): number | null {
  if (made >= schedule.length) return null
  const step = schedule[made]
  return retryAfter === undefined ? step : Math.max(step, Math.min(retryAfter, MAX_RETRY_AFTER_S))
}

export class WebhookEngine {
  private readonly stopping = new AbortController()
  private readonly inFlight = new Set<Promise<void>>()
  private running: Promise<void> | undefined
  private again = false
  private timer: NodeJS.Timeout | undefined
  private poll: NodeJS.Timeout | undefined
  private lastFailure: string | undefined
  private lastFailureAt = 0
  /** The lease of a claim: longer than any attempt can last (the attempt is aborted at timeoutMs). */
  readonly leaseMs: number

  constructor(private readonly opts: EngineOptions) {
    this.leaseMs = 2 * opts.timeoutMs + 1000
  }

  start(): void {
    this.poll = setInterval(() => this.wake(), POLL_MS).unref()
    this.wake()
  }

  /** A round soon (after the one under way, if any). */
  wake(): void {
    if (this.stopping.signal.aborted) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = this.round()
      .catch((err: unknown) => {
        if (this.stopping.signal.aborted) return
        // A database that is away fails every round: said once a minute, not once a second.
        const message = (err as Error).message
        if (message !== this.lastFailure || Date.now() - this.lastFailureAt > 60_000) {
          this.lastFailure = message
          this.lastFailureAt = Date.now()
          this.opts.log.warn({ err: { message } }, 'webhook round failed; the next one tries again')
        }
      })
      .finally(() => {
        this.running = undefined
        if (this.again) {
          this.again = false
          this.wake()
        }
      })
  }

  /**
   * Stops: no new round or attempt; attempts under way get `graceMs` to end on their own, then are
   * aborted, their result unwritten: their lease runs out and an instance attempts them again (at
   * least once, with the same message id).
   */
  async stop(graceMs: number): Promise<void> {
    clearInterval(this.poll)
    clearTimeout(this.timer)
    const work = () => [...(this.running ? [this.running] : []), ...this.inFlight]
    await settleWithin(work(), graceMs)
    this.stopping.abort()
    await settleWithin(work(), graceMs)
  }

  private async round(): Promise<void> {
    const { db } = this.opts
    const signal = this.stopping.signal
    for (const id of await webhooksWithChanges(db)) {
      for (let more = true; more && !signal.aborted; ) more = (await fanOut(db, id, this.opts.schedule[0])).more
    }
    if (signal.aborted) return
    const free = this.opts.concurrency - this.inFlight.size
    if (free > 0) {
      for (const claimed of await claimDeliveries(db, Math.min(free, CLAIM_BATCH), this.leaseMs)) this.attempt(claimed)
    }
    if (signal.aborted) return
    const due = await nextDueInMs(db)
    clearTimeout(this.timer)
    // Sooner than the poll: the next retry falls due. Not while every slot is busy (an attempt's end wakes).
    if (due !== null && due < POLL_MS && this.inFlight.size < this.opts.concurrency) {
      this.timer = setTimeout(() => this.wake(), Math.max(10, Math.ceil(due))).unref()
    }
  }

  private attempt(claimed: Claimed): void {
    const run = this.deliver(claimed)
      .catch((err: unknown) => {
        if (!this.stopping.signal.aborted) this.opts.log.warn({ err: { message: (err as Error).message }, webhook: claimed.webhookId, delivery: claimed.id }, 'writing a webhook attempt failed; it is attempted again once its lease ends')
      })
      .finally(() => {
        this.inFlight.delete(run)
        this.wake()
      })
    this.inFlight.add(run)
  }

  /** One attempt of one delivery, and its result written. */
  private async deliver(claimed: Claimed): Promise<void> {
    const { timeoutMs } = this.opts
    const started = Date.now()
    const at = new Date(started)
    const deadline = new AbortController()
    const timer = setTimeout(() => deadline.abort(Object.assign(new Error(`no complete answer within ${timeoutMs} ms`), { code: 'TIMEOUT' })), timeoutMs)
    const signal = AbortSignal.any([deadline.signal, this.stopping.signal])
    let answer: Answer | undefined
    let error: string | null = null
    try {
      const url = parseWebhookUrl(claimed.url)
      const aborted = new Promise<never>((_, reject) => {
        if (signal.aborted) reject(signal.reason as Error)
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true })
      })
      aborted.catch(() => {})
      const target = await Promise.race([resolveTarget(url, this.opts.allowPrivate), aborted])
      const timestamp = Math.floor(Date.now() / 1000)
      const headers = {
        'content-type': 'application/json',
        'user-agent': `Vigil-Webhooks/${VERSION}`,
        'webhook-id': claimed.messageId,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signatureHeader(claimed.secrets, claimed.messageId, timestamp, claimed.payload)
      }
      answer = await post(url, target, headers, claimed.payload, signal, Math.min(CONNECT_TIMEOUT_MS, timeoutMs))
    } catch (err) {
      if (this.stopping.signal.aborted) return // shutting down: the lease runs out, another attempt follows
      error = err instanceof HttpError ? err.detail : deadline.signal.aborted ? shortError(deadline.signal.reason) : shortError(err)
    } finally {
      clearTimeout(timer)
    }
    if (this.stopping.signal.aborted) return
    const status = answer?.status ?? null
    const delivered = status !== null && status >= 200 && status < 300
    const gone = status === 410
    if (status !== null && status >= 300 && status < 400) {
      error = `Redirects are not followed${answer?.location ? ` (to ${JSON.stringify(answer.location.slice(0, 200))})` : ''}.`
    }
    const retryInS = delivered || gone ? null : nextDelay(this.opts.schedule, claimed.step + 1, retryAfterSeconds(answer?.retryAfter))
    const result: AttemptResult = {
      at,
      status,
      error,
      latencyMs: Date.now() - started,
      response: answer ? excerptOf(answer.body) : null,
      delivered,
      gone,
      retryInS
    }
    const { state, disabled } = await recordAttempt(this.opts.db, claimed, result, this.opts.disableAfterDays)
    if (state !== null) this.opts.onAttempt?.(state === 'pending' ? 'retry' : state)
    const facts = { webhook: claimed.webhookId, delivery: claimed.id, message_id: claimed.messageId, status, error, latency_ms: result.latencyMs }
    if (delivered) this.opts.log.info(facts, 'webhook delivered')
    else this.opts.log.info({ ...facts, retry_in_s: retryInS }, retryInS === null ? 'webhook delivery failed' : 'webhook attempt failed; retrying')
    if (disabled) this.opts.log.warn({ webhook: claimed.webhookId, reason: disabled }, 'webhook turned off')
  }
}
