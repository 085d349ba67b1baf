// Realtime wiring: presence and the publisher the domain hands committed
// events to. The WebSocket channel plugs its hub and broker in here.
import fp from 'fastify-plugin'
import { MemoryPresence, type Presence } from '../../realtime/presence.js'
import type { RealtimePublisher } from '../../realtime/events.js'

declare module 'fastify' {
  interface FastifyInstance {
    presence: Presence
    realtime: RealtimePublisher
  }
}

export default fp(async (app) => {
  app.decorate('presence', new MemoryPresence())
  app.decorate('realtime', {
    publishEvents: () => {},
    publishRead: () => {}
  } satisfies RealtimePublisher)
}, { name: 'realtime' })
