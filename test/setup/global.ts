// Starts one real PostgreSQL for the whole run (the embedded one, or the server
// in TEST_DATABASE_URL) and migrates a template database; each test server
// gets its own database cloned from it.
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { TestProject } from 'vitest/node'
import { startEmbeddedPostgres } from '../../src/db/embedded.js'
import { applyMigrations } from '../../src/db/migrator.js'
import { sharedSetup } from './shared.js'

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string
    pgTemplate: string
  }
}

export default function setup (project: TestProject) {
  return sharedSetup(project, 'postgres', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchboard-test-'))
    await chmod(dir, 0o755) // the database runs as the `postgres` user when tests run as root
    const external = process.env.TEST_DATABASE_URL
    const server = external === undefined ? await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), fast: true }) : undefined
    const adminUrl = external ?? server!.adminUrl
    const template = `switchboard_template_${process.pid}`

    const admin = new pg.Client(adminUrl)
    await admin.connect()
    await admin.query(`DROP DATABASE IF EXISTS "${template}"`)
    await admin.query(`CREATE DATABASE "${template}"`)
    await admin.end()
    const templateUrl = new URL(adminUrl)
    templateUrl.pathname = `/${template}`
    await applyMigrations(templateUrl.toString())

    const stop = async () => {
      if (external !== undefined) {
        const c = new pg.Client(adminUrl)
        await c.connect()
        await c.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`)
        await c.end()
      }
      await server?.stop()
      await rm(dir, { recursive: true, force: true })
    }
    return { provide: { pgAdminUrl: adminUrl, pgTemplate: template }, stop }
  })
}
