// Realtime wiring: presence (and, with the WebSocket channel, hub and broker).
import fp from 'fastify-plugin'
import { MemoryPresence, type Presence } from '../../realtime/presence.js'

declare module 'fastify' {
  interface FastifyInstance {
    presence: Presence
  }
}

export default fp(async (app) => {
  app.decorate('presence', new MemoryPresence())
}, { name: 'realtime' })
