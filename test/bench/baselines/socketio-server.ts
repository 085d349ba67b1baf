// The Socket.IO peer: what many teams pick for realtime instead of writing
// it. Socket.IO 4 attached to a Fastify server, with @socket.io/redis-adapter
// on a Redis started by the bench (so it could run as several processes), a
// room per conversation, and each socket in the rooms of its user's
// conversations from the moment it connects. Posting is the same REST POST
// as Switchboard's (bearer token via @fastify/jwt), answered 201 with the
// message, and `io.to(conversation).emit('message.created', frame)` pushes
// the same frame as Switchboard's. Nothing is persisted: the message's seq
// comes from a counter in memory, as in the bare ws baseline, because what is
// compared here is fan-out (deliveries/s), not storage. A user's
// conversations are read from PostgreSQL once (at their first connection or
// post) and kept; membership changes are outside this benchmark.
import fastifyJwt from '@fastify/jwt'
import { createAdapter } from '@socket.io/redis-adapter'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { Redis } from 'ioredis'
import pg from 'pg'
import { Server } from 'socket.io'
import { newId } from '../../../src/domain/ids.js'
import type { MessageView } from '../../../src/domain/views.js'
import { serve } from '../harness/rpc.js'
import { POST_PATH, postSchema, type PostMessage } from './post-route.js'

interface SocketIoServerOptions { databaseUrl: string, jwtSecret: string, redisUrl: string }

async function buildSocketIoServer (opts: SocketIoServerOptions) {
  const pool = new pg.Pool({ connectionString: opts.databaseUrl })
  const pubClient = new Redis(opts.redisUrl)
  const subClient = pubClient.duplicate()
  // Fastify's default, no logger: the bench runs Switchboard at LOG_LEVEL=warn, which logs nothing on these paths,
  // and a worker's output is the bench's own. The load generators count failed posts.
  const app = Fastify()
  await app.register(fastifyJwt, { secret: opts.jwtSecret })
  const io = new Server(app.server, { adapter: createAdapter(pubClient, subClient) })
  app.addHook('onClose', async () => {
    io.close()
    await Promise.all([pubClient.quit(), subClient.quit(), pool.end()])
  })

  const conversations = new Map<string, Promise<Set<string>>>()
  function conversationsOf (userId: string): Promise<Set<string>> {
    let found = conversations.get(userId)
    if (found === undefined) {
      found = pool.query<{ conversation_id: string }>('SELECT conversation_id FROM memberships WHERE user_id = $1 AND left_at IS NULL', [userId])
        .then(({ rows }) => new Set(rows.map((r) => r.conversation_id)))
      found.catch(() => conversations.delete(userId))
      conversations.set(userId, found)
    }
    return found
  }
  const seqs = new Map<string, number>()

  io.use((socket, next) => {
    let userId: string
    try {
      userId = app.jwt.verify<{ sub: string }>(String(socket.handshake.auth.token)).sub
    } catch {
      next(new Error('unauthorized'))
      return
    }
    conversationsOf(userId).then((ids) => {
      socket.data.rooms = [...ids]
      next()
    }, next)
  })
  io.on('connection', (socket) => {
    socket.join(socket.data.rooms as string[])
  })

  async function authenticate (request: FastifyRequest, reply: FastifyReply) {
    try {
      await request.jwtVerify()
    } catch {
      return reply.code(401).send({ error: 'unauthorized' })
    }
  }

  app.post<PostMessage>(POST_PATH, { onRequest: authenticate, schema: postSchema }, async (request, reply) => {
    const senderId = request.user.sub
    const conversationId = request.params.id
    if (!(await conversationsOf(senderId)).has(conversationId)) return reply.code(404).send({ error: 'conversation not found' })
    const seq = (seqs.get(conversationId) ?? 0) + 1
    seqs.set(conversationId, seq)
    const createdAt = new Date().toISOString()
    const data: MessageView = {
      id: newId(), conversationId, seq, senderId, body: request.body.body, clientMessageId: request.body.clientMessageId ?? null,
      replyToId: null, createdAt, editedAt: null, deletedAt: null, mentions: [], mentionsAll: false, attachments: [], type: 'text', metadata: null, threadRootId: null, thread: null
    }
    io.to(conversationId).emit('message.created', { type: 'message.created', conversationId, seq, createdAt, data })
    return reply.code(201).send(data)
  })

  return app
}

serve({
  async listen (p: SocketIoServerOptions) {
    const app = await buildSocketIoServer(p)
    await app.listen({ port: 0, host: '127.0.0.1' })
    return { port: (app.server.address() as { port: number }).port }
  }
})
