// Load generator of the fan-out scenarios with `ws` receivers, one WebSocket
// per user: against Switchboard ('ours', bearer token, ready once its first
// frame arrives), the naive Fastify + Prisma server ('naive', bearer token,
// ready once open) and the bare ws baseline ('bare', the user named by index);
// on one server, or spread over several (scenarios/scaling.ts).
// Senders and counting: fanout-core.ts.
import WebSocket from 'ws'
import { counter, serveFanout } from './fanout-core.js'

const sockets: WebSocket[] = []

serveFanout({
  open (index, user, { url, mode, server }) {
    const wsBase = url.replace(/^http/, 'ws')
    const ws = mode === 'bare'
      ? new WebSocket(`${wsBase}/?u=${index}`, { perMessageDeflate: false, skipUTF8Validation: true })
      : new WebSocket(`${wsBase}/v1/ws`, { headers: { authorization: `Bearer ${user.token}` }, perMessageDeflate: false, skipUTF8Validation: true })
    sockets.push(ws)
    return new Promise((resolve, reject) => {
      // Switchboard's first frame is `ready`: the connection is registered then. The others send nothing first.
      if (mode === 'ours') ws.once('message', () => resolve())
      else ws.once('open', () => resolve())
      ws.on('message', (data: Buffer) => counter.frame(data, server))
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)))
      ws.once('error', reject)
    })
  },
  closeAll () {
    for (const ws of sockets) ws.terminate()
    sockets.length = 0
  }
})
