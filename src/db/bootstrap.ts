// Finds the database the service runs on: the server in DATABASE_URL, or an
// embedded PostgreSQL started here with its data under DATA_DIR.
import { join } from 'node:path'
import pg from 'pg'
import type { AppConfig } from '../config.js'
import { startEmbeddedPostgres } from './embedded.js'
import { applyMigrations, poolConfigFromUrl } from './migrator.js'

export const EMBEDDED_DATABASE = 'switchboard'

export interface DatabaseHandle {
  url: string
  /** A URL on the same server from which databases can be created. */
  adminUrl: string
  embedded: boolean
  stop (): Promise<void>
}

type Log = (line: string) => void

export async function openDatabase (config: AppConfig, log: Log): Promise<DatabaseHandle> {
  if (config.databaseUrl !== undefined) {
    return { url: config.databaseUrl, adminUrl: config.databaseUrl, embedded: false, stop: async () => {} }
  }
  const server = await startEmbeddedPostgres({ dataDir: join(config.dataDir, 'postgres'), port: config.embeddedPgPort, log, ownProcessGroup: true })
  try {
    const client = new pg.Client(poolConfigFromUrl(server.adminUrl))
    await client.connect()
    try {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [EMBEDDED_DATABASE])
      if (rowCount === 0) await client.query(`CREATE DATABASE "${EMBEDDED_DATABASE}"`)
    } finally {
      await client.end()
    }
  } catch (err) {
    await server.stop()
    throw err
  }
  return { url: server.urlFor(EMBEDDED_DATABASE), adminUrl: server.adminUrl, embedded: true, stop: () => server.stop() }
}

/** Opens the database and applies pending migrations. */
export async function openMigratedDatabase (config: AppConfig, log: Log): Promise<DatabaseHandle> {
  const db = await openDatabase(config, log)
  try {
    const applied = await applyMigrations(db.url)
    if (applied.length > 0) log(`applied migrations: ${applied.join(', ')}`)
  } catch (err) {
    await db.stop()
    throw err
  }
  return db
}
