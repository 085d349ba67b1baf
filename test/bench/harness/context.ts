// What a benchmark run owns: a temp folder, an embedded PostgreSQL in it (with
// the default synchronous_commit: posting figures are durable commits), a
// migrated template database that every scenario clones, the JWT secret the
// servers and the token minting share, an up-to-date build of the server, and
// the watcher that records what the machine did during each measured window.
// The folder and the database are released by the run's teardown, also when
// it is interrupted while they are being made.
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../../src/db/embedded.js'
import { applyMigrations } from '../../../src/db/migrator.js'
import { createMachineWatcher, type MachineWatcher } from './machine.js'
import { descendants, projectRoot, spawnTracked } from './processes.js'
import { atTeardown } from './teardown.js'

const TEMPLATE = 'bench_template'

export interface BenchContext {
  dir: string
  jwtSecret: string
  /** A fresh, migrated database cloned from the template. */
  createDatabase (name: string): Promise<string>
  dropDatabase (name: string): Promise<void>
  /**
   * Between scenarios: drops the databases made so far and forces a
   * checkpoint, so that one scenario's leftovers (autovacuum, the write-back
   * of a million seeded rows) do not run during the next one's measurements.
   */
  settle (): Promise<void>
  /** The postmaster and its backends, for the database's share of CPU. */
  postgresPids (): number[]
  /** Records the machine's load, the database's wait events and the batch sizes of each measured window. */
  machine: MachineWatcher
}

function newestMtime (dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path))
    else newest = Math.max(newest, statSync(path).mtimeMs)
  }
  return newest
}

/** Runs `npm run build` unless dist/server.js is newer than everything under src/ (or `force`). */
export async function ensureBuild (force: boolean, log: (line: string) => void): Promise<void> {
  const entry = join(projectRoot, 'dist', 'server.js')
  const fresh = existsSync(entry) && existsSync(join(projectRoot, 'dist', 'public', 'index.html')) &&
    statSync(entry).mtimeMs >= newestMtime(join(projectRoot, 'src'))
  if (fresh && !force) return
  log('building the server (npm run build)')
  // A tracked child, so that an interrupt stops the build too.
  const build = spawnTracked('npm', ['run', 'build'], { ...process.env })
  const code = await build.exited
  if (code !== 0) throw new Error(`npm run build failed (exit ${String(code)}):\n${build.output()}`)
}

/** The run's temp folder (in `parentDir`, the OS temp folder by default) and its database. */
export async function createContext (log: (line: string) => void, parentDir = tmpdir(), opts: { statementStats?: boolean } = {}): Promise<BenchContext> {
  const making = mkdtemp(join(parentDir, 'switchboard-bench-'))
  const starting = making.then(async (dir) => {
    log(`temp folder ${dir}`)
    await chmod(dir, 0o755) // the database runs as the `postgres` user when the bench runs as root
    return await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), log, statementStats: opts.statementStats === true })
  })
  // Registered before the folder and the database exist: an interrupt meanwhile waits for them, then releases them.
  atTeardown('the database and the temp folder', async () => {
    const dir = await making.catch(() => undefined)
    try {
      await (await starting.catch(() => undefined))?.stop()
    } finally {
      if (dir !== undefined) await rm(dir, { recursive: true, force: true })
    }
  })
  const dir = await making
  const server: EmbeddedPostgres = await starting
  const urlOf = (name: string) => server.urlFor(name)
  const admin = async (sql: string) => {
    const c = new pg.Client(server.adminUrl)
    await c.connect()
    try {
      await c.query(sql)
    } finally {
      await c.end()
    }
  }
  await admin(`CREATE DATABASE "${TEMPLATE}"`)
  await applyMigrations(urlOf(TEMPLATE))

  const created = new Set<string>()
  const postmasterPid = () => {
    const file = join(dir, 'pg', 'postmaster.pid')
    return existsSync(file) ? Number(readFileSync(file, 'utf8').split('\n')[0]) : undefined
  }
  const postgresPids = () => {
    const pid = postmasterPid()
    return pid === undefined ? [] : [pid, ...descendants(pid)]
  }
  const ownPids = () => {
    const mine = [process.pid, ...descendants(process.pid)]
    const pid = postmasterPid()
    return pid === undefined || mine.includes(pid) ? mine : [...mine, ...postgresPids()]
  }
  const machine = createMachineWatcher(server.adminUrl, ownPids, dir)
  atTeardown('the wait-event sampler', () => machine.close())
  const dropDatabase = async (name: string) => {
    await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    created.delete(name)
  }
  return {
    dir,
    jwtSecret: randomBytes(32).toString('hex'),
    async createDatabase (name) {
      await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      await admin(`CREATE DATABASE "${name}" TEMPLATE "${TEMPLATE}"`)
      created.add(name)
      return urlOf(name)
    },
    dropDatabase,
    async settle () {
      for (const name of [...created]) await dropDatabase(name)
      await admin('CHECKPOINT')
    },
    postgresPids,
    machine
  }
}
