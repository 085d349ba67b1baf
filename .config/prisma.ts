// Prisma CLI configuration. The service itself never reads this file: it
// migrates through src/db/migrator.ts (the CLI's schema engine download is not
// reachable everywhere), but `prisma migrate deploy` works with it too.
import { defineConfig } from 'prisma/config'

export default defineConfig({
  schema: '../prisma/schema.prisma',
  migrations: { path: '../prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? '' }
})
