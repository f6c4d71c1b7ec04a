// Every notification channel Vigil uses, with its payload's type: subscribe through
// `app.notifications` (src/db/notify.ts). A new channel is one entry here.
import { defineChannel } from './notify.js'

/** Which user rows changed: a user's id, or '*' for any of them. */
export type UserChange = number | '*'

/**
 * A user row changed (drizzle/0001_user_changes.sql announces every UPDATE and DELETE with the
 * row's id, a TRUNCATE with '*'), so copies of it (src/auth/principal-cache.ts) must go.
 * A payload that is not an id means "any user": dropping too much is safe, too little is not.
 */
export const userChanges = defineChannel<UserChange>('vigil_users', {
  format: (change) => String(change),
  parse: (text) => {
    const id = Number(text)
    return /^\d+$/.test(text) && Number.isSafeInteger(id) ? id : '*'
  }
})

/** Which detection models changed: a model's id, or '*' for any of them. */
export type ModelChange = number | '*'

/**
 * A model changed in a way the detection engine sees (drizzle/0007_detection_models.sql announces
 * every INSERT and DELETE, and every UPDATE of name, version, model_type, status, is_active,
 * definition or baseline, with the row's id; a TRUNCATE with '*'), so the compiled models must be
 * read again (plugins/detection.ts). Match counter updates are not announced. A payload that is not
 * an id means "any model".
 */
export const modelChanges = defineChannel<ModelChange>('vigil_models', {
  format: (change) => String(change),
  parse: (text) => {
    const id = Number(text)
    return /^\d+$/.test(text) && Number.isSafeInteger(id) ? id : '*'
  }
})

/** Which suppressions changed: a suppression's id, or '*' for any of them. */
export type SuppressionChange = number | '*'

/**
 * A suppression changed (drizzle/0010_triage.sql announces every INSERT and DELETE, and every
 * UPDATE of anything but the hit counters hits and last_hit_at, with the row's id; a TRUNCATE with
 * '*'), so the suppressions ingestion matches must be read again (plugins/suppressions.ts). Hit
 * counter updates are not announced: they are written every second. A payload that is not an id
 * means "any suppression".
 */
export const suppressionChanges = defineChannel<SuppressionChange>('vigil_suppressions', {
  format: (change) => String(change),
  parse: (text) => {
    const id = Number(text)
    return /^\d+$/.test(text) && Number.isSafeInteger(id) ? id : '*'
  }
})

/**
 * Alert history (the outbox of alert changes) was written; the payload is empty. Readers then read
 * the outbox from their cursor (src/services/alert-stream.ts): the notification carries no data,
 * and a reader also polls, so a missed one only delays. Sent in the writing transaction by
 * src/services/alert-history.ts (triage, comments, links: a person's pace), and after the commit,
 * coalesced, for ingestion (src/db/notify.ts Announcer): a NOTIFY takes a cluster-wide lock at
 * commit, and one per ingest statement serialized their commits.
 */
export const alertChanges = defineChannel<null>('vigil_alert_changes', {
  format: () => '',
  parse: () => null
})
