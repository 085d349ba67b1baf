import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { IdParams, errorResponses } from '../schemas/common.js'
import { trimFields } from './trim.js'
import { EventPage, EventsQuery, HistoryQuery, Message, MessagePage, MessageParams, messageBodies } from '../schemas/messages.js'
import { WRITE_BUDGET_TEXT, writeBudget } from './budgets.js'

const trimBody = trimFields('body')

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { messages } = app.chat
  const { PostMessageBody, EditMessageBody } = messageBodies(app.config.messageMaxLength)
  const security = [{ bearer: [] }]
  const tags = ['messages']
  const messageRef = { $ref: 'Message' } as unknown as typeof Message
  // Per user, counted after authentication. Each write is an event pushed to every member, so posting,
  // editing and deleting (as reacting and pinning) have the same budget per route: POST_RATE_LIMIT_PER_SECOND.
  const limited = writeBudget(app)
  const budget = WRITE_BUDGET_TEXT

  app.post('/conversations/:id/messages', {
    onRequest: app.authenticate,
    preValidation: trimBody,
    config: limited,
    schema: {
      security,
      tags,
      operationId: 'sendMessage',
      summary: 'Post a message (201 once committed; 200 with the original for a repeated clientMessageId)',
      description: 'replyToId must name a message of this conversation the caller can see, else 400. Safety (README "Accounts and safety"): ' +
        '403 BLOCKED (a direct conversation whose other member blocked the caller), 403 MUTED (muted), 403 FROZEN (a frozen group, plain members), ' +
        '429 SLOW_MODE with Retry-After (slow mode, plain members). Mentions: the @username tokens of the body that name current members ' +
        '(not the caller) become mentions; @all sets mentionsAll from the owner or an admin of a group (README "Mentions and notification preferences"). Custom data: type and metadata (400 INVALID_MESSAGE_TYPE, INVALID_METADATA, METADATA_TOO_LARGE; README "Threads and custom message data").',
      params: IdParams,
      body: PostMessageBody,
      response: { 200: messageRef, 201: messageRef, ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request, reply) => {
    const { message, created } = await messages.post(request.auth.userId, request.params.id, request.body)
    return reply.code(created ? 201 : 200).send(message)
  })

  app.get('/conversations/:id/messages', {
    onRequest: app.authenticate,
    schema: {
      security,
      tags,
      operationId: 'listMessages',
      summary: 'History: newest first before a seq (or the newest page), or oldest first after a seq',
      description: 'before and after together: 400. Keyset pages on seq; a member sees messages from their joining on.',
      params: IdParams,
      querystring: HistoryQuery,
      response: { 200: MessagePage, ...errorResponses(400, 401, 404) }
    }
  }, async (request) => messages.history(request.auth.userId, request.params.id, { ...request.query, limit: request.query.limit ?? 50 }))

  app.patch('/conversations/:id/messages/:messageId', {
    onRequest: app.authenticate,
    preValidation: trimBody,
    config: limited,
    schema: {
      security,
      tags,
      operationId: 'editMessage',
      summary: 'Edit a message (sender only): body, type and metadata; sets editedAt and writes message.updated',
      description: 'A deleted message cannot be edited: 409 CONFLICT. An unchanged body writes nothing. A muted member: 403 MUTED; ' +
        'a plain member of a frozen group: 403 FROZEN; a direct conversation whose other member blocked the caller: 403 BLOCKED. Mentions are found again in the new body, against the current members. ' +
        `metadata null clears it; a change that would leave the message empty (no body, files or metadata of a non-text type): 400. ${budget}`,
      params: MessageParams,
      body: EditMessageBody,
      response: { 200: messageRef, ...errorResponses(400, 401, 403, 404, 409, 429) }
    }
  }, async (request) => messages.edit(request.auth.userId, request.params.id, request.params.messageId, request.body))

  app.delete('/conversations/:id/messages/:messageId', {
    onRequest: app.authenticate,
    config: limited,
    schema: {
      security,
      tags,
      operationId: 'deleteMessage',
      summary: 'Delete a message (sender, or group owner/admin): answers the tombstone; writes message.deleted',
      description: `Earlier events of the message are redacted to the tombstone. Deleting again answers the tombstone and writes nothing. ${budget}`,
      params: MessageParams,
      response: { 200: messageRef, ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request) => messages.remove(request.auth.userId, request.params.id, request.params.messageId))

  app.get('/conversations/:id/events', {
    onRequest: app.authenticate,
    schema: {
      security,
      tags,
      operationId: 'listEvents',
      summary: 'Replay the event stream after a seq, ascending',
      description: 'A member sees events from their own member.added on.',
      params: IdParams,
      querystring: EventsQuery,
      response: { 200: EventPage, ...errorResponses(400, 401, 404) }
    }
  }, async (request) => messages.events(request.auth.userId, request.params.id, { after: request.query.after ?? 0, minSeq: request.query.minSeq, limit: request.query.limit ?? 50 }))
}

export default routes
