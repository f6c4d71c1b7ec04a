import { PGlite } from '@electric-sql/pglite'
import { drizzle } from 'drizzle-orm/pglite'
import { migrate } from 'drizzle-orm/pglite/migrator'
let t = Date.now()
const a = new PGlite(); await a.waitReady
console.log('new', Date.now() - t); t = Date.now()
await migrate(drizzle(a), { migrationsFolder: './drizzle' })
console.log('migrate', Date.now() - t); t = Date.now()
const blob = await a.dumpDataDir('none')
console.log('dump', Date.now() - t, blob.size); t = Date.now()
const b = new PGlite({ loadDataDir: blob }); await b.waitReady
console.log('load', Date.now() - t); t = Date.now()
console.log((await b.query('select count(*) from users')).rows)
const c = new PGlite(); await c.waitReady
console.log('new2', Date.now() - t); t = Date.now()
const d = new PGlite({ loadDataDir: blob }); await d.waitReady
console.log('load2', Date.now() - t); t = Date.now()
