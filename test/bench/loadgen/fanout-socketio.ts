// Load generator of the fan-out scenario against the Socket.IO server
// (baselines/socketio-server.ts): one socket.io-client per user, WebSocket
// transport only, authenticated with the user's bearer token; ready on
// `connect`, when the server has put it in its conversations' rooms. Senders
// and counting: fanout-core.ts, as for the `ws` receivers.
import { io, type Socket } from 'socket.io-client'
import type { MessageView } from '../../../src/domain/views.js'
import { counter, serveFanout } from './fanout-core.js'

const sockets: Socket[] = []

serveFanout({
  open (_index, user, { url, server }) {
    const socket = io(url, { transports: ['websocket'], auth: { token: user.token }, forceNew: true, reconnection: false })
    sockets.push(socket)
    // The size of the frame that carried an event: the engine hands over its text just before the event is decoded and emitted.
    let frameLength = 0
    socket.io.on('open', () => socket.io.engine.on('data', (data: string | ArrayBuffer) => { frameLength = typeof data === 'string' ? data.length : data.byteLength }))
    socket.on('message.created', (frame: { data: MessageView }) => counter.body(frame.data.body, frameLength, server))
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve())
      socket.once('connect_error', reject)
    })
  },
  closeAll () {
    for (const s of sockets) s.disconnect()
    sockets.length = 0
  }
})
