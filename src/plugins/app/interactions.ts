// Reactions, pins, delivery receipts and unread totals (README "Reactions,
// pins and receipts"): services over the same event log and publisher as the
// chat services (plugins/app/chat.ts).
import fp from 'fastify-plugin'
import { createDeliveryService, type DeliveryService } from '../../domain/delivery.js'
import { createPinService, type PinService } from '../../domain/pins.js'
import { createReactionService, type ReactionService } from '../../domain/reactions.js'

declare module 'fastify' {
  interface FastifyInstance {
    interactions: { reactions: ReactionService, pins: PinService, delivery: DeliveryService }
  }
}

export default fp(async (app) => {
  const { config } = app
  const deps = { prisma: app.db.prisma, pool: app.db.pool, publisher: app.realtime }
  app.decorate('interactions', {
    reactions: createReactionService({
      ...deps,
      custom: config.reactionsCustom.split(',').filter(Boolean),
      perUserPerMessage: config.reactionsPerUserPerMessage,
      distinctPerMessage: config.reactionsDistinctPerMessage
    }),
    pins: createPinService({ ...deps, perConversation: config.pinsPerConversation }),
    delivery: createDeliveryService({ ...deps, coalesceMs: config.deliveryCoalesceMs })
  })
  // Before the database closes: acks still in their window are written.
  app.addHook('preClose', () => app.interactions.delivery.close())
}, { name: 'interactions', dependencies: ['db', 'config', 'realtime'] })
