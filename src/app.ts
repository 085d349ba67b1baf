// The application as one plugin: external plugins, then our own, then routes,
// with one error handler and one not-found handler. server.ts and the tests
// both build it (wrapped in fastify-plugin, so its decorators reach the root);
// only server.ts listens.
import { LogController, type FastifyError, type FastifyHttpOptions, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify'
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { randomUUID } from 'node:crypto'
import type { AppConfig } from './config.js'
import { redactUrl } from './log-redaction.js'
import { sendError } from './routes/error-reply.js'
import configPlugin from './plugins/app/config.js'
import dbPlugin from './plugins/app/db.js'
import errorsPlugin from './plugins/app/errors.js'
import accountsPlugin from './plugins/app/accounts.js'
import sessionRetentionPlugin from './plugins/app/retention.js'
import authenticatePlugin from './plugins/app/authenticate.js'
import realtimePlugin from './plugins/app/realtime.js'
import chatPlugin from './plugins/app/chat.js'
import interactionsPlugin from './plugins/app/interactions.js'
import safetyPlugin from './plugins/app/safety.js'
import searchPlugin from './plugins/app/search.js'
import notificationsPlugin from './plugins/app/notifications.js'
import pushPlugin from './plugins/app/push.js'
import lifecyclePlugin from './plugins/app/lifecycle.js'
import validationPlugin from './plugins/app/validation.js'
import metricsPlugin from './plugins/app/metrics.js'
import mePlugin from './plugins/app/me.js'
import uploadsPlugin from './plugins/app/uploads.js'
import jwtPlugin from './plugins/external/jwt.js'
import securityPlugin from './plugins/external/security.js'
import rateLimitPlugin from './plugins/external/rate-limit.js'
import swaggerPlugin from './plugins/external/swagger.js'
import websocketPlugin from './plugins/external/websocket.js'
import webPlugin from './plugins/external/static.js'
import healthRoutes from './routes/health.js'
import authRoutes from './routes/auth.js'
import userRoutes from './routes/users.js'
import wsRoutes from './routes/ws.js'
import conversationRoutes from './routes/conversations.js'
import messageRoutes from './routes/messages.js'
import threadRoutes from './routes/threads.js'
import metricsRoutes from './routes/metrics.js'
import docsRoutes from './routes/docs.js'
import meRoutes from './routes/me.js'
import passwordResetRoutes from './routes/password-reset.js'
import blockRoutes from './routes/blocks.js'
import reportRoutes from './routes/reports.js'
import moderationRoutes from './routes/moderation.js'
import adminRoutes from './routes/admin.js'
import deviceRoutes from './routes/devices.js'
import uploadRoutes from './routes/uploads.js'
import storageRoutes from './routes/storage.js'
import notificationRoutes from './routes/notifications.js'
import reactionRoutes from './routes/reactions.js'
import pinRoutes from './routes/pins.js'
import deliveryRoutes from './routes/delivery.js'
import unreadRoutes from './routes/unread.js'
import searchRoutes from './routes/search.js'
import channelRoutes from './routes/channels.js'
import inviteRoutes from './routes/invites.js'
import syncRoutes from './routes/sync.js'

export interface AppOptions {
  config: AppConfig
  databaseUrl: string
  jwtSecret: string
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/

/**
 * TRUST_PROXY as Fastify takes it. Fastify reads a bare number as "trust no
 * one" (a count cannot vouch for the peer), so a hop count becomes the rule
 * it stands for: the nearest `hops` addresses (the socket's peer first) are
 * our proxies, and the client is the address the outermost of them saw.
 */
function trustProxyOption (trust: AppConfig['trustProxy']): boolean | string[] | ((address: string, hop: number) => boolean) {
  return typeof trust === 'number' ? (_address, hop) => hop < trust : trust
}

/** The longest path parameter the router matches (every one is an id or a short code). */
const MAX_PARAM_LENGTH = 200

/**
 * Errors Fastify answers before a route (and so the error handler) is reached:
 * a malformed percent-encoding in the path (FST_ERR_BAD_URL), a path parameter
 * past MAX_PARAM_LENGTH (FST_ERR_MAX_PARAM_LENGTH, 414 by default), a failing
 * async route constraint (FST_ERR_ASYNC_CONSTRAINT). They get the error body
 * and stable codes of every other answer, not Fastify's FST_ERR_* codes.
 */
function frameworkError (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  reply.header('x-request-id', request.id)
  if (error.code === 'FST_ERR_BAD_URL') return sendError(reply, 400, 'VALIDATION_FAILED', 'Malformed percent-encoding in the URL path')
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return sendError(reply, 400, 'VALIDATION_FAILED', `A path parameter is longer than ${MAX_PARAM_LENGTH} characters`)
  }
  const status = typeof error.statusCode === 'number' ? error.statusCode : 500
  if (status >= 400 && status < 500) return sendError(reply, status, 'VALIDATION_FAILED', error.message)
  request.log.error({ err: error }, 'request failed')
  return sendError(reply, 500, 'INTERNAL_ERROR', 'Internal server error')
}

/**
 * A request Node's HTTP parser refuses (malformed, headers too large, not
 * complete in time) never reaches Fastify: answered on the raw socket, as
 * Fastify's default does, but with the error body and a stable code.
 */
function clientError (err: Error & { code?: string }, socket: Socket) {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [status, code, message] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? [408, 'VALIDATION_FAILED', 'The request was not complete in time']
    : err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'PAYLOAD_TOO_LARGE', 'Request headers are too large']
      : [400, 'VALIDATION_FAILED', 'Malformed HTTP request']
  const body = JSON.stringify({ statusCode: status, error: STATUS_CODES[status], code, message })
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy(err)
}

/**
 * A request with an `Expect` other than 100-continue never reaches Fastify
 * either: Node answers 417 with no body unless this listener answers it.
 */
function expectationFailed (_req: IncomingMessage, res: ServerResponse) {
  const body = JSON.stringify({ statusCode: 417, error: STATUS_CODES[417], code: 'VALIDATION_FAILED', message: 'Only Expect: 100-continue is supported' })
  res.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' })
  res.end(body)
}

/** Fastify's own options, shared by server.ts and the tests. */
export function appServerOptions (config: AppConfig): FastifyHttpOptions<Server> {
  return {
    logger: {
      level: config.logLevel,
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'req.query.access_token', '*.password', '*.refreshToken', '*.accessToken'],
        censor: '[redacted]'
      },
      serializers: {
        // Browsers authenticate the WebSocket upgrade with ?access_token=...; keep it out of logs.
        req: (req) => ({
          method: req.method,
          url: redactUrl(req.url, (req as { query?: unknown }).query),
          host: req.host,
          remoteAddress: req.ip,
          remotePort: req.socket?.remotePort
        })
      }
    },
    trustProxy: trustProxyOption(config.trustProxy),
    bodyLimit: config.bodyLimitBytes,
    // A client-supplied X-Request-Id is kept when it is sane, so a request
    // can be followed across a proxy and into our logs.
    genReqId: (req) => {
      const header = req.headers['x-request-id']
      return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID()
    },
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    // Slow-header (slowloris) and idle-connection limits: a client cannot hold
    // a socket open without sending a complete request in time.
    requestTimeout: config.httpRequestTimeoutMs,
    keepAliveTimeout: config.httpKeepAliveTimeoutMs,
    http: {
      headersTimeout: config.httpHeadersTimeoutMs,
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(config.httpHeadersTimeoutMs / 4)))
    },
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: frameworkError,
    clientErrorHandler: clientError
  }
}

const app: FastifyPluginAsync<AppOptions> = async (fastify, opts) => {
  fastify.server.on('checkExpectation', expectationFailed)
  await fastify.register(configPlugin, { config: opts.config })
  await fastify.register(errorsPlugin)
  await fastify.register(validationPlugin)
  await fastify.register(lifecyclePlugin)

  await fastify.register(securityPlugin)
  await fastify.register(rateLimitPlugin)
  await fastify.register(jwtPlugin, { secret: opts.jwtSecret })
  await fastify.register(swaggerPlugin)
  await fastify.register(websocketPlugin)

  await fastify.register(dbPlugin, { databaseUrl: opts.databaseUrl })
  if (opts.config.metricsEnabled) await fastify.register(metricsPlugin)
  await fastify.register(accountsPlugin)
  await fastify.register(authenticatePlugin)
  await fastify.register(realtimePlugin)
  await fastify.register(sessionRetentionPlugin)
  await fastify.register(notificationsPlugin, { databaseUrl: opts.databaseUrl })
  await fastify.register(pushPlugin, { databaseUrl: opts.databaseUrl })
  await fastify.register(uploadsPlugin, { secret: opts.jwtSecret })
  await fastify.register(chatPlugin)
  await fastify.register(interactionsPlugin)
  await fastify.register(mePlugin)
  await fastify.register(safetyPlugin)
  await fastify.register(searchPlugin, { databaseUrl: opts.databaseUrl })

  await fastify.register(healthRoutes)
  await fastify.register(docsRoutes)
  if (opts.config.metricsEnabled) await fastify.register(metricsRoutes)
  if (opts.config.webEnabled) await fastify.register(webPlugin)
  await fastify.register(async (v1) => {
    await v1.register(authRoutes, { prefix: '/auth' })
    await v1.register(userRoutes)
    await v1.register(wsRoutes)
    await v1.register(conversationRoutes)
    await v1.register(messageRoutes)
    await v1.register(threadRoutes)
    await v1.register(meRoutes)
    await v1.register(passwordResetRoutes, { prefix: '/auth' })
    await v1.register(blockRoutes)
    await v1.register(reportRoutes)
    await v1.register(moderationRoutes)
    await v1.register(adminRoutes, { prefix: '/admin' })
    await v1.register(deviceRoutes)
    await v1.register(uploadRoutes)
    const local = fastify.localStorage
    if (local !== null) await v1.register(storageRoutes, { storage: local, secret: opts.jwtSecret })
    await v1.register(notificationRoutes)
    await v1.register(reactionRoutes)
    await v1.register(pinRoutes)
    await v1.register(deliveryRoutes)
    await v1.register(unreadRoutes)
    await v1.register(syncRoutes)
    await v1.register(searchRoutes)
    await v1.register(channelRoutes)
    await v1.register(inviteRoutes)
  }, { prefix: '/v1' })
}

export default app
