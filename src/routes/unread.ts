// GET /v1/me/unread: the counts for the app badge (src/repositories/unread.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../schemas/common.js'
import { UnreadTotals } from '../schemas/conversations.js'
import { unreadTotals } from '../repositories/unread.js'
import { perUser } from './budgets.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/me/unread', {
    onRequest: app.authenticate,
    // It counts every membership of the caller, as a sync's badge does: the same budget (SYNC_RATE_LIMIT_PER_MINUTE).
    config: perUser(app.config.syncRateLimitPerMinute, 60_000),
    schema: {
      security: [{ bearer: [] }],
      tags: ['conversations'],
      operationId: 'getUnread',
      summary: 'Unread counts for the app badge: the total, unread mentions and thread replies, and each conversation with something unread',
      description: 'Each conversation\'s unreadCount, mentionCount and threadUnreadCount are those of its Conversation object (one rule). total is what device ' +
        'pushes show as the badge: per conversation, unreadCount + threadUnreadCount at notification level all, mentionCount at level mentions, nothing at ' +
        'level none or while muted.',
      response: { 200: UnreadTotals, ...errorResponses(401, 429) }
    }
  }, async (request) => {
    const totals = await unreadTotals(app.db.pool, [request.auth.userId])
    return totals.get(request.auth.userId)!
  })
}

export default routes
