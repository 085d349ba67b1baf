// Request ids on responses, and a clean 503 for requests that arrive on a
// kept-alive connection while the server shuts down.
import fp from 'fastify-plugin'
import { sendError } from '../../routes/error-reply.js'

export default fp(async (app) => {
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
    if (closing) {
      reply.header('connection', 'close')
      return sendError(reply, 503, 'UNAVAILABLE', 'The server is shutting down; retry shortly')
    }
  })
  // Responses finished during shutdown close their connection, so a kept-alive
  // socket does not hold the process open until its keep-alive timeout.
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close')
  })
}, { name: 'lifecycle' })
