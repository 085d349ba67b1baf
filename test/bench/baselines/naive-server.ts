// The naive peer: the chat server the tutorials teach, on Switchboard's own
// stack and tables. Fastify with @fastify/jwt and @fastify/websocket, the
// project's generated Prisma client over @prisma/adapter-pg (the driver's
// default pool), no batching, no caches. A post is one interactive
// transaction (is the sender a member, bump the conversation's last_seq,
// create the message and its event row), then the conversation's members are
// read with Prisma and the same message.created frame as Switchboard's is
// sent to each of their open sockets. Written as a tutorial reader would
// write it, not tuned: it is the baseline of "what would I get without
// Switchboard", so it must not be made slow on purpose either.
import fastifyJwt from '@fastify/jwt'
import fastifyWebsocket from '@fastify/websocket'
import { PrismaPg } from '@prisma/adapter-pg'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import { newId } from '../../../src/domain/ids.js'
import { toMessage } from '../../../src/domain/views.js'
import type { MessageRow } from '../../../src/repositories/messages.js'
import { PrismaClient } from '../../../src/generated/prisma/client.js'
import { serve } from '../harness/rpc.js'
import { POST_PATH, postSchema, type PostMessage } from './post-route.js'

interface NaiveServerOptions { databaseUrl: string, jwtSecret: string }

async function buildNaiveServer (opts: NaiveServerOptions) {
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: opts.databaseUrl }) })
  // Fastify's default, no logger: the bench runs Switchboard at LOG_LEVEL=warn, which logs nothing on these paths,
  // and a worker's output is the bench's own. The load generators count failed posts.
  const app = Fastify()
  await app.register(fastifyJwt, { secret: opts.jwtSecret })
  await app.register(fastifyWebsocket)
  app.addHook('onClose', async () => { await prisma.$disconnect() })

  // Who is connected to this process: user id -> their open sockets.
  const sockets = new Map<string, Set<WebSocket>>()

  // A bearer token, or ?token= for browsers (which cannot set headers on a WebSocket).
  async function authenticate (request: FastifyRequest, reply: FastifyReply) {
    try {
      const { token } = request.query as { token?: string }
      if (token !== undefined) request.user = app.jwt.verify(token)
      else await request.jwtVerify()
    } catch {
      return reply.code(401).send({ error: 'unauthorized' })
    }
  }

  app.get('/v1/ws', { websocket: true, onRequest: authenticate }, (socket, request) => {
    const userId = request.user.sub
    let mine = sockets.get(userId)
    if (mine === undefined) sockets.set(userId, mine = new Set())
    mine.add(socket)
    socket.on('close', () => {
      mine.delete(socket)
      if (mine.size === 0) sockets.delete(userId)
    })
  })

  app.post<PostMessage>(POST_PATH, { onRequest: authenticate, schema: postSchema }, async (request, reply) => {
    const userId = request.user.sub
    const conversationId = request.params.id
    const message = await prisma.$transaction(async (tx) => {
      const membership = await tx.membership.findUnique({ where: { conversationId_userId: { conversationId, userId } } })
      if (membership === null || membership.leftAt !== null) return null
      const conversation = await tx.conversation.update({
        where: { id: conversationId },
        data: { lastSeq: { increment: 1 }, timelineCount: { increment: 1 }, lastActivityAt: new Date() }
      })
      const created = await tx.message.create({
        data: {
          id: newId(),
          conversationId,
          seq: conversation.lastSeq,
          timelineOrd: conversation.timelineCount,
          senderId: userId,
          body: request.body.body,
          clientMessageId: request.body.clientMessageId ?? null
        }
      })
      await tx.event.create({ data: { conversationId, seq: created.seq, type: 'message.created', data: JSON.parse(JSON.stringify(toMessage(created as unknown as MessageRow))) } })
      return created
    })
    if (message === null) return reply.code(404).send({ error: 'conversation not found' })

    const data = toMessage(message as unknown as MessageRow)
    const frame = JSON.stringify({ type: 'message.created', conversationId, seq: data.seq, createdAt: data.createdAt, data })
    const members = await prisma.membership.findMany({ where: { conversationId, leftAt: null }, select: { userId: true } })
    for (const member of members) {
      for (const socket of sockets.get(member.userId) ?? []) socket.send(frame)
    }
    return reply.code(201).send(data)
  })

  return app
}

serve({
  async listen (p: NaiveServerOptions) {
    const app = await buildNaiveServer(p)
    await app.listen({ port: 0, host: '127.0.0.1' })
    return { port: (app.server.address() as { port: number }).port }
  }
})
