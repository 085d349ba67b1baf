import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { sendError } from './error-reply.js'

const Status = Type.Object({ status: Type.String() })

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health', { schema: { hide: true, response: { 200: Status } } }, async () => ({ status: 'ok' }))

  // Ready while the database answers; no restart needed once it is back.
  app.get('/ready', { schema: { hide: true, response: { 200: Status } } }, async (request, reply) => {
    try {
      await app.db.pool.query('SELECT 1')
      return { status: 'ready' }
    } catch (err) {
      request.log.warn({ err }, 'readiness check failed')
      return sendError(reply, 503, 'UNAVAILABLE', 'The database is unavailable')
    }
  })
}

export default routes
