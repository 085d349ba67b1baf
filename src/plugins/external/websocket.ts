// @fastify/websocket (ws). Frames over the limit close the socket with 1009;
// per-message compression is off: it costs CPU per socket on every push.
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'

export default fp(async (app) => {
  await app.register(websocket, {
    options: { maxPayload: app.config.wsMaxFrameBytes, perMessageDeflate: false, clientTracking: false },
    // Sockets are closed by the realtime plugin (1001) before the server closes.
    preClose: async () => {}
  })
}, { name: 'websocket', dependencies: ['config'] })
