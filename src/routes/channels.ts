// Public channels: the directory and joining (README "Search, channels and invitations").
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { IdParams, errorResponses } from '../schemas/common.js'
import { ChannelListQuery, ChannelPage } from '../schemas/channels.js'
import type { Conversation } from '../schemas/conversations.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { channels, members } = app.chat
  const security = [{ bearer: [] }]
  const tags = ['channels']
  const conversationRef = { $ref: 'Conversation' } as unknown as typeof Conversation
  // Joins count like creating conversations and adding members: MEMBERSHIP_RATE_LIMIT_PER_MINUTE per user (a budget of their own).
  const joinLimit = app.rateLimit({
    max: app.config.membershipRateLimitPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request: FastifyRequest) => request.auth.userId
  })

  app.get('/channels', {
    onRequest: app.authenticate,
    schema: {
      security,
      tags,
      operationId: 'listChannels',
      summary: 'Public groups, newest first, optionally by title, with their member counts',
      description: 'Private groups and direct conversations are never listed. Keyset pages with an opaque cursor; a bad cursor: 400 VALIDATION_FAILED.',
      querystring: ChannelListQuery,
      response: { 200: ChannelPage, ...errorResponses(400, 401) }
    }
  }, async (request) => channels.list(request.auth.userId, { ...request.query, limit: request.query.limit ?? 50 }))

  app.post('/conversations/:id/join', {
    onRequest: app.authenticate,
    preHandler: joinLimit,
    schema: {
      security,
      tags,
      operationId: 'joinChannel',
      summary: 'Join a public group: writes member.added with by = the caller; answers the Conversation',
      description: 'Joining again changes nothing and answers the same. A private group, a direct conversation or an unknown id: 404 NOT_FOUND alike. ' +
        'Banned from it: 403 BANNED. A full group (GROUP_MAX_MEMBERS, counting the places its pending invitations hold): 400. The joiner sees the conversation from their member.added on. ' +
        'At most MEMBERSHIP_RATE_LIMIT_PER_MINUTE joins per user per minute: 429 above it.',
      params: IdParams,
      response: { 200: conversationRef, ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request) => members.join(request.auth.userId, request.params.id))
}

export default routes
