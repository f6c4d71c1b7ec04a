// Password hashing with argon2id. Verifying against an unknown user still costs one argon2
// verification (against a fixed dummy hash), so response time does not reveal which users exist.
import argon2 from 'argon2'

const OPTIONS = { type: argon2.argon2id } as const

export const hashPassword = (password: string): Promise<string> => argon2.hash(password, OPTIONS)

let dummyHash: Promise<string> | undefined

/** Returns true only when `hash` exists and matches; always does the same work. */
export async function verifyPassword(hash: string | undefined | null, password: string): Promise<boolean> {
  if (!hash) {
    dummyHash ??= argon2.hash('vigil-timing-equaliser', OPTIONS)
    await argon2.verify(await dummyHash, password).catch(() => false)
    return false
  }
  try {
    return await argon2.verify(hash, password)
  } catch {
    return false
  }
}
