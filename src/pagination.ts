// Page-number pagination with the envelope REST clients of the Django original parse:
// { count, next, previous, results }, with next/previous as full URLs.
import { count, desc, type SQL } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import type { FastifyRequest } from 'fastify'
import type { Db } from './db/index.js'
import { notFound } from './errors.js'

export const DEFAULT_PAGE_SIZE = 20
export const MAX_PAGE_SIZE = 100

interface PageRequest {
  page: number
  pageSize: number
  offset: number
}

function pageRequest(query: { page?: number; page_size?: number }): PageRequest {
  const page = query.page ?? 1
  const pageSize = Math.min(query.page_size ?? DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
  return { page, pageSize, offset: (page - 1) * pageSize }
}

/** Where a list was asked for (a request's URL, protocol and host): the base of its page links. */
export type PageLocation = Pick<FastifyRequest, 'url' | 'protocol' | 'host'>

function pageUrl(request: PageLocation, page: number): string {
  const url = new URL(request.url, `${request.protocol}://${request.host}`)
  if (page === 1) url.searchParams.delete('page')
  else url.searchParams.set('page', String(page))
  return url.toString()
}

export interface PageEnvelope<T> {
  count: number
  next: string | null
  previous: string | null
  results: T[]
}

/** Wraps one page of results. A page past the last one is a 404, as in DRF. */
function envelope<T>(request: PageLocation, p: PageRequest, count: number, results: T[]): PageEnvelope<T> {
  if (p.page > 1 && p.offset >= count) throw notFound('Invalid page.')
  return {
    count,
    next: p.offset + results.length < count ? pageUrl(request, p.page + 1) : null,
    previous: p.page > 1 ? pageUrl(request, p.page - 1) : null,
    results
  }
}

/** The query parameters every list takes. */
export interface PageParams {
  page?: number
  page_size?: number
}

/** What a list reads: a table, a filter over it, and the column it is newest-first by. */
export interface PageSource<T extends PgTable & { id: PgColumn }> {
  table: T
  where: SQL | undefined
  newest: PgColumn
}

/**
 * The one way a list is read: one page of a table, newest first by `newest` with the id as
 * tie-breaker, the count over the same filter (so `count` always describes the pages), and the
 * envelope with links relative to where the list was asked for. Every list service calls this, so
 * how pages are cut is decided here alone.
 */
export async function listPage<T extends PgTable & { id: PgColumn }, V>(
  db: Db,
  at: PageLocation,
  query: PageParams,
  source: PageSource<T>,
  map: (rows: T['$inferSelect'][]) => V[] | Promise<V[]>
): Promise<PageEnvelope<V>> {
  const p = pageRequest(query)
  const { table, where, newest } = source
  const [rows, [{ total }]] = await Promise.all([
    db
      .select()
      .from(table as PgTable)
      .where(where)
      .orderBy(desc(newest), desc(table.id))
      .limit(p.pageSize)
      .offset(p.offset),
    db.select({ total: count() }).from(table as PgTable).where(where)
  ])
  return envelope(at, p, total, await map(rows as T['$inferSelect'][]))
}
