// Prisma migrations without the Prisma CLI's native schema engine: the same
// engine, shipped as WebAssembly in @prisma/schema-engine-wasm, talks to
// PostgreSQL through the pg driver adapter. Migrations stay in Prisma's own
// folder format, so `prisma migrate deploy` can apply them as well.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import { PrismaPg } from '@prisma/adapter-pg'
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils'
import { parseIntoClientConfig } from 'pg-connection-string'
import pg, { type PoolConfig } from 'pg'
import type { MigrationList, SchemaEngine } from '@prisma/schema-engine-wasm'

const projectRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)))
export const schemaPath = join(projectRoot, 'prisma', 'schema.prisma')
export const migrationsDir = join(projectRoot, 'prisma', 'migrations')

const noFilters = { externalTables: [], externalEnums: [] }

type EngineModule = typeof import('@prisma/schema-engine-wasm')
// Node has WebAssembly; the ES lib typings used here do not declare it.
const wasm = (globalThis as unknown as {
  WebAssembly: { instantiate (bytes: Uint8Array, imports: object): Promise<{ instance: { exports: Record<string, unknown> } }> }
}).WebAssembly

let lastPanic: string | undefined
let engineModule: Promise<EngineModule> | undefined

// Node 20 cannot import a .wasm module without a flag, so the wasm-bindgen
// glue is wired to an instance we compile ourselves.
function loadEngineModule (): Promise<EngineModule> {
  engineModule ??= (async () => {
    const require = createRequire(import.meta.url)
    const gluePath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg')
    const glue = await import(gluePath) as EngineModule & {
      __wbg_set_wasm: (exports: Record<string, unknown>) => void
    }
    // The engine reports a Rust panic's message through this global before it throws.
    const g = globalThis as { PRISMA_WASM_PANIC_REGISTRY?: { set_message (m: string): void } }
    g.PRISMA_WASM_PANIC_REGISTRY ??= { set_message: (m: string) => { lastPanic = m } }
    const bytes = await readFile(gluePath.replace(/\.js$/, '.wasm'))
    const { instance } = await wasm.instantiate(bytes, { './schema_engine_bg.js': glue })
    glue.__wbg_set_wasm(instance.exports)
    ;(instance.exports.__wbindgen_start as () => void)()
    return glue
  })()
  return engineModule
}

/**
 * pg options from a URL, as discrete fields (host, database, ssl, ...): a
 * `connectionString` would take precedence over a `database` set beside it,
 * which the shadow database of the driver adapter relies on.
 */
export function poolConfigFromUrl (url: string): PoolConfig {
  return parseIntoClientConfig(url) as PoolConfig
}

type QueryFn = (...args: unknown[]) => Promise<{ fields?: Array<{ dataTypeID: number }> } | undefined>

// Two gaps between this engine version and the embedded PostgreSQL 18, both
// met only when the engine introspects a database (`db:migration`):
// - the pg driver adapter has no mapping for the one-byte "char" type (oid 18)
//   of the system catalogs; its values arrive as strings, so they are text;
// - PostgreSQL 18 lists NOT NULL constraints in pg_constraint (contype 'n'),
//   which the engine's describer does not know and panics on; they are
//   described from the columns anyway, so its check-constraint query skips them.
const PG18_CONSTRAINT_FILTER = "contype NOT IN ('p', 'u', 'f')"
function withCharAsText (pool: pg.Pool): pg.Pool {
  const patch = (target: { query: QueryFn }) => {
    const query = target.query.bind(target)
    target.query = async (...args: unknown[]) => {
      const q = args[0] as { text?: string } | undefined
      if (typeof q?.text === 'string' && q.text.includes(PG18_CONSTRAINT_FILTER)) {
        args[0] = { ...q, text: q.text.replace(PG18_CONSTRAINT_FILTER, "contype NOT IN ('p', 'u', 'f', 'n')") }
      }
      const result = await query(...args)
      for (const r of Array.isArray(result) ? result : [result]) {
        for (const field of r?.fields ?? []) if (field.dataTypeID === 18) field.dataTypeID = 25
      }
      return result
    }
  }
  patch(pool as unknown as { query: QueryFn })
  pool.on('connect', (client) => patch(client as unknown as { query: QueryFn }))
  return pool
}

type PgAdapter = Awaited<ReturnType<PrismaPg['connect']>>

// The pg driver adapter runs a script by splitting it at every ';', which cuts
// a function body (plpgsql) apart. PostgreSQL runs a whole script sent as one
// simple query, which is what the native schema engine sends.
function wholeScripts (adapter: PgAdapter): PgAdapter {
  const pool = adapter.underlyingDriver()
  adapter.executeScript = async (script: string) => {
    try {
      await pool.query(script)
    } catch (err) {
      // Converts a pg error into the engine's DriverAdapterError.
      (adapter as unknown as { onError (e: unknown): never }).onError(err)
    }
  }
  return adapter
}

class PrismaPgWholeScripts extends PrismaPg {
  override async connect () { return wholeScripts(await super.connect()) }
  override async connectToShadowDb () { return wholeScripts(await super.connectToShadowDb()) }
}

async function withEngine<T> (databaseUrl: string, fn: (engine: SchemaEngine, schema: string) => Promise<T>, log: (line: string) => void): Promise<T> {
  const { SchemaEngine } = await loadEngineModule()
  const schema = await readFile(schemaPath, 'utf8')
  const pool = new pg.Pool({ ...poolConfigFromUrl(databaseUrl), max: 2 })
  const adapter = bindMigrationAwareSqlAdapterFactory(new PrismaPgWholeScripts(withCharAsText(pool)))
  const engine = await SchemaEngine.new({ datamodels: [[schemaPath, schema]] }, (line: string) => log(line), adapter)
  try {
    return await fn(engine, schema)
  } catch (err) {
    if (lastPanic !== undefined) {
      const message = `Prisma schema engine failed: ${lastPanic}`
      lastPanic = undefined
      throw new Error(message, { cause: err })
    }
    throw err
  } finally {
    engine.free()
    await pool.end()
  }
}

export async function loadMigrationList (): Promise<MigrationList> {
  const entries = await readdir(migrationsDir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return []
    throw err
  })
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort()
  const migrationDirectories = await Promise.all(dirs.map(async (name) => ({
    path: name,
    migrationFile: {
      path: 'migration.sql',
      content: await readFile(join(migrationsDir, name, 'migration.sql'), 'utf8')
        .then((value) => ({ tag: 'ok' as const, value }), (err: Error) => ({ tag: 'error' as const, value: err.message }))
    }
  })))
  const lockfilePath = join(migrationsDir, 'migration_lock.toml')
  const lockContent = await readFile(lockfilePath, 'utf8').catch(() => null)
  return {
    baseDir: migrationsDir,
    lockfile: { path: 'migration_lock.toml', content: lockContent },
    shadowDbInitScript: '',
    migrationDirectories
  }
}

/**
 * Whether every migration folder is recorded as applied, and none as failed.
 * Most starts have nothing to apply; answering that from the table itself
 * spares loading the schema engine (WebAssembly), about half a second.
 */
async function allApplied (databaseUrl: string, names: string[]): Promise<boolean> {
  const client = new pg.Client(poolConfigFromUrl(databaseUrl))
  await client.connect()
  try {
    const { rows } = await client.query<{ name: string, finished: boolean, rolledBack: boolean }>(
      'SELECT migration_name AS name, finished_at IS NOT NULL AS finished, rolled_back_at IS NOT NULL AS "rolledBack" FROM _prisma_migrations')
    // A failed migration is the engine's to report.
    if (rows.some((r) => !r.finished && !r.rolledBack)) return false
    const applied = new Set(rows.filter((r) => r.finished && !r.rolledBack).map((r) => r.name))
    return names.every((name) => applied.has(name))
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return false // no migrations table yet
    throw err
  } finally {
    await client.end()
  }
}

/** Applies every pending migration; returns the names of those it applied. */
export async function applyMigrations (databaseUrl: string, log: (line: string) => void = () => {}): Promise<string[]> {
  const migrationsList = await loadMigrationList()
  if (await allApplied(databaseUrl, migrationsList.migrationDirectories.map((d) => d.path))) return []
  return withEngine(databaseUrl, async (engine) => {
    const { appliedMigrationNames } = await engine.applyMigrations({ migrationsList, filters: noFilters })
    return appliedMigrationNames
  }, log)
}

/**
 * Writes `prisma/migrations/<timestamp>_<name>/migration.sql` with the SQL that
 * takes the existing migrations to the current schema.prisma. The migrations
 * are replayed into a scratch database on the server of `adminUrl` (Prisma's
 * "shadow database"), which is then compared with the schema and dropped.
 * Returns the folder name, or null when the schema has no change.
 */
export async function createMigration (adminUrl: string, name: string, log: (line: string) => void = () => {}): Promise<string | null> {
  if (!/^[a-z0-9_]+$/i.test(name)) throw new Error('A migration name uses only letters, digits and underscores')
  const scratch = `switchboard_shadow_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client(poolConfigFromUrl(adminUrl))
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE "${scratch}"`)
    const scratchUrl = new URL(adminUrl)
    scratchUrl.pathname = `/${scratch}`
    await applyMigrations(scratchUrl.toString(), log)
    const script = await withEngine(scratchUrl.toString(), async (engine, schema) => {
      const files = [{ path: schemaPath, content: schema }]
      const { stdout } = await engine.diff({
        from: { tag: 'schemaDatasource', files, configDir: projectRoot },
        to: { tag: 'schemaDatamodel', files },
        script: true,
        exitCode: null,
        filters: noFilters
      })
      return stdout ?? ''
    }, log)
    if (script.trim() === '' || /^-- This is an empty migration\.?\s*$/.test(script.trim())) return null
    const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14)
    const folder = `${stamp}_${name}`
    await mkdir(join(migrationsDir, folder), { recursive: true })
    await writeFile(join(migrationsDir, folder, 'migration.sql'), script)
    const lockfile = join(migrationsDir, 'migration_lock.toml')
    await writeFile(lockfile, '# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "postgresql"\n', { flag: 'wx' })
      .catch((err: NodeJS.ErrnoException) => { if (err.code !== 'EEXIST') throw err })
    return folder
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${scratch}" WITH (FORCE)`).catch(() => {})
    await admin.end()
  }
}
