// The committed migrations and prisma/schema.prisma agree: `npm run
// db:migration` applies every migration (hand-written SQL with plpgsql
// function bodies included) to a scratch database and finds nothing to write.
import { describe, expect, inject, it } from 'vitest'
import { createMigration } from '../src/db/migrator.js'

describe('migrations', () => {
  it('produce exactly the schema of prisma/schema.prisma (no migration to write)', async () => {
    expect(await createMigration(inject('pgAdminUrl'), 'drift_check')).toBeNull()
  }, 60_000)
})
