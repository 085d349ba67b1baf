// Message search through a Prisma client on a pool of its own: its
// connections carry the search's statement_timeout, and its size caps how many
// searches run at once, so a burst of searches neither runs long nor takes the
// main pool from posting.
import fp from 'fastify-plugin'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from '../../generated/prisma/client.js'
import { poolConfigFromUrl } from '../../db/migrator.js'
import { closePool, createPool } from '../../db/pool.js'
import { createSearchRepository } from '../../repositories/search.js'
import { createSearchService, type SearchService } from '../../domain/search.js'

declare module 'fastify' {
  interface FastifyInstance {
    messageSearch: SearchService
  }
}

export interface SearchPluginOptions { databaseUrl: string }

export default fp<SearchPluginOptions>(async (app, opts) => {
  const { config } = app
  const pool = createPool({
    ...poolConfigFromUrl(opts.databaseUrl),
    max: config.searchPoolSize,
    connectionTimeoutMillis: config.databaseConnectTimeoutMs,
    statement_timeout: config.searchStatementTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: 'switchboard-search'
  })
  pool.on('error', (err) => app.log.warn({ err }, 'idle search connection lost'))
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) })
  // With a streaming replica, searches read there (the same limits), the primary when it cannot answer.
  const replicaPool = config.databaseReplicaUrl === undefined
    ? undefined
    : createPool({
      ...poolConfigFromUrl(config.databaseReplicaUrl),
      max: config.searchPoolSize,
      connectionTimeoutMillis: config.databaseConnectTimeoutMs,
      statement_timeout: config.searchStatementTimeoutMs,
      idleTimeoutMillis: 30_000,
      application_name: 'switchboard-search-replica'
    })
  replicaPool?.on('error', (err) => app.log.warn({ err }, 'idle search replica connection lost'))
  const replica = replicaPool === undefined ? undefined : new PrismaClient({ adapter: new PrismaPg(replicaPool) })
  app.decorate('messageSearch', createSearchService({
    repo: createSearchRepository(prisma, replica),
    hideDeletedSenders: config.deletedAccountMessages === 'erase'
  }))
  app.addHook('onClose', async () => {
    await prisma.$disconnect()
    await replica?.$disconnect()
    await closePool(pool)
    if (replicaPool !== undefined) await closePool(replicaPool)
  })
}, { name: 'search', dependencies: ['db', 'config'] })
