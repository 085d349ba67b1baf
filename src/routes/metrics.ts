// GET /metrics: Prometheus text format. With METRICS_TOKEN set it needs
// `Authorization: Bearer <token>`.
import type { FastifyInstance } from 'fastify'
import { createHash, timingSafeEqual } from 'node:crypto'
import { sendError } from './error-reply.js'

const digest = (s: string) => createHash('sha256').update(s).digest()

export default async function metricsRoutes (app: FastifyInstance) {
  const token = app.config.metricsToken
  const expected = token === undefined ? undefined : digest(`Bearer ${token}`)

  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    if (expected !== undefined) {
      const given = request.headers.authorization
      // Compared as hashes: equal length, constant time.
      if (typeof given !== 'string' || !timingSafeEqual(digest(given), expected)) {
        reply.header('www-authenticate', 'Bearer realm="metrics"')
        return sendError(reply, 401, 'UNAUTHORIZED', 'Missing or invalid metrics token')
      }
    }
    const { registry } = app.metrics
    return reply.type(registry.contentType).send(await registry.metrics())
  })
}
