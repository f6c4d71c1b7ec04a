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
