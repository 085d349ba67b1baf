// Security headers on every HTTP response (helmet), and CORS closed unless
// origins are configured. The middleware is built once: @fastify/helmet builds
// helmet anew on every request, a cost each post paid for the same headers.
import fp from 'fastify-plugin'
import helmet from 'helmet'
import cors from '@fastify/cors'

export default fp(async (app) => {
  const headers = helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
        // Plain-HTTP development and LAN testing must keep working.
        upgradeInsecureRequests: null
      }
    },
    crossOriginResourcePolicy: { policy: 'same-site' }
  })
  app.addHook('onRequest', (request, reply, done) => { headers(request.raw, reply.raw, (err?: unknown) => { done(err as Error | undefined) }) })
  const origins = app.config.corsOrigins
  await app.register(cors, {
    origin: origins.includes('*') ? true : origins.length > 0 ? origins : false,
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
    exposedHeaders: ['Retry-After', 'X-Request-Id'],
    maxAge: 600
  })
}, { name: 'security', dependencies: ['config'] })
