// Reads shared by the resource routes.
import { eq, sql, type SQL } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import { notFound } from '../errors.js'
import type { Db, Tx } from './index.js'

/** The row with this id, or a 404. */
export async function getById<T extends PgTable & { id: PgColumn }>(db: Db, table: T, id: number): Promise<T['$inferSelect']> {
  const [row] = await db
    .select()
    .from(table as PgTable)
    .where(eq(table.id, id))
  if (!row) throw notFound()
  return row as T['$inferSelect']
}

/** The rows of a raw statement: postgres.js hands back an array, PGlite an object holding one. */
export async function rowsOf<T>(db: Db | Tx, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[]
}

/**
 * One array parameter, as text: both drivers bind a text array as one parameter, while arrays of
 * numbers or dates go wrong through Drizzle on postgres.js. The SQL casts it (`::text[]::bigint[]`).
 */
export const textArray = (values: readonly (string | number | boolean | Date | null | undefined)[]) =>
  sql.param(values.map((v) => (v === null || v === undefined ? null : v instanceof Date ? v.toISOString() : String(v))))

/** A LIKE pattern matching `text` anywhere, with its own % _ and \ taken literally. */
export const containing = (text: string) => `%${text.replace(/[\\%_]/g, '\\$&')}%`
