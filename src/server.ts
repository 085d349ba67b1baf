// Process concerns only: configuration, logger, the database (embedded unless
// DATABASE_URL is set), timeouts, listen, and graceful shutdown.
import Fastify from 'fastify'
import closeWithGrace from 'close-with-grace'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import fp from 'fastify-plugin'
import app, { appServerOptions } from './app.js'
import { ConfigError, loadConfig, type AppConfig } from './config.js'
import { openMigratedDatabase } from './db/bootstrap.js'

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

  const server = Fastify(appServerOptions(config))
  const log = (line: string) => server.log.info(line)

  const db = await openMigratedDatabase(config, log)
  if (db.embedded) server.log.info({ url: db.url.replace(/:[^:@/]+@/, ':***@') }, 'embedded PostgreSQL ready')

  const jwtSecret = config.jwtSecret ?? await developmentSecret(config)
  if (config.jwtSecret === undefined) server.log.warn('JWT_SECRET is not set; using a generated development secret')

  closeWithGrace({ delay: config.shutdownTimeoutMs, logger: server.log }, async ({ signal, err }) => {
    if (err !== undefined) server.log.error({ err }, 'shutting down after an error')
    else server.log.info({ signal }, 'shutting down')
    try {
      await server.close()
    } finally {
      await db.stop()
    }
  })

  await server.register(fp(app), { config, databaseUrl: db.url, jwtSecret })
  await server.listen({ host: config.host, port: config.port })
}

main().catch((err: unknown) => {
  process.stderr.write(`Switchboard failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
