// GET /v1/search/messages (README "Search, channels and invitations").
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { errorResponses } from '../schemas/common.js'
import { SearchMessagesQuery, SearchPage } from '../schemas/search.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/search/messages', {
    onRequest: app.authenticate,
    // Per user, counted after authentication.
    config: {
      rateLimit: {
        max: app.config.searchRateLimitPerMinute,
        timeWindow: 60_000,
        hook: 'preHandler',
        keyGenerator: (request: FastifyRequest) => request.auth.userId
      }
    },
    schema: {
      security: [{ bearer: [] }],
      tags: ['search'],
      operationId: 'searchMessages',
      summary: 'Search the messages of the caller\'s conversations, newest first, with a snippet per hit',
      description: 'Only what the caller can read in history: current conversations, from their joining on, not deleted; a deleted ' +
        'account\'s messages do not appear (DELETED_ACCOUNT_MESSAGES=erase). Keyset pages: pass nextCursor as before. ' +
        '400 INVALID_QUERY: a query outside the rules of q; 400 QUERY_TOO_BROAD: the search ran past SEARCH_STATEMENT_TIMEOUT_MS. ' +
        `429 RATE_LIMITED above ${app.config.searchRateLimitPerMinute} searches per minute.`,
      querystring: SearchMessagesQuery,
      response: { 200: SearchPage, ...errorResponses(400, 401, 404, 429) }
    }
  }, async (request) => app.messageSearch.messages(request.auth.userId, { ...request.query, limit: request.query.limit ?? 20 }))
}

export default routes
