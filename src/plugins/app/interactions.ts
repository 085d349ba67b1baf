// Reactions, pins, delivery receipts and unread totals (README "Reactions,
// pins and receipts"): services over the same event log and publisher as the
// chat services (plugins/app/chat.ts).
import fp from 'fastify-plugin'
import { createPinService, type PinService } from '../../domain/pins.js'
import { createReactionService, type ReactionService } from '../../domain/reactions.js'

declare module 'fastify' {
  interface FastifyInstance {
    interactions: { reactions: ReactionService, pins: PinService }
  }
}

export default fp(async (app) => {
  const { config } = app
  const deps = { prisma: app.db.prisma, pool: app.db.pool, publisher: app.realtime }
  app.decorate('interactions', {
    reactions: createReactionService({
      ...deps,
      custom: config.reactionsCustom.split(',').filter(Boolean),
      perUserPerMessage: config.reactionsPerUserPerMessage
    }),
    pins: createPinService({ ...deps, perConversation: config.pinsPerConversation })
  })
}, { name: 'interactions', dependencies: ['db', 'config', 'realtime'] })
