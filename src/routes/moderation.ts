// Group moderation by its owner and admins (src/domain/safety-moderation.ts).
import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses, IdParams } from '../schemas/common.js'
import { BanList, BanListQuery, ConversationUserParams, SlowModeBody } from '../schemas/safety.js'
import { WRITE_BUDGET_TEXT, writeBudget } from './budgets.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { moderation } = app.safety
  const security = [{ bearer: [] }]
  const tags = ['moderation']
  const noContent = (description: string) => Type.Null({ description })
  // Each write is an event pushed to every member, as a post is: posting's budget per user
  // (POST_RATE_LIMIT_PER_SECOND per route), as reactions and pins have.
  const limited = writeBudget(app)
  const role = 'Owner or admin of a group; an admin acts only on plain members, nobody on the owner (403 FORBIDDEN). Non-members: 404.'
  const who = `${role} ${WRITE_BUDGET_TEXT}`

  app.put('/conversations/:id/bans/:userId', {
    onRequest: app.authenticate,
    config: limited,
    schema: {
      security, tags, operationId: 'banMember', summary: 'Ban a user: writes member.banned, then member.removed when they are a member',
      description: `${who} A banned user cannot be added again (403 BANNED) until unbanned. Banning again writes nothing.`,
      params: ConversationUserParams,
      response: { 204: noContent('Banned'), ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request, reply) => {
    await moderation.ban(request.auth.userId, request.params.id, request.params.userId)
    return reply.code(204).send(null)
  })

  app.delete('/conversations/:id/bans/:userId', {
    onRequest: app.authenticate,
    config: limited,
    schema: {
      security, tags, operationId: 'unbanMember', summary: 'Lift a ban: writes member.unbanned (the user is not added back)',
      description: `${who} A ban the owner made is lifted by the owner only.`, params: ConversationUserParams, response: { 204: noContent('Unbanned'), ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request, reply) => {
    await moderation.unban(request.auth.userId, request.params.id, request.params.userId)
    return reply.code(204).send(null)
  })

  app.get('/conversations/:id/bans', {
    onRequest: app.authenticate,
    config: limited,
    schema: {
      security, tags, operationId: 'listBans', summary: 'The banned users of a group, newest first (then user id), a page at a time',
      description: `${role} Keyset pages with an opaque cursor: the same cost at any depth. Follow nextCursor until it is null. A bad cursor: 400 VALIDATION_FAILED.`,
      params: IdParams, querystring: BanListQuery, response: { 200: BanList, ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request) => moderation.bans(request.auth.userId, request.params.id, { limit: request.query.limit ?? 50, cursor: request.query.cursor }))

  app.put('/conversations/:id/mutes/:userId', {
    onRequest: app.authenticate,
    config: limited,
    schema: {
      security, tags, operationId: 'muteMember', summary: 'Mute a member: their posts answer 403 MUTED; writes member.muted',
      description: `${who} Not a member: 404.`, params: ConversationUserParams, response: { 204: noContent('Muted'), ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request, reply) => {
    await moderation.setMuted(request.auth.userId, request.params.id, request.params.userId, true)
    return reply.code(204).send(null)
  })

  app.delete('/conversations/:id/mutes/:userId', {
    onRequest: app.authenticate,
    config: limited,
    schema: {
      security, tags, operationId: 'unmuteMember', summary: 'Unmute a member; writes member.unmuted',
      description: who, params: ConversationUserParams, response: { 204: noContent('Unmuted'), ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request, reply) => {
    await moderation.setMuted(request.auth.userId, request.params.id, request.params.userId, false)
    return reply.code(204).send(null)
  })

  app.put('/conversations/:id/slow-mode', {
    onRequest: app.authenticate,
    config: limited,
    schema: {
      security, tags, operationId: 'setSlowMode', summary: 'Slow mode: one post per N seconds per plain member (0: off); writes conversation.slow_mode',
      description: `${who} A post too soon answers 429 SLOW_MODE with Retry-After (seconds). The owner and admins are not slowed.`,
      params: IdParams, body: SlowModeBody, response: { 204: noContent('Set'), ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request, reply) => {
    await moderation.setSlowMode(request.auth.userId, request.params.id, request.body.seconds)
    return reply.code(204).send(null)
  })

  app.put('/conversations/:id/freeze', {
    onRequest: app.authenticate,
    config: limited,
    schema: {
      security, tags, operationId: 'freezeConversation', summary: 'Freeze: read-only for everyone but the owner and admins (403 FROZEN); writes conversation.frozen',
      description: who, params: IdParams, response: { 204: noContent('Frozen'), ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request, reply) => {
    await moderation.setFrozen(request.auth.userId, request.params.id, true)
    return reply.code(204).send(null)
  })

  app.delete('/conversations/:id/freeze', {
    onRequest: app.authenticate,
    config: limited,
    schema: {
      security, tags, operationId: 'unfreezeConversation', summary: 'Unfreeze; writes conversation.unfrozen',
      description: who, params: IdParams, response: { 204: noContent('Unfrozen'), ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request, reply) => {
    await moderation.setFrozen(request.auth.userId, request.params.id, false)
    return reply.code(204).send(null)
  })
}

export default routes
