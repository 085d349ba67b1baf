// The committed migrations and prisma/schema.prisma agree: `npm run
// db:migration` applies every migration (hand-written SQL with plpgsql
// function bodies included) to a scratch database and finds nothing to write.
// At start-up, an up-to-date database is recognised without the schema engine,
// and anything else (nothing applied yet, a failed migration) still goes to it.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { describe, expect, inject, it } from 'vitest'
import { applyMigrations, createMigration, loadMigrationList } from '../src/db/migrator.js'
import { createTestDatabase } from './helpers/database.js'

describe('migrations', () => {
  it('produce exactly the schema of prisma/schema.prisma (no migration to write)', async () => {
    expect(await createMigration(inject('pgAdminUrl'), 'drift_check')).toBeNull()
  }, 60_000)
})

describe('applying migrations at start-up', () => {
  it('applies every migration to an empty database, then finds nothing to apply', async () => {
    const adminUrl = inject('pgAdminUrl')
    const name = `m_${randomBytes(6).toString('hex')}`
    const admin = new pg.Client(adminUrl)
    await admin.connect()
    await admin.query(`CREATE DATABASE "${name}"`)
    const url = new URL(adminUrl)
    url.pathname = `/${name}`
    try {
      const all = (await loadMigrationList()).migrationDirectories.map((d) => d.path)
      expect(await applyMigrations(url.toString())).toEqual(all)
      expect(await applyMigrations(url.toString())).toEqual([])
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      await admin.end()
    }
  }, 60_000)

  it('does not take a migration recorded as failed for applied: the engine reports it', async () => {
    const db = await createTestDatabase()
    try {
      expect(await applyMigrations(db.url)).toEqual([])
      const c = new pg.Client(db.url)
      await c.connect()
      await c.query('UPDATE _prisma_migrations SET finished_at = NULL WHERE migration_name = (SELECT max(migration_name) FROM _prisma_migrations)')
      await c.end()
      await expect(applyMigrations(db.url)).rejects.toThrow(/fail/i)
    } finally {
      await db.drop()
    }
  }, 60_000)
})
