// Ingest keys: created and revoked by admins, audited, and marked as used by ingestion. The secret
// is returned once, at creation; only its SHA-256 is stored, and neither reaches the audit trail.
import { and, eq, getTableColumns, isNull, lt, or, sql } from 'drizzle-orm'
import { generateIngestKey } from '../auth/ingest-keys.js'
import type { Db } from '../db/index.js'
import { ingestKeys, type EventType, type IngestKey, type Severity } from '../db/schema.js'
import { getById } from '../db/queries.js'
import { notFound } from '../errors.js'
import { filter, listPage, type PageEnvelope, type PageLocation, type PageParams, type PageSource } from '../pagination.js'
import { recordAudit, type Actor } from './audit.js'

export interface IngestKeyDefaults {
  source?: string
  event_type?: EventType
  severity?: Severity
  logsource?: { category?: string; product?: string; service?: string }
}

export async function createIngestKey(
  db: Db,
  actor: Actor,
  input: { name: string; defaults?: IngestKeyDefaults }
): Promise<{ row: IngestKey; key: string }> {
  const { key, hash, prefix } = generateIngestKey()
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(ingestKeys)
      .values({ name: input.name, keyHash: hash, prefix, defaults: input.defaults ?? {}, createdById: actor.id ?? null })
      .returning()
    await recordAudit(tx, actor, {
      action: 'ingest_key.created',
      targetType: 'ingest_key',
      targetId: row.id,
      after: { name: row.name, prefix: row.prefix, defaults: row.defaults }
    })
    return { row, key }
  })
}

/** What a key is shown with: its prefix, never its secret or the secret's hash. */
export const ingestKeyOut = (k: IngestKey) => ({
  id: k.id,
  name: k.name,
  prefix: k.prefix,
  defaults: (k.defaults ?? {}) as IngestKeyDefaults,
  created_by: k.createdById,
  created_at: k.createdAt.toISOString(),
  last_used_at: k.lastUsedAt ? k.lastUsedAt.toISOString() : null,
  revoked_at: k.revokedAt ? k.revokedAt.toISOString() : null
})

export type IngestKeyView = ReturnType<typeof ingestKeyOut>

/** One page of keys, newest first; `revoked` picks revoked (true) or active (false) keys only. */
export async function listIngestKeys(db: Db, f: PageParams & { revoked?: boolean }, at: PageLocation): Promise<PageEnvelope<IngestKeyView>> {
  const filters = [filter('revoked', f.revoked, (v) => sql`(${ingestKeys.revokedAt} is not null) = ${v}`)]
  return listPage(db, at, f, { table: ingestKeys, filters, newest: ingestKeys.createdAt, select: getTableColumns(ingestKeys) } as PageSource<IngestKey>, (rows) =>
    rows.map(ingestKeyOut)
  )
}

export const getIngestKey = (db: Db, id: number): Promise<IngestKey> => getById(db, ingestKeys, id)

/** Revokes a key at once (its next request is refused); revoking it again changes nothing. */
export async function revokeIngestKey(db: Db, actor: Actor, id: number): Promise<IngestKey> {
  return db.transaction(async (tx) => {
    const [before] = await tx.select().from(ingestKeys).where(eq(ingestKeys.id, id)).for('update')
    if (!before) throw notFound()
    if (before.revokedAt) return before
    const [after] = await tx.update(ingestKeys).set({ revokedAt: sql`now()` }).where(eq(ingestKeys.id, id)).returning()
    await recordAudit(tx, actor, {
      action: 'ingest_key.revoked',
      targetType: 'ingest_key',
      targetId: id,
      before: { name: before.name, prefix: before.prefix, revoked_at: null },
      after: { name: after.name, prefix: after.prefix, revoked_at: after.revokedAt?.toISOString() ?? null }
    })
    return after
  })
}

/** How stale last_used_at may get: a write per request would cost the hot path for little. */
export const LAST_USED_RESOLUTION_S = 60

/** Marks a key as used now, unless that was already recorded within the last minute. */
export async function touchIngestKey(db: Db, id: number): Promise<void> {
  await db
    .update(ingestKeys)
    .set({ lastUsedAt: sql`now()` })
    .where(
      and(
        eq(ingestKeys.id, id),
        or(isNull(ingestKeys.lastUsedAt), lt(ingestKeys.lastUsedAt, sql`now() - make_interval(secs => ${LAST_USED_RESOLUTION_S})`))
      )
    )
}
