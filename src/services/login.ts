// Checking a username and password. Unknown users, wrong passwords and deactivated accounts all
// fail the same way, after the same argon2 work, so neither the answer nor its timing tells an
// attacker which usernames exist. Failed attempts are audited.
import { verifyPassword } from '../auth/passwords.js'
import type { Db } from '../db/index.js'
import type { User } from '../db/schema.js'
import { recordAudit } from './audit.js'
import { findUserByName } from './users.js'

export const LOGIN_FAILED = 'No active account found with the given credentials'

export async function checkLogin(db: Db, username: string, password: string, ip: string): Promise<User | undefined> {
  const user = await findUserByName(db, username)
  const ok = await verifyPassword(user?.passwordHash, password)
  if (ok && user?.isActive) return user
  await recordAudit(db, { id: user?.id ?? null, label: username, ip }, {
    action: 'auth.login_failed',
    targetType: 'user',
    targetId: user?.id ?? null
  })
  return undefined
}
