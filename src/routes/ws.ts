// GET /v1/ws: the push channel. The token is checked before the upgrade, so a
// bad one gets a plain HTTP 401 and no socket is ever opened; a plain GET (no
// upgrade) with a good one gets 426 UPGRADE_REQUIRED. This route adapts
// the socket: it parses client frames, calls the realtime node, and answers
// refused frames; what a frame does is the node's (realtime/node.ts).
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { WebSocket } from 'ws'
import { AppError, unauthorized } from '../domain/errors.js'
import { Connection } from '../realtime/connection.js'
import { CloseCode, parseClientFrame } from '../realtime/protocol.js'
import { localSocketSlots, sharedSocketSlots } from '../realtime/socket-slots.js'
import { sendError } from './error-reply.js'

function bearerToken (request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  if (typeof header === 'string' && header.startsWith('Bearer ')) return header.slice(7).trim()
  const query = request.query as { access_token?: unknown }
  return typeof query.access_token === 'string' ? query.access_token : undefined
}

interface Upgrade { response: ServerResponse, stamp: number, connectionId: string, arrived?: () => void }

export default async function wsRoutes (app: FastifyInstance) {
  const node = app.realtime
  const limits = {
    maxBacklogBytes: app.config.wsMaxBacklogBytes,
    framesPerSecond: app.config.wsFramesPerSecond,
    typingPerSecond: app.config.typingPerSecond,
    closeGraceMs: app.config.wsCloseGraceMs
  }
  // Of each upgrade, until the socket is handed over: its HTTP response, the
  // revocation stamp taken before its token was checked, and, once the token
  // is good, the end of its user's arrival (presence: realtime/local-presence.ts).
  const upgrades = new WeakMap<FastifyRequest['raw'], Upgrade>()
  // Sockets per user: counted in Redis across processes with BROKER=redis, else per process (realtime/socket-slots.ts).
  const max = app.config.wsMaxConnectionsPerUser
  const slots = app.limitsRedis === undefined
    ? localSocketSlots(max)
    : sharedSocketSlots({
      redis: app.limitsRedis,
      prefix: app.config.brokerChannel,
      max,
      ttlMs: app.config.wsSlotTtlMs,
      open: () => node.hub.connectionIdsByUser(),
      onError: (err) => app.log.warn({ err }, 'sockets per user: Redis failed; counting this process only')
    })
  app.addHook('onClose', async () => { slots.close() })

  async function authenticateUpgrade (request: FastifyRequest, reply: FastifyReply) {
    const connectionId = randomUUID()
    const upgrade: Upgrade = { response: reply.raw, stamp: app.revocationStamp(), connectionId }
    upgrades.set(request.raw, upgrade)
    const token = bearerToken(request)
    if (token === undefined || token === '') throw unauthorized()
    // Once the token is ours (before its session is checked, a database read at times), the user is coming back:
    // a presence grace period that ends while the upgrade is under way (a reconnect storm queues upgrades for
    // seconds) keeps them online. Ended when the socket is handed over (openSocket), when the upgrade is refused,
    // or when the connection closes before either. A plain GET opens no socket: nobody arrives.
    const tcp = request.raw.socket
    const arrive = ({ userId }: { userId: string }) => {
      const arrived = node.presence.arriving(userId)
      tcp.once('close', arrived)
      upgrade.arrived = () => {
        tcp.off('close', arrived)
        arrived()
      }
    }
    try {
      request.auth = await app.verifyAccessToken(token, request.ws ? arrive : undefined)
      // A plain GET opens no socket, so it takes no slot: the HTTP handler answers it.
      if (!request.ws) return
      // A slot taken here and never used (the handshake failed) lapses by itself (WS_SLOT_TTL_MS).
      if (!await slots.take(request.auth.userId, connectionId, node.hub.connectionsOf(request.auth.userId))) {
        throw new AppError(429, 'RATE_LIMITED', 'Too many open connections for this user')
      }
    } catch (err) {
      upgrade.arrived?.()
      throw err
    }
  }

  function reject (conn: Connection, code: string, message: string) {
    conn.sendJson({ type: 'error', code, message })
    if (conn.strike()) conn.close(CloseCode.policyViolation, 'too many invalid frames')
  }

  function onTyping (conn: Connection, conversationId: string, log: () => FastifyBaseLogger) {
    if (!conn.takeTypingToken()) return reject(conn, 'RATE_LIMITED', 'Too many typing frames')
    node.typing(conn.userId, conversationId).catch((err: unknown) => {
      if (err instanceof AppError) return reject(conn, err.code, err.message)
      log().warn({ err }, 'typing frame failed')
      conn.sendJson({ type: 'error', code: 'UNAVAILABLE', message: 'Could not handle the frame; retry' })
    })
  }

  // Coalesced per member and conversation by the service (domain/delivery.ts), so no budget of its own.
  function onDelivered (conn: Connection, conversationId: string, seq: number, log: () => FastifyBaseLogger) {
    app.interactions.delivery.delivered(conn.userId, conversationId, seq).catch((err: unknown) => {
      if (err instanceof AppError) return reject(conn, err.code, err.message)
      log().warn({ err }, 'delivered frame failed')
      conn.sendJson({ type: 'error', code: 'UNAVAILABLE', message: 'Could not handle the frame; retry' })
    })
  }

  // The 101 response and the ready frame leave in one write: the handshake
  // is written (by ws) between this hook and the handler, which uncorks once
  // ready is queued. A write system call per socket is the largest cost of
  // opening one after the database's; an aborted handshake ends the socket,
  // which flushes it. A plain GET (no upgrade) is answered over HTTP: not held.
  function holdHandshake (request: FastifyRequest, _reply: FastifyReply, done: () => void) {
    if (request.ws) request.raw.socket.cork()
    done()
  }

  // A GET without an upgrade (a browser tab, a proxy that dropped the Upgrade
  // header): the error body with a stable code, and the protocol to upgrade to.
  function plainGet (_request: FastifyRequest, reply: FastifyReply) {
    reply.header('upgrade', 'websocket')
    return sendError(reply, 426, 'UPGRADE_REQUIRED', 'GET /v1/ws is a WebSocket: open it with an upgrade (Connection: Upgrade, Upgrade: websocket)')
  }

  function openSocket (socket: WebSocket, request: FastifyRequest) {
    // request.raw.socket is the TCP socket the WebSocket took over at the upgrade.
    const conn = new Connection(socket, upgrades.get(request.raw)?.connectionId ?? randomUUID(), request.auth.userId, request.auth.sessionId, limits, request.raw.socket)
    const reqId = request.id
    // Made when needed (rarely): a logger kept per socket costs memory on every idle connection.
    const log = () => app.log.child({ reqId, connectionId: conn.id, userId: conn.userId })

    // Nothing of the upgrade's HTTP exchange has to outlive it, but two
    // references would keep it (request, reply, headers, loggers: several KiB
    // per idle socket): the TCP socket still points at the upgrade's HTTP
    // response, and @fastify/websocket's error listener holds the request and
    // reply. Detach the one and replace the other with an equivalent that does not.
    const tcp = request.raw.socket
    const upgrade = upgrades.get(request.raw)
    upgrades.delete(request.raw)
    if (upgrade !== undefined && upgrade.response.socket === tcp) upgrade.response.detachSocket(tcp)
    socket.removeAllListeners('error')
    socket.on('error', (err) => {
      log().debug({ err }, 'socket error')
      socket.terminate()
    })

    // Listeners go on before anything async, or early frames would be lost.
    socket.on('message', (data, isBinary) => {
      // Closing (1008, 4008, ...): what the peer still sends until the close completes is not read.
      if (!conn.open) return
      // Every frame, valid or not, spends the connection's frame budget first (WS_FRAMES_PER_SECOND).
      if (!conn.takeFrameToken()) return reject(conn, 'RATE_LIMITED', 'Too many frames; slow down')
      if (isBinary) return reject(conn, 'MALFORMED_FRAME', 'Binary frames are not supported')
      // A listener that throws is an uncaught exception: the process would go down with every socket on it.
      try {
        const parsed = parseClientFrame(data.toString())
        if (!parsed.ok) return reject(conn, parsed.code, parsed.message)
        if (parsed.frame.type === 'ping') return conn.sendJson({ type: 'pong' })
        if (parsed.frame.type === 'delivered') return onDelivered(conn, parsed.frame.conversationId, parsed.frame.seq, log)
        onTyping(conn, parsed.frame.conversationId, log)
      } catch (err) {
        log().error({ err }, 'client frame failed')
        conn.close(CloseCode.internalError, 'internal error')
      }
    })
    socket.on('pong', () => { conn.alive = true })
    socket.on('close', () => {
      node.disconnect(conn)
      slots.release(conn.userId, conn.id)
    })

    const ready = (cursor: string | null) => {
      conn.ready({ type: 'ready', userId: conn.userId, connectionId: conn.id, heartbeatMs: app.config.wsHeartbeatMs, cursor })
      tcp.uncork()
    }
    // What is sent to the socket before its ready frame (a push, a presence change) follows it; a close before
    // it sends it first, without a cursor.
    conn.holdUntilReady(() => ready(null))
    const joining = node.connect(conn)
    upgrade?.arrived?.()
    // Now counted among the user's open sockets: its slot is no longer a handshake under way.
    slots.opened(conn.userId, conn.id)
    // A sharded broker subscribing this process to the user's shard: ready (and the client's catch-up after it)
    // waits until pushes for the user arrive here. Then the ready frame's cursor, a snapshot taken after that
    // (realtime/sync-clock.ts): a client may sync up to it and take the rest from the socket. Without one (the
    // database did not answer), null: the client syncs up to now.
    void (joining ?? Promise.resolve()).then(async () => {
      const cursor = await app.syncClock.after().catch((err: unknown) => {
        log().warn({ err }, 'could not take the sync cursor of the ready frame')
        return null
      })
      ready(cursor)
    }, (err: unknown) => {
      log().warn({ err }, 'could not subscribe to the user shard')
      tcp.uncork()
      conn.close(CloseCode.goingAway, 'could not subscribe: reconnect')
    }).catch((err: unknown) => { log().error({ err }, 'could not send the ready frame') })
    // A revocation whose close pass ran between the token check and hub.add
    // did not see this socket; from here on one would. So if any revocation
    // was seen since the check, the database decides whether this one stays.
    if (upgrade !== undefined) {
      app.revokedSince(conn.sessionId, upgrade.stamp).then((revoked) => {
        if (revoked) conn.close(CloseCode.sessionEnded, 'session ended')
      }, (err: unknown) => {
        // Unknown: the client reconnects, and its upgrade is checked afresh.
        log().warn({ err }, 'could not recheck the session of a new socket')
        conn.close(CloseCode.goingAway, 'could not check the session: reconnect')
      })
    }
  }

  app.route({
    method: 'GET',
    url: '/ws',
    onRequest: authenticateUpgrade,
    preHandler: holdHandshake,
    schema: { hide: true },
    handler: plainGet,
    wsHandler: openSocket
  })
}
