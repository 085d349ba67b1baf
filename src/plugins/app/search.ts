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
  app.decorate('messageSearch', createSearchService({
    repo: createSearchRepository(prisma),
    hideDeletedSenders: config.deletedAccountMessages === 'erase'
  }))
  app.addHook('onClose', async () => {
    await prisma.$disconnect()
    await closePool(pool)
  })
}, { name: 'search', dependencies: ['db', 'config'] })
