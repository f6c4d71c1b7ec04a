// Password hashing with argon2id. Verifying against an unknown user still costs one argon2
// verification (against a fixed dummy hash), so response time does not reveal which users exist.
import argon2 from 'argon2'

/** What every hash is made with: argon2id at argon2's own defaults (64 MiB, 3 passes, 4 lanes). */
export const PRODUCTION_HASHING = { type: argon2.argon2id, memoryCost: 65_536, timeCost: 3, parallelism: 4 } as const

/**
 * The cheapest argon2id, for test suites only: fixture users cost a millisecond instead of a
 * fraction of a second each. No configuration reaches it; a test suite opts in by calling
 * useTestHashing() before it creates users. Verification reads the parameters from each hash,
 * so hashes of either cost verify wherever they are checked.
 */
const TEST_HASHING = { type: argon2.argon2id, memoryCost: 1024, timeCost: 1, parallelism: 1 } as const

let options: typeof PRODUCTION_HASHING | typeof TEST_HASHING = PRODUCTION_HASHING

/** Switches this process to test-cost hashing; refused in a production process. */
export function useTestHashing(): void {
  if (process.env.NODE_ENV === 'production') throw new Error('test-cost password hashing is not for production')
  options = TEST_HASHING
  dummyHash = undefined
}

export const hashPassword = (password: string): Promise<string> => argon2.hash(password, options)

let dummyHash: Promise<string> | undefined

/** Returns true only when `hash` exists and matches; always does the same work. */
export async function verifyPassword(hash: string | undefined | null, password: string): Promise<boolean> {
  if (!hash) {
    dummyHash ??= argon2.hash('vigil-timing-equaliser', options)
    await argon2.verify(await dummyHash, password).catch(() => false)
    return false
  }
  try {
    return await argon2.verify(hash, password)
  } catch {
    return false
  }
}
