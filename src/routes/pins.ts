// Pinned messages (src/domain/pins.ts).
import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses, IdParams } from '../schemas/common.js'
import { MessageParams, Pin, PinList } from '../schemas/messages.js'
import { writeBudget } from './budgets.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { pins } = app.interactions
  const security = [{ bearer: [] }]
  // Each change is an event in the log, as a post is: the same budget per user (POST_RATE_LIMIT_PER_SECOND).
  const limited = writeBudget(app)
  const tags = ['messages']
  const pinRef = { $ref: 'Pin' } as unknown as typeof Pin
  const who = 'Owner or admin of a group (plain members: 403 FORBIDDEN); in a direct conversation, either member. ' +
    'A message the caller cannot see: 404. As posting: 403 MUTED, 403 BLOCKED (a direct conversation whose other member blocked the caller).'

  app.put('/conversations/:id/pins/:messageId', {
    onRequest: app.authenticate,
    config: limited,
    schema: {
      security, tags, operationId: 'pinMessage',
      summary: 'Pin a message: writes message.pinned; already pinned: the pin as it is, nothing written',
      description: `${who} A deleted message: 409 CONFLICT. At most PINS_PER_CONVERSATION pins: 409 TOO_MANY_PINS.`,
      params: MessageParams,
      response: { 200: pinRef, ...errorResponses(400, 401, 403, 404, 409, 429) }
    }
  }, async (request) => pins.pin(request.auth.userId, request.params.id, request.params.messageId))

  app.delete('/conversations/:id/pins/:messageId', {
    onRequest: app.authenticate,
    config: limited,
    schema: {
      security, tags, operationId: 'unpinMessage',
      summary: 'Unpin a message: writes message.unpinned; not pinned: 204, nothing written',
      description: who,
      params: MessageParams,
      response: { 204: Type.Null({ description: 'Not pinned (any more)' }), ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request, reply) => {
    await pins.unpin(request.auth.userId, request.params.id, request.params.messageId)
    return reply.code(204).send(null)
  })

  app.get('/conversations/:id/pins', {
    onRequest: app.authenticate,
    schema: {
      security, tags, operationId: 'listPins',
      summary: 'The pinned messages the caller can see, newest pin first, with who pinned them and when',
      description: 'Members only (others: 404). Messages from before the caller joined are left out.',
      params: IdParams,
      response: { 200: PinList, ...errorResponses(400, 401, 404) }
    }
  }, async (request) => pins.list(request.auth.userId, request.params.id))
}

export default routes
