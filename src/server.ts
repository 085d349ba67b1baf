// Process concerns only: configuration, logger, the database (embedded unless
// DATABASE_URL is set), timeouts, listen, and graceful shutdown. With
// `--cluster` (npm run start:cluster) this process becomes the primary of a
// node:cluster (cluster.ts) and its workers run the server below.
import Fastify from 'fastify'
import closeWithGrace from 'close-with-grace'
import cluster from 'node:cluster'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import fp from 'fastify-plugin'
import { pino } from 'pino'
import app, { appServerOptions } from './app.js'
import { runCluster, SHUTDOWN_MESSAGE } from './cluster.js'
import { ConfigError, loadConfig, type AppConfig } from './config.js'
import { openDatabase, openMigratedDatabase } from './db/bootstrap.js'
import { tuneHeap } from './heap.js'

/** Outside production a missing JWT_SECRET is generated once and kept in DATA_DIR. */
async function developmentSecret (config: AppConfig): Promise<string> {
  const file = join(config.dataDir, 'dev-jwt-secret')
  const existing = await readFile(file, 'utf8').catch(() => undefined)
  if (existing !== undefined && existing.trim().length >= 32) return existing.trim()
  const secret = randomBytes(48).toString('base64url')
  await mkdir(config.dataDir, { recursive: true })
  await writeFile(file, secret, { mode: 0o600 })
  return secret
}

async function main () {
  tuneHeap()
  let config: AppConfig
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
  if (cluster.isPrimary && process.argv.includes('--cluster')) return startPrimary(config)

  const server = Fastify(appServerOptions(config))
  const log = (line: string) => server.log.info(line)

  // A cluster's primary has migrated the database already.
  const db = cluster.isWorker ? await openDatabase(config, log) : await openMigratedDatabase(config, log)
  if (db.embedded) server.log.info({ url: db.url.replace(/:[^:@/]+@/, ':***@') }, 'embedded PostgreSQL ready')

  const jwtSecret = config.jwtSecret ?? await developmentSecret(config)
  if (config.jwtSecret === undefined) server.log.warn('JWT_SECRET is not set; using a generated development secret')

  // A cluster worker leaves signals to the primary (a Ctrl-C reaches every
  // process of the group; a second signal would cut the graceful close short)
  // and closes when the primary asks, or when the primary is gone.
  const workerSignals: Array<'SIGINT' | 'SIGTERM' | 'SIGHUP'> = ['SIGINT', 'SIGTERM', 'SIGHUP']
  if (cluster.isWorker) for (const signal of workerSignals) process.on(signal, () => {})
  let closing = false
  const graceful = closeWithGrace({ delay: config.shutdownTimeoutMs, logger: server.log, skip: cluster.isWorker ? workerSignals : [] }, async ({ signal, err }) => {
    closing = true
    if (err !== undefined) server.log.error({ err }, 'shutting down after an error')
    else server.log.info({ signal }, 'shutting down')
    try {
      await server.close()
    } finally {
      await db.stop()
    }
    // The last line: an operator (or a terminal) sees how it ended.
    const stopped = cluster.isWorker ? 'worker' : db.embedded ? 'server and embedded database' : 'server (the database at DATABASE_URL keeps running)'
    server.log.info(`${stopped} stopped ${err === undefined ? 'cleanly' : 'after the error above'}`)
  })
  if (cluster.isWorker) {
    const shutdown = () => { if (!closing) graceful.close() }
    process.on('message', (message) => { if (message === SHUTDOWN_MESSAGE) shutdown() })
    process.on('disconnect', shutdown)
  }

  await server.register(fp(app), { config, databaseUrl: db.url, jwtSecret })
  await server.listen({ host: config.host, port: config.port, backlog: config.listenBacklog })
}

async function startPrimary (config: AppConfig) {
  const log = pino({ level: config.logLevel })
  const db = await openMigratedDatabase(config, (line) => log.info(line))
  const jwtSecret = config.jwtSecret ?? await developmentSecret(config)
  if (config.jwtSecret === undefined) log.warn('JWT_SECRET is not set; using a generated development secret')
  await runCluster({ config, db, jwtSecret, log })
}

main().catch((err: unknown) => {
  process.stderr.write(`Switchboard failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
