import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { errorResponses } from '../schemas/common.js'
import { BlockList, BlockListQuery, UserIdParams } from '../schemas/safety.js'
import { writeBudget } from './budgets.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { blocks } = app.safety
  const security = [{ bearer: [] }]
  const tags = ['safety']

  app.put('/me/blocks/:userId', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security,
      tags,
      operationId: 'blockUser',
      summary: 'Block a user (again: no change)',
      description: 'The blocked user can no longer open or post into a direct conversation with the caller (403 BLOCKED) nor add them to a group ' +
        '(403 BLOCKED), and no longer gets their presence, typing or read receipts; the caller gets no offline notification of their messages. ' +
        'Messages in shared groups stay in the log: clients hide them with GET /v1/me/blocks (every page). Blocking oneself: 400; unknown user: 404.',
      params: UserIdParams,
      response: { 204: Type.Null({ description: 'Blocked' }), ...errorResponses(400, 401, 404, 429) }
    }
  }, async (request, reply) => {
    await blocks.block(request.auth.userId, request.params.userId)
    return reply.code(204).send(null)
  })

  app.delete('/me/blocks/:userId', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security, tags, operationId: 'unblockUser', summary: 'Unblock a user (not blocked: no change)',
      params: UserIdParams,
      response: { 204: Type.Null({ description: 'Unblocked' }), ...errorResponses(400, 401, 429) }
    }
  }, async (request, reply) => {
    await blocks.unblock(request.auth.userId, request.params.userId)
    return reply.code(204).send(null)
  })

  app.get('/me/blocks', {
    onRequest: app.authenticate,
    schema: {
      security,
      tags,
      operationId: 'listBlocks',
      summary: 'The users the caller has blocked, most recent first (then user id), a page at a time',
      description: 'Keyset pages with an opaque cursor: the same cost at any depth. Follow nextCursor until it is null. A bad cursor: 400 VALIDATION_FAILED.',
      querystring: BlockListQuery,
      response: { 200: BlockList, ...errorResponses(400, 401) }
    }
  }, async (request) => blocks.list(request.auth.userId, { limit: request.query.limit ?? 50, cursor: request.query.cursor }))
}

export default routes
