// Security headers on every HTTP response (helmet), and CORS closed unless
// origins are configured. The middleware is built once: @fastify/helmet builds
// helmet anew on every request, a cost each post paid for the same headers.
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import helmet from 'helmet'
import cors from '@fastify/cors'

/** Where the web page fetches and sends files with the s3 driver (presigned URLs); nothing more with local. */
function storageOrigins (config: { storageDriver: 'local' | 's3', s3Endpoint?: string | undefined, s3Bucket?: string | undefined, s3Region: string }): string[] {
  if (config.storageDriver !== 's3') return []
  if (config.s3Endpoint !== undefined) return [new URL(config.s3Endpoint).origin]
  return [`https://${config.s3Bucket ?? '*'}.s3.${config.s3Region}.amazonaws.com`, `https://s3.${config.s3Region}.amazonaws.com`]
}

export default fp(async (app) => {
  const storage = storageOrigins(app.config)
  const headers = helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', ...storage],
        mediaSrc: ["'self'", ...storage],
        connectSrc: ["'self'", ...storage],
        frameAncestors: ["'none'"],
        // Plain-HTTP development and LAN testing must keep working.
        upgradeInsecureRequests: null
      }
    },
    crossOriginResourcePolicy: { policy: 'same-site' }
  })
  // A WebSocket upgrade that succeeds is answered by ws's 101, which carries
  // none of these headers: setting them on every upgrade was work for nothing.
  // One that is refused (401, 429, 404...) is an HTTP response like any other,
  // so it gets them on its way out (onSend runs for every reply.send, errors included).
  // (IncomingMessage.upgrade: Node sets it on requests it hands to 'upgrade' listeners.)
  const isUpgrade = (request: FastifyRequest) => (request.raw as { upgrade?: boolean }).upgrade === true
  app.addHook('onRequest', (request, reply, done) => {
    if (isUpgrade(request)) return done()
    headers(request.raw, reply.raw, (err?: unknown) => { done(err as Error | undefined) })
  })
  app.addHook('onSend', (request, reply, payload, done) => {
    if (!isUpgrade(request)) return done(null, payload)
    headers(request.raw, reply.raw, (err?: unknown) => { if (err === undefined) done(null, payload); else done(err as Error) })
  })
  const origins = app.config.corsOrigins
  await app.register(cors, {
    origin: origins.includes('*') ? true : origins.length > 0 ? origins : false,
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
    exposedHeaders: ['Retry-After', 'X-Request-Id'],
    maxAge: 600,
    // An OPTIONS without Access-Control-Request-Method is not a browser's
    // preflight: strict mode answered it 400 in text/plain, without our error
    // body. It gets the plain 204 an OPTIONS gets (no method is allowed by it).
    strictPreflight: false
  })
}, { name: 'security', dependencies: ['config'] })
