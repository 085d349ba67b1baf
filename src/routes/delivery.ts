// Delivery receipts over REST (src/domain/delivery.ts); the WebSocket frame
// `delivered` does the same (routes/ws.ts).
import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses, IdParams } from '../schemas/common.js'
import { DeliveredBody } from '../schemas/conversations.js'
import { writeBudget } from './budgets.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { delivery } = app.interactions

  app.post('/conversations/:id/delivered', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security: [{ bearer: [] }],
      tags: ['conversations'],
      operationId: 'markDelivered',
      summary: 'Acknowledge receipt up to a seq: lastDeliveredSeq becomes max(old, min(seq, lastSeq)); a move sends the other members a delivered frame',
      description: 'As the WebSocket frame { type: "delivered", conversationId, seq }. Acks of one member in one conversation within DELIVERY_COALESCE_MS ' +
        'are stored and announced once (the answer waits for the write that covers it). Reading implies delivery: an ack at or below lastReadSeq changes nothing. ' +
        'Members only (others: 404).',
      params: IdParams,
      body: DeliveredBody,
      response: { 204: Type.Null({ description: 'Stored' }), ...errorResponses(400, 401, 404, 429) }
    }
  }, async (request, reply) => {
    await delivery.delivered(request.auth.userId, request.params.id, request.body.seq)
    return reply.code(204).send(null)
  })
}

export default routes
