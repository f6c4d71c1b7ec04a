import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The project root (the folder holding package.json and drizzle/), found by walking up from this
 * module, so paths hold both when run from source (src/) and when compiled (dist/src/).
 */
export const PROJECT_ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'drizzle'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error('Cannot find the Vigil project root (package.json and drizzle/)')
    dir = parent
  }
  return dir
})()
