import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { badRequest } from '../domain/errors.js'
import { errorResponses, IdParams } from '../schemas/common.js'
import {
  Conversation, ConversationListQuery, ConversationPage, conversationBodies, MemberListQuery, MemberPage, MemberParams, SetRoleBody,
  UpdateConversationBody
} from '../schemas/conversations.js'
import { ReadBody } from '../schemas/messages.js'
import { trimFields } from './trim.js'
import { WRITE_BUDGET_TEXT, writeBudget } from './budgets.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { conversations, members } = app.chat
  const { CreateConversationBody, AddMembersBody } = conversationBodies(app.config.groupMaxMembers)
  const security = [{ bearer: [] }]
  const tags = ['conversations']
  const conversationRef = { $ref: 'Conversation' } as unknown as typeof Conversation
  // Each of these writes events that reach up to GROUP_MAX_MEMBERS users: per
  // user, counted after authentication, one budget (one limiter) for both routes.
  const membershipLimit = app.rateLimit({
    max: app.config.membershipRateLimitPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request: FastifyRequest) => request.auth.userId
  })
  // Renaming and role changes write an event pushed to every member, as a post is: posting's budget
  // per user (POST_RATE_LIMIT_PER_SECOND per route), as reactions and pins have.
  const limited = writeBudget(app)
  const budget = WRITE_BUDGET_TEXT

  app.post('/conversations', {
    onRequest: app.authenticate,
    preValidation: trimFields('title'),
    preHandler: membershipLimit,
    schema: {
      security,
      tags,
      operationId: 'createConversation',
      summary: 'Open the direct conversation with a user (201 created, 200 existing), or create a group (201; the caller is its owner)',
      description: 'Unknown user ids answer 404. Group: memberIds are deduplicated and the caller is left out of them; its first events are the ' +
        'creator\'s member.added (seq 1) and the others\' member.added (one) or members.added (several, one event: seq 2). ' +
        'Shares MEMBERSHIP_RATE_LIMIT_PER_MINUTE with adding members: 429 above it. Naming a user who blocked the caller (a new direct ' +
        'conversation, or a group member): 403 BLOCKED. GROUP_ADDS=invite: an invitee with INVITATIONS_MAX_PENDING pending already: 409 TOO_MANY_INVITATIONS.',
      body: CreateConversationBody,
      response: { 200: conversationRef, 201: conversationRef, ...errorResponses(400, 401, 403, 404, 409, 429) }
    }
  }, async (request, reply) => {
    const { userId } = request.auth
    const body = request.body
    if (body.type === 'direct') {
      if (body.title !== undefined || body.memberIds !== undefined || body.public !== undefined) throw badRequest('body: a direct conversation takes only userId')
      const { conversation, created } = await conversations.openDirect(userId, body.userId!)
      return reply.code(created ? 201 : 200).send(conversation)
    }
    if (body.userId !== undefined) throw badRequest('body: a group takes title and memberIds, not userId')
    return reply.code(201).send(await conversations.createGroup(userId, { title: body.title!, memberIds: body.memberIds ?? [], public: body.public }))
  })

  app.get('/conversations', {
    onRequest: app.authenticate,
    schema: {
      security,
      tags,
      operationId: 'listConversations',
      summary: "The caller's conversations, most recent activity first",
      description: 'Each conversation lists its first CONVERSATION_MEMBERS_PREVIEW members (default 10) and memberCount, so that a page ' +
        'costs the same whatever the size of its groups; GET /v1/conversations/{id}/members pages through all of them.',
      querystring: ConversationListQuery,
      response: { 200: ConversationPage, ...errorResponses(400, 401) }
    }
  }, async (request) => conversations.list(request.auth.userId, { limit: request.query.limit ?? 50, cursor: request.query.cursor }))

  app.get('/conversations/:id', {
    onRequest: app.authenticate,
    schema: { security, tags, operationId: 'getConversation', summary: 'One conversation, with all its members', params: IdParams, response: { 200: conversationRef, ...errorResponses(400, 401, 404) } }
  }, async (request) => conversations.get(request.auth.userId, request.params.id))

  app.get('/conversations/:id/members', {
    onRequest: app.authenticate,
    schema: {
      security,
      tags,
      operationId: 'listMembers',
      summary: 'The current members of a conversation, in joining order (then user id), a page at a time',
      description: 'Keyset pages: the same cost at any depth. Only current members may read them; anyone else gets the 404 of a missing conversation.',
      params: IdParams,
      querystring: MemberListQuery,
      response: { 200: MemberPage, ...errorResponses(400, 401, 404) }
    }
  }, async (request) => conversations.listMembers(request.auth.userId, request.params.id, {
    limit: request.query.limit ?? 50, cursor: request.query.cursor
  }))

  app.patch('/conversations/:id', {
    onRequest: app.authenticate,
    preValidation: trimFields('title'),
    config: limited,
    schema: {
      security,
      tags,
      operationId: 'renameConversation',
      summary: 'Rename a group, set its picture and/or make it public or private (owner or admin); writes conversation.updated',
      description: 'A direct conversation has no title or picture: 403. pictureUploadId: a completed image upload of the caller ' +
        '(POST /v1/uploads without conversationId), else 400 INVALID_ATTACHMENT; null removes the picture; a replaced picture is deleted. ' +
        `public: a public group (channel) is listed by GET /v1/channels and joinable (README "Search, channels and invitations"). ${budget}`,
      params: IdParams,
      body: UpdateConversationBody,
      response: { 200: conversationRef, ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request) => conversations.update(request.auth.userId, request.params.id, request.body))

  app.post('/conversations/:id/members', {
    onRequest: app.authenticate,
    preHandler: membershipLimit,
    schema: {
      security,
      tags,
      operationId: 'addMembers',
      summary: 'Add members to a group (owner or admin); writes member.added (one new member) or one members.added (several)',
      description: 'Current members are skipped; a removed member comes back and sees the conversation from the event that added them on. ' +
        'Unknown user ids: 404. Past the group size limit (members and pending invitations): 400. A direct conversation: 403. A user banned from the group: 403 BANNED; ' +
        'a user who blocked the caller: 403 BLOCKED. GROUP_ADDS=invite: an invitee with INVITATIONS_MAX_PENDING pending already: 409 TOO_MANY_INVITATIONS. ' +
        'Shares MEMBERSHIP_RATE_LIMIT_PER_MINUTE with POST /v1/conversations: 429 above it.',
      params: IdParams,
      body: AddMembersBody,
      response: { 200: conversationRef, ...errorResponses(400, 401, 403, 404, 409, 429) }
    }
  }, async (request) => members.add(request.auth.userId, request.params.id, request.body.userIds))

  app.patch('/conversations/:id/members/:userId', {
    onRequest: app.authenticate,
    config: limited,
    schema: {
      security,
      tags,
      operationId: 'setMemberRole',
      summary: "Change a member's role to admin or member (owner only); writes member.updated",
      description: budget,
      params: MemberParams,
      body: SetRoleBody,
      response: { 200: conversationRef, ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request) => members.setRole(request.auth.userId, request.params.id, request.params.userId, request.body.role))

  app.delete('/conversations/:id/members/:userId', {
    onRequest: app.authenticate,
    config: limited,
    schema: {
      security,
      tags,
      operationId: 'removeMember',
      summary: 'Remove a member (owner: anyone; admin: plain members), or leave (your own id); writes member.removed',
      description: 'When the owner leaves, the longest-standing admin (else member) becomes owner (member.updated, before the member.removed). ' +
        `A removed member gets 404 for the conversation from then on. A direct conversation: 403. ${budget}`,
      params: MemberParams,
      response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request, reply) => {
    await members.remove(request.auth.userId, request.params.id, request.params.userId)
    return reply.code(204).send(null)
  })

  app.post('/conversations/:id/read', {
    onRequest: app.authenticate,
    config: limited,
    schema: {
      security,
      tags,
      operationId: 'markRead',
      summary: "Move the caller's read position forward (never back; at most lastSeq)",
      params: IdParams,
      body: ReadBody,
      response: { 204: Type.Null(), ...errorResponses(400, 401, 404, 429) }
    }
  }, async (request, reply) => {
    await conversations.markRead(request.auth.userId, request.params.id, request.body.seq)
    return reply.code(204).send(null)
  })
}

export default routes
