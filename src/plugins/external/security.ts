// Security headers on every HTTP response, and CORS closed unless origins are
// configured. The API serves JSON, so the strictest CSP applies except on the
// interactive docs, which need their own scripts and styles.
import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'
import cors from '@fastify/cors'

export default fp(async (app) => {
  await app.register(helmet, {
    global: true,
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
  const origins = app.config.corsOrigins
  await app.register(cors, {
    origin: origins.includes('*') ? true : origins.length > 0 ? origins : false,
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
    exposedHeaders: ['Retry-After', 'X-Request-Id'],
    maxAge: 600
  })
}, { name: 'security', dependencies: ['config'] })
