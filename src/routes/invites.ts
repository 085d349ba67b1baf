// Invite links: create, list, revoke (owner or admins), accept (anyone with the code).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { IdParams, errorResponses } from '../schemas/common.js'
import type { Conversation } from '../schemas/conversations.js'
import {
  CreatedInvite, CreateInviteBody, GroupInvitationList, GroupInvitationListQuery, InvitationList, InvitationParams, InviteCodeParams, InviteList, RevokeInviteParams
} from '../schemas/invites.js'
import { writeBudget } from './budgets.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { invites } = app.chat
  const security = [{ bearer: [] }]
  const tags = ['invites']
  const conversationRef = { $ref: 'Conversation' } as unknown as typeof Conversation
  const managers = 'Owner or admins of a group (plain members and direct conversations: 403; non-members: 404).'

  app.post('/conversations/:id/invites', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security,
      tags,
      operationId: 'createInvite',
      summary: 'Create an invite link; its code is shown only in this answer',
      description: `${managers} At most 100 usable invites per group (409 CONFLICT above).`,
      params: IdParams,
      body: CreateInviteBody,
      response: { 201: CreatedInvite, ...errorResponses(400, 401, 403, 404, 409, 429) }
    }
  }, async (request, reply) => reply.code(201).send(await invites.create(request.auth.userId, request.params.id, request.body ?? {})))

  app.get('/conversations/:id/invites', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security,
      tags,
      operationId: 'listInvites',
      summary: 'The group\'s usable invites, newest first, without their codes',
      description: managers,
      params: IdParams,
      response: { 200: InviteList, ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request) => invites.list(request.auth.userId, request.params.id))

  app.delete('/conversations/:id/invites/:code', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security,
      tags,
      operationId: 'revokeInvite',
      summary: 'Revoke an invite, named by its code or its id',
      description: `${managers} No such usable invite in this group: 404 NOT_FOUND.`,
      params: RevokeInviteParams,
      response: { 204: Type.Null({ description: 'Revoked' }), ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request, reply) => {
    await invites.revoke(request.auth.userId, request.params.id, request.params.code)
    return reply.code(204).send(null)
  })

  app.post('/invites/:code/accept', {
    onRequest: app.authenticate,
    config: {
      rateLimit: {
        max: app.config.inviteRateLimitPerMinute,
        timeWindow: 60_000,
        hook: 'preHandler',
        keyGenerator: (request: FastifyRequest) => request.auth.userId
      }
    },
    schema: {
      security,
      tags,
      operationId: 'acceptInvite',
      summary: 'Join the invite\'s group: writes member.added with by = the caller; answers the Conversation',
      description: 'A wrong, revoked, expired or used-up code: 404 INVALID_INVITE, all alike. Already a member: answered again, no use counted. ' +
        `Banned from the group: 403 BANNED; a full group (counting the places its pending invitations hold): 400. 429 RATE_LIMITED above ${app.config.inviteRateLimitPerMinute} attempts per minute.`,
      params: InviteCodeParams,
      response: { 200: conversationRef, ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request) => invites.accept(request.auth.userId, request.params.code))

  // Pending invitations (GROUP_ADDS=invite): the group's side.
  app.get('/conversations/:id/invitations', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security,
      tags,
      operationId: 'listGroupInvitations',
      summary: 'The group\'s pending invitations (GROUP_ADDS=invite), newest first, a page at a time, each with its invitee',
      description: `${managers} Expired invitations are not listed. Keyset pages with an opaque cursor: the same cost at any depth. ` +
        'Follow nextCursor until it is null. A bad cursor: 400 VALIDATION_FAILED.',
      params: IdParams,
      querystring: GroupInvitationListQuery,
      response: { 200: GroupInvitationList, ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request) => invites.groupInvitations(request.auth.userId, request.params.id, { limit: request.query.limit ?? 50, cursor: request.query.cursor }))

  app.delete('/conversations/:id/invitations/:userId', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security,
      tags,
      operationId: 'withdrawInvitation',
      summary: 'Withdraw the pending invitation of :userId: its place in the group is free, and the invitee gets an invitation.withdrawn frame',
      description: `${managers} No invitation pending for that user: 204 all the same, nothing happens.`,
      params: InvitationParams,
      response: { 204: Type.Null({ description: 'Withdrawn, or none was pending' }), ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request, reply) => {
    await invites.withdrawInvitation(request.auth.userId, request.params.id, request.params.userId)
    return reply.code(204).send(null)
  })

  // Pending invitations (GROUP_ADDS=invite): the invitee's side.
  app.get('/me/invitations', {
    onRequest: app.authenticate,
    schema: {
      security,
      tags,
      operationId: 'listInvitations',
      summary: 'Your pending invitations to groups (GROUP_ADDS=invite), newest first',
      description: 'All of them (at most INVITATIONS_MAX_PENDING); an invitation expires INVITATION_TTL_DAYS after it was sent (expiresAt) and is no longer listed.',
      response: { 200: InvitationList, ...errorResponses(401) }
    }
  }, async (request) => invites.invitations(request.auth.userId))

  app.post('/me/invitations/:id/accept', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security,
      tags,
      operationId: 'acceptInvitation',
      summary: 'Accept an invitation to the group :id: writes member.added with by = who invited; answers the Conversation',
      description: 'No pending invitation (none sent, declined, withdrawn or expired): 404 NOT_FOUND. Banned from the group since: 403 BANNED. A full group: 400.',
      params: IdParams,
      response: { 200: conversationRef, ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request) => invites.acceptInvitation(request.auth.userId, request.params.id))

  app.post('/me/invitations/:id/decline', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security,
      tags,
      operationId: 'declineInvitation',
      summary: 'Decline (remove) an invitation to the group :id',
      description: 'No pending invitation: 404 NOT_FOUND. The group is not told.',
      params: IdParams,
      response: { 204: Type.Null({ description: 'Declined' }), ...errorResponses(400, 401, 404, 429) }
    }
  }, async (request, reply) => {
    await invites.declineInvitation(request.auth.userId, request.params.id)
    return reply.code(204).send(null)
  })
}

export default routes
