// One pg pool per app, shared by Prisma (through @prisma/adapter-pg) and by the
// few hot-path statements that bypass the ORM.
import fp from 'fastify-plugin'
import type pg from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from '../../generated/prisma/client.js'
import { poolConfigFromUrl } from '../../db/migrator.js'
import { closePool, createPool } from '../../db/pool.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: { pool: pg.Pool, prisma: PrismaClient, replica?: pg.Pool }
  }
}

export interface DbPluginOptions { databaseUrl: string }

export default fp<DbPluginOptions>(async (app, opts) => {
  const { config } = app
  const pool = createPool({
    ...poolConfigFromUrl(opts.databaseUrl),
    max: config.databasePoolSize,
    connectionTimeoutMillis: config.databaseConnectTimeoutMs,
    statement_timeout: config.databaseStatementTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: 'switchboard'
  })
  // An idle connection dropped by the server (restart, failover) must not
  // crash the process; the pool replaces it on next use.
  pool.on('error', (err) => app.log.warn({ err }, 'idle database connection lost'))
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) })
  // Reads that may lag (history pages, replays) go to the replica when one is set (repositories/member-window.ts).
  const replica = config.databaseReplicaUrl === undefined
    ? undefined
    : createPool({
      ...poolConfigFromUrl(config.databaseReplicaUrl),
      max: config.databasePoolSize,
      connectionTimeoutMillis: config.databaseConnectTimeoutMs,
      statement_timeout: config.databaseStatementTimeoutMs,
      idleTimeoutMillis: 30_000,
      application_name: 'switchboard-replica'
    })
  replica?.on('error', (err) => app.log.warn({ err }, 'idle replica connection lost'))
  app.decorate('db', { pool, prisma, ...(replica === undefined ? {} : { replica }) })
  app.addHook('onClose', async () => {
    await prisma.$disconnect()
    await closePool(pool)
    if (replica !== undefined) await closePool(replica)
  })
}, { name: 'db', dependencies: ['config'] })
