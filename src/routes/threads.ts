// Threads (README "Threads and custom message data"): a thread's replies, the
// caller's read position in it, and the threads the caller follows. Posting a
// reply is POST .../messages with threadRootId.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { errorResponses } from '../schemas/common.js'
import { FollowedThreadPage, FollowedThreadQuery, HistoryQuery, MessagePage, MessageParams, ThreadReadBody } from '../schemas/messages.js'
import { writeBudget } from './budgets.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { threads } = app.chat
  const security = [{ bearer: [] }]
  const tags = ['threads']

  app.get('/conversations/:id/messages/:messageId/thread', {
    onRequest: app.authenticate,
    schema: {
      security,
      tags,
      operationId: 'listThreadReplies',
      summary: 'A thread\'s replies: newest first before a seq (or the newest page), or oldest first after a seq',
      description: 'As the history of a conversation (same parameters and shape), for the replies whose threadRootId is messageId, from the ' +
        'caller\'s joining on. messageId must be a top-level message the caller can see, or one from before their joining whose thread ' +
        'has a reply from their joining on (the replies pushed to them; the root stays withheld, as in history): else 404.',
      params: MessageParams,
      querystring: HistoryQuery,
      response: { 200: MessagePage, ...errorResponses(400, 401, 404) }
    }
  }, async (request) => threads.replies(request.auth.userId, request.params.id, request.params.messageId,
    { ...request.query, limit: request.query.limit ?? 50 }))

  app.post('/conversations/:id/messages/:messageId/thread/read', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security,
      tags,
      operationId: 'markThreadRead',
      summary: 'Move the caller\'s read position in a thread forward (never back; at most lastSeq)',
      description: 'Lowers the thread\'s unread count and the conversation\'s threadUnreadCount; a move is sent to all the caller\'s connections ' +
        'as a thread.read frame with the counts after it. Reading does not follow a thread.',
      params: MessageParams,
      body: ThreadReadBody,
      response: { 204: Type.Null(), ...errorResponses(400, 401, 404, 429) }
    }
  }, async (request, reply) => {
    await threads.markRead(request.auth.userId, request.params.id, request.params.messageId, request.body.seq)
    return reply.code(204).send(null)
  })

  app.get('/me/threads', {
    onRequest: app.authenticate,
    schema: {
      security,
      tags,
      operationId: 'listMyThreads',
      summary: 'The threads the caller follows (started, replied to, or mentioned in), newest activity first',
      description: 'Keyset pages. Each has its root message (with its thread summary) and the caller\'s unread count. Only threads of ' +
        'conversations the caller is a member of, with the root within their window.',
      querystring: FollowedThreadQuery,
      response: { 200: FollowedThreadPage, ...errorResponses(400, 401) }
    }
  }, async (request) => threads.followed(request.auth.userId, { limit: request.query.limit ?? 20, cursor: request.query.cursor }))
}

export default routes
