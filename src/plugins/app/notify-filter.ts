// The one place a recipient is dropped from notifications by choice: device
// push and the push webhook both ask `app.shouldNotify` for every recipient
// of a message. Notification preferences (all / mentions / none, muteUntil,
// per user and per conversation) replace the default, which notifies.
import fp from 'fastify-plugin'
import { notifyEveryone, type NotifyFilter } from '../../notifications/recipients.js'

declare module 'fastify' {
  interface FastifyInstance {
    shouldNotify: NotifyFilter
  }
}

export default fp(async (app) => {
  app.decorate('shouldNotify', notifyEveryone)
}, { name: 'notify-filter', dependencies: ['db'] })
