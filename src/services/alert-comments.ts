// Comments on alerts: analysts' notes, bounded in length and in number per alert. Each one added
// or deleted is in the alert's history (with its text, so a deleted comment is still on record).
import { and, count, eq, getTableColumns } from 'drizzle-orm'
import type { Db } from '../db/index.js'
import { alertComments, alerts, type AlertComment } from '../db/schema.js'
import { badRequest, conflict, forbidden, notFound } from '../errors.js'
import { NOTE_UNSAFE } from '../text.js'
import { pageOfAlert } from './alerts.js'
import { filter, type PageEnvelope, type PageLocation, type PageParams, type PageSource } from '../pagination.js'
import { recordHistory } from './alert-history.js'
import type { Actor } from './audit.js'

export const MAX_COMMENT_LENGTH = 10_000
export const MAX_COMMENTS_PER_ALERT = 1_000

export const commentOut = (c: AlertComment) => ({
  id: c.id,
  alert: c.alertId,
  author_id: c.authorId,
  author: c.author,
  body: c.body,
  created_at: c.createdAt.toISOString()
})

export type CommentView = ReturnType<typeof commentOut>

/** One page of an alert's comments, newest first, or a 404 for no such alert. */
export async function listComments(db: Db, alertId: number, q: PageParams, at: PageLocation): Promise<PageEnvelope<CommentView>> {
  const source: PageSource<AlertComment> = {
    table: alertComments,
    filters: [filter('alert', alertId, (v) => eq(alertComments.alertId, v))],
    newest: alertComments.createdAt,
    select: getTableColumns(alertComments)
  }
  return pageOfAlert(db, alertId, q, at, source, (rows) => rows.map(commentOut))
}

/** A comment on an alert (404 without it; 409 once it has the most comments an alert may have). */
export async function addComment(db: Db, actor: Actor, alertId: number, body: string): Promise<CommentView> {
  if (NOTE_UNSAFE.test(body)) throw badRequest('Must not contain control characters or direction overrides.', 'body')
  return db.transaction(async (tx) => {
    // The alert's row lock orders concurrent comments, so the bound holds when they race.
    const [alert] = await tx.select({ id: alerts.id }).from(alerts).where(eq(alerts.id, alertId)).for('update')
    if (!alert) throw notFound()
    const [{ n }] = await tx.select({ n: count() }).from(alertComments).where(eq(alertComments.alertId, alertId))
    if (n >= MAX_COMMENTS_PER_ALERT) throw conflict(`Alert ${alertId} has ${MAX_COMMENTS_PER_ALERT} comments, the most an alert may have.`, 'body')
    const [comment] = await tx
      .insert(alertComments)
      .values({ alertId, authorId: actor.id ?? null, author: actor.label?.slice(0, 255) ?? null, body })
      .returning()
    await recordHistory(tx, actor, [{ alertId, action: 'commented', after: { comment_id: comment.id, body } }])
    return commentOut(comment)
  })
}

/** Deletes a comment: its author may, and an admin (`any`); 404 if the alert has no such comment. */
export async function deleteComment(db: Db, actor: Actor, alertId: number, commentId: number, any: boolean): Promise<void> {
  await db.transaction(async (tx) => {
    const [comment] = await tx
      .select()
      .from(alertComments)
      .where(and(eq(alertComments.id, commentId), eq(alertComments.alertId, alertId)))
      .for('update')
    if (!comment) throw notFound()
    if (!any && (actor.id == null || comment.authorId !== actor.id)) throw forbidden('Only its author or an admin may delete a comment.')
    await tx.delete(alertComments).where(eq(alertComments.id, commentId))
    await recordHistory(tx, actor, [{ alertId, action: 'comment_deleted', before: { comment_id: comment.id, author_id: comment.authorId, body: comment.body } }])
  })
}
