// Reactions to messages (src/domain/reactions.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../schemas/common.js'
import { ReactionParams, ReactionResult } from '../schemas/messages.js'
import { writeBudget } from './budgets.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { reactions } = app.interactions
  const security = [{ bearer: [] }]
  // Each change is an event in the log, as a post is: the same budget per user (POST_RATE_LIMIT_PER_SECOND).
  const limited = writeBudget(app)
  const tags = ['messages']
  const rules = 'A member who can see the message (their window holds it); a deleted message: 409 CONFLICT. ' +
    'As posting: 403 MUTED (muted), 403 FROZEN (frozen group, plain members), 403 BLOCKED (a direct conversation whose other member blocked the caller). ' +
    'Not one emoji nor a configured :name:: 400 INVALID_REACTION.'

  app.put('/conversations/:id/messages/:messageId/reactions/:emoji', {
    onRequest: app.authenticate,
    config: limited,
    schema: {
      security,
      tags,
      operationId: 'addReaction',
      summary: 'React to a message: writes reaction.added; already reacted so: the same answer, nothing written',
      description: `${rules} At most REACTIONS_PER_USER_PER_MESSAGE different reactions per user per message, and REACTIONS_DISTINCT_PER_MESSAGE ` +
        'different reactions on one message from all users together (adding one already there is always allowed): 409 TOO_MANY_REACTIONS.',
      params: ReactionParams,
      response: { 200: ReactionResult, ...errorResponses(400, 401, 403, 404, 409, 429) }
    }
  }, async (request) => reactions.react(request.auth.userId, request.params.id, request.params.messageId, request.params.emoji))

  app.delete('/conversations/:id/messages/:messageId/reactions/:emoji', {
    onRequest: app.authenticate,
    config: limited,
    schema: {
      security,
      tags,
      operationId: 'removeReaction',
      summary: 'Take a reaction back: writes reaction.removed; not there: the same answer, nothing written',
      description: rules,
      params: ReactionParams,
      response: { 200: ReactionResult, ...errorResponses(400, 401, 403, 404, 409, 429) }
    }
  }, async (request) => reactions.unreact(request.auth.userId, request.params.id, request.params.messageId, request.params.emoji))
}

export default routes
