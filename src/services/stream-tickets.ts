// Single-use tickets for the alert stream. A browser's EventSource cannot send an Authorization
// header, and a bearer token in a URL ends up in proxy and server logs; a ticket in the URL is
// worth one stream opened within seconds, by the user who asked for it, on any instance.
// Only its SHA-256 is stored; redeeming deletes it in the same statement, so two redemptions of
// one ticket (even on two instances at once) cannot both succeed.
import { createHash, randomBytes } from 'node:crypto'
import { and, eq, gt, lt, sql } from 'drizzle-orm'
import type { Db } from '../db/index.js'
import { streamTickets } from '../db/schema.js'
import { HttpError } from '../errors.js'

/** How long a ticket can wait to be used. */
export const TICKET_TTL_S = 30
/** Tickets one user may hold unused at once: enough for a page with a few streams. */
export const MAX_TICKETS_PER_USER = 10

const PREFIX = 'vst_'
const TICKET = /^vst_[A-Za-z0-9_-]{43}$/

const hashOf = (ticket: string) => createHash('sha256').update(ticket).digest('hex')

export interface IssuedTicket {
  ticket: string
  expires_at: string
}

/** A new ticket for `userId`; the oldest of theirs beyond MAX_TICKETS_PER_USER go, and expired ones. */
export async function issueTicket(db: Db, userId: number): Promise<IssuedTicket> {
  const ticket = PREFIX + randomBytes(32).toString('base64url')
  const expiresAt = new Date(Date.now() + TICKET_TTL_S * 1000)
  await db.transaction(async (tx) => {
    await tx.delete(streamTickets).where(lt(streamTickets.expiresAt, new Date()))
    await tx.insert(streamTickets).values({ hash: hashOf(ticket), userId, expiresAt })
    await tx.execute(sql`DELETE FROM stream_tickets WHERE user_id = ${userId} AND hash NOT IN (
      SELECT hash FROM stream_tickets WHERE user_id = ${userId} ORDER BY expires_at DESC, hash LIMIT ${MAX_TICKETS_PER_USER})`)
  })
  return { ticket, expires_at: expiresAt.toISOString() }
}

/** The 401 for a ticket that cannot be used (unknown, expired, used, or its user deactivated). */
export const ticketRefused = () => new HttpError('invalid_token', 'The stream ticket is unknown, expired or already used.')

/** The user a ticket was issued to; the ticket is used up. 401 for any ticket that cannot be used. */
export async function redeemTicket(db: Db, ticket: string): Promise<number> {
  if (!TICKET.test(ticket)) throw ticketRefused()
  const [row] = await db
    .delete(streamTickets)
    .where(and(eq(streamTickets.hash, hashOf(ticket)), gt(streamTickets.expiresAt, new Date())))
    .returning({ userId: streamTickets.userId })
  if (!row) throw ticketRefused()
  return row.userId
}
