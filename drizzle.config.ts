import { defineConfig } from 'drizzle-kit'

// Migrations are generated from src/db/schema.ts into drizzle/ (`npm run db:generate`) and applied
// by the runtime migrator at start or with `npm run db:migrate`. Never `push`.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' },
  strict: true,
  verbose: true
})
