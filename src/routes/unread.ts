// GET /v1/me/unread: the counts for the app badge (src/repositories/unread.ts), with the conversations a page at a time.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../schemas/common.js'
import { UnreadQuery, UnreadTotals } from '../schemas/conversations.js'
import { unreadTotals } from '../repositories/unread.js'
import { unreadPage } from '../domain/unread-pages.js'
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
      summary: 'Unread counts for the app badge: the total, unread mentions and thread replies, and the conversations with something unread, a page at a time',
      description: 'Each conversation\'s unreadCount, mentionCount and threadUnreadCount are those of its Conversation object (one rule). total is what device ' +
        'pushes show as the badge: per conversation, unreadCount + threadUnreadCount at notification level all, mentionCount at level mentions, nothing at ' +
        'level none or while muted. total, mentions and threads count every conversation of the caller on every page; conversations lists them by id, ' +
        'limit (1-100, default 50) at a time: pass nextCursor as cursor for the next page (a bad cursor: 400 VALIDATION_FAILED).',
      querystring: UnreadQuery,
      response: { 200: UnreadTotals, ...errorResponses(400, 401, 429) }
    }
  }, async (request) => {
    const totals = await unreadTotals(app.db.pool, [request.auth.userId])
    return unreadPage(totals.get(request.auth.userId)!, request.query)
  })
}

export default routes
