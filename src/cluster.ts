// `npm run start:cluster`: the primary process of a node:cluster. It owns the
// database (the embedded one unless DATABASE_URL is set: started and migrated
// here, once) and forks one worker per core; the workers are ordinary servers
// sharing the listening port (the primary hands out connections round robin)
// and one live stream through the broker. The primary alone decides shutdown:
// on SIGINT/SIGTERM it asks every worker to close gracefully, waits for them,
// then stops the database.
import cluster, { type Worker } from 'node:cluster'
import { availableParallelism } from 'node:os'
import type { Logger } from 'pino'
import type { AppConfig } from './config.js'
import type { DatabaseHandle } from './db/bootstrap.js'

/** The message a worker shuts down on (see server.ts). */
export const SHUTDOWN_MESSAGE = 'switchboard:shutdown'

const RESTART_DELAY_MS = 1_000

export interface ClusterOptions {
  config: AppConfig
  db: DatabaseHandle
  jwtSecret: string
  log: Logger
}

/** In cluster mode the in-process broker cannot work: the database's LISTEN/NOTIFY stands in. */
export function clusterBroker (config: AppConfig): Exclude<AppConfig['broker'], 'memory'> {
  return config.broker === 'memory' ? 'postgres' : config.broker
}

export async function runCluster ({ config, db, jwtSecret, log }: ClusterOptions): Promise<void> {
  const count = config.clusterWorkers > 0 ? config.clusterWorkers : availableParallelism()
  const broker = clusterBroker(config)
  if (broker !== config.broker) log.info({ broker }, 'BROKER=memory cannot cross processes; the cluster uses PostgreSQL LISTEN/NOTIFY')
  // Workers read their settings from the environment like any server; these
  // come on top: the one database, the broker, and one JWT secret for all
  // (a token issued by one worker must verify on every other).
  const env = { DATABASE_URL: db.url, BROKER: broker, JWT_SECRET: jwtSecret }
  let stopping = false

  const fork = () => {
    const worker = cluster.fork(env)
    worker.on('exit', (code, signal) => {
      if (stopping) return
      log.error({ pid: worker.process.pid, code, signal }, 'worker exited; starting another')
      setTimeout(() => { if (!stopping) fork() }, RESTART_DELAY_MS)
    })
    return worker
  }
  // "cluster started" once every worker listens: until then the primary deals
  // every connection to the workers that do, so a deployment (or a test) that
  // waits for this line knows the load is spread.
  const listening = Array.from({ length: count }, () => fork()).map((w) => new Promise<void>((resolve) => w.once('listening', () => resolve())))
  void Promise.all(listening).then(() => {
    if (!stopping) log.info({ workers: count, broker, database: db.embedded ? 'embedded' : 'DATABASE_URL' }, 'cluster started')
  })

  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'shutting down the cluster')
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined)
    const exited = workers.map((w) => new Promise<number>((resolve) => {
      if (w.isDead()) resolve(0)
      else w.once('exit', (code) => resolve(code ?? 1))
    }))
    for (const w of workers) if (w.isConnected()) w.send(SHUTDOWN_MESSAGE)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), config.shutdownTimeoutMs + 5_000) })
    const outcome = await Promise.race([Promise.all(exited), timeout])
    clearTimeout(timer)
    if (outcome === 'timeout') {
      log.error('workers did not stop in time; killing them')
      for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL')
    }
    try {
      await db.stop()
    } catch (err) {
      log.error({ err }, 'could not stop the database')
      process.exit(1)
    }
    const clean = outcome !== 'timeout' && outcome.every((code) => code === 0)
    log.info('cluster stopped')
    process.exit(clean ? 0 : 1)
  }
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => { void stop(signal) })
}
