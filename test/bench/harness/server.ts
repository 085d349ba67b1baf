// The server under test, as it runs in production: the compiled build
// (`node dist/server.js`, or `--cluster`), NODE_ENV=production, on the
// benchmark's database, with the rate limits raised so that the load
// generators measure capacity rather than the limits.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { EnvSchema } from '../../../src/config.js'
import { startOnFreePort } from '../../../src/db/embedded.js'
import type { BenchContext } from './context.js'
import { descendants, killPid, onServerCpus, pinServer, projectRoot, spawnTracked, waitFor, sleep } from './processes.js'
import { startWorker, type Worker } from './rpc.js'

export interface ServerUnderTest {
  url: string
  port: number
  pid: number
  /** The processes whose CPU counts as the server's: the process, or the primary and its workers. */
  pids (): number[]
  output (): string
  stop (): Promise<void>
}

export interface ServerOptions {
  databaseUrl: string
  env?: Record<string, string>
  cluster?: { workers: number, broker: 'postgres' | 'redis', redisUrl?: string }
  nodeArgs?: string[]
  /** Chooses each port tried (tests hand out a taken one); a free one by default. */
  pickPort?: () => Promise<number>
  /** The built server to run (another build, to compare); dist/server.js of this checkout by default. */
  entry?: string
}

// Settings a developer's shell might carry; the bench decides them itself.
const OWN_SETTINGS = Object.keys(EnvSchema.properties)

let profileDir: string | undefined
/** With a folder, servers run under --cpu-prof and stop gracefully so that their profiles get written. */
export function profileServers (dir: string | undefined): void { profileDir = dir }

let extraEnv: Record<string, string> = {}
/** Variables every server started from now on gets (bench --server-env), over the scenario's own. */
export function serverEnvironment (env: Record<string, string>): void { extraEnv = env }

/** Starts the server on a free port; one whose port was taken meanwhile is stopped and started again on another. */
export function startSwitchboard (ctx: BenchContext, opts: ServerOptions): Promise<ServerUnderTest> {
  return startOnFreePort((port) => startOn(ctx, opts, port), opts.pickPort === undefined ? {} : { pick: opts.pickPort })
}

async function startOn (ctx: BenchContext, opts: ServerOptions, port: number): Promise<ServerUnderTest> {
  const base: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !OWN_SETTINGS.includes(k)) base[k] = v
  const env: Record<string, string> = {
    ...base,
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'warn',
    JWT_SECRET: ctx.jwtSecret,
    DATABASE_URL: opts.databaseUrl,
    DATA_DIR: join(ctx.dir, 'data'),
    POST_RATE_LIMIT_PER_SECOND: '100000',
    MEMBERSHIP_RATE_LIMIT_PER_MINUTE: '100000',
    AUTH_RATE_LIMIT_MAX: '100000',
    LOGIN_RATE_LIMIT_PER_USERNAME: '100000',
    WS_MAX_CONNECTIONS_PER_USER: '1000',
    BROKER: 'memory',
    ...(opts.cluster === undefined
      ? {}
      : {
          BROKER: opts.cluster.broker,
          CLUSTER_WORKERS: String(opts.cluster.workers),
          ...(opts.cluster.redisUrl === undefined ? {} : { REDIS_URL: opts.cluster.redisUrl })
        }),
    ...opts.env,
    ...extraEnv
  }
  const profiling = profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir]
  const args = [...profiling, ...(opts.nodeArgs ?? []), opts.entry ?? join(projectRoot, 'dist', 'server.js'), ...(opts.cluster === undefined ? [] : ['--cluster'])]
  const proc = spawnTracked(...onServerCpus(process.execPath, args), env, 'SIGKILL')
  const url = `http://127.0.0.1:${port}`
  const pids = () => opts.cluster === undefined ? [proc.pid] : [proc.pid, ...descendants(proc.pid)]
  try {
    // Bounded: whatever took the port may accept connections and never answer.
    await waitFor(async () => (await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2_000) })).status === 200, 'server', 60_000, proc)
    if (opts.cluster !== undefined) await waitForWorkers(port, proc.pid, opts.cluster.workers)
  } catch (err) {
    await Promise.all(pids().map((pid) => killPid(pid, 'SIGKILL')))
    throw err
  }
  return {
    url,
    port,
    pid: proc.pid,
    pids,
    output: proc.output,
    async stop () {
      const all = pids()
      if (profileDir !== undefined) {
        // A cluster's primary stops its workers; a profile is written on a clean exit only.
        await killPid(proc.pid, 'SIGTERM', 30_000)
        await Promise.all(all.slice(1).map((pid) => killPid(pid, 'SIGTERM', 30_000)))
        return
      }
      await Promise.all(all.map((pid) => killPid(pid, 'SIGKILL')))
    }
  }
}

/** A baseline or peer server (test/bench/baselines/) in a worker process on the servers' CPUs, listening on a free port. */
export async function startPeer (file: URL, params: object): Promise<{ worker: Worker, url: string }> {
  const worker = startWorker(file)
  try {
    pinServer(worker.pid)
    const { port } = await worker.call<{ port: number }>('listen', params)
    return { worker, url: `http://127.0.0.1:${port}` }
  } catch (err) {
    worker.kill()
    throw err
  }
}

/** Established server-side sockets on `port`, counted per process (from /proc/net/tcp and each process's fds). */
export function socketsByPid (port: number, pids: number[]): Record<number, number> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  const inodes = new Set<string>()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try { text = readFileSync(table, 'utf8') } catch { continue }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length > 9 && f[1]!.endsWith(`:${hexPort}`) && f[3] === '01') inodes.add(f[9]!)
    }
  }
  const out: Record<number, number> = {}
  for (const pid of pids) {
    let n = 0
    let fds: string[] = []
    try { fds = readdirSync(`/proc/${pid}/fd`) } catch { /* gone */ }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
        if (m !== null && inodes.has(m[1]!)) n++
      } catch { /* closed meanwhile */ }
    }
    out[pid] = n
  }
  return out
}

// The primary accepts and hands connections to the workers that listen; the
// bench starts only when every worker has been handed a connection.
async function waitForWorkers (port: number, primary: number, workers: number): Promise<void> {
  const { connect } = await import('node:net')
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const probes = await Promise.all(Array.from({ length: workers * 4 }, () => new Promise<import('node:net').Socket>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(s))
      s.on('error', reject)
    })))
    await sleep(200)
    const byPid = socketsByPid(port, descendants(primary))
    for (const s of probes) s.destroy()
    if (Object.values(byPid).filter((n) => n > 0).length >= workers) return
    await sleep(300)
  }
  throw new Error(`the cluster did not start ${workers} listening workers`)
}
