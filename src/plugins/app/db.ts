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
    db: {
      pool: pg.Pool
      prisma: PrismaClient
      /**
       * Connections of their own (POST_POOL_SIZE + 1) for the group commit of posts and the batched session
       * check of authenticated requests, so that neither queues behind the main pool's reads.
       */
      lane: pg.Pool
      replica?: pg.Pool
    }
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
  // A burst of reads (a reconnect storm's catch-ups, history pages) fills the main pool's queue. The posts'
  // group commit (POST_POOL_SIZE batches at once) and the session check (one statement at a time) have
  // connections of their own, so that a post waits for its batch and a request for its session check, never
  // for those reads. Those connections stay open once opened (`min` is the size, so no idle one is closed;
  // chat.ts opens them all at start-up): a connection opened for a post cost it the connection's start and the
  // planning of post_messages (50-110 ms on 2 busy cores, README "Against the targets", uploaders), which an
  // idle one closing after 30 s made happen whenever the posts' concurrency rose again.
  const laneSize = config.postPoolSize + 1
  const lane = createPool({
    ...poolConfigFromUrl(opts.databaseUrl),
    max: laneSize,
    min: laneSize,
    connectionTimeoutMillis: config.databaseConnectTimeoutMs,
    statement_timeout: config.databaseStatementTimeoutMs,
    application_name: 'switchboard-lane'
  })
  lane.on('error', (err) => app.log.warn({ err }, 'idle database connection lost'))
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
  app.decorate('db', { pool, prisma, lane, ...(replica === undefined ? {} : { replica }) })
  app.addHook('onClose', async () => {
    await prisma.$disconnect()
    await closePool(pool)
    await closePool(lane)
    if (replica !== undefined) await closePool(replica)
  })
}, { name: 'db', dependencies: ['config'] })
