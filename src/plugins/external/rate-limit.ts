// Rate limiting is opt-in per route (config.rateLimit); breaching answers 429
// RATE_LIMITED with Retry-After.
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import { AppError } from '../../domain/errors.js'

export default fp(async (app) => {
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) =>
      new AppError(429, 'RATE_LIMITED', `Too many requests; retry in ${Math.ceil(context.ttl / 1000)} s`)
  })
}, { name: 'rate-limit' })
