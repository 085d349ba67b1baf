// Per-user rate limits of authenticated routes (@fastify/rate-limit, counted
// after authentication, one counter per user and route). Every write a user
// makes has a budget: one that members are told of costs them all a frame,
// and the others a statement each.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { RetryLaterError } from '../domain/errors.js'

const byUser = (request: FastifyRequest) => request.auth.userId

/** `max` requests per `timeWindow` ms for each user on the route. */
export const perUser = (max: number, timeWindow: number) => ({ rateLimit: { max, timeWindow, hook: 'preHandler' as const, keyGenerator: byUser } })

/** Posting's budget (POST_RATE_LIMIT_PER_SECOND per user and route), for the writes that are not posts. */
export const writeBudget = (app: FastifyInstance) => perUser(app.config.postRateLimitPerSecond, 1000)

export const WRITE_BUDGET_TEXT = 'Posting\'s budget per user (POST_RATE_LIMIT_PER_SECOND): 429 RATE_LIMITED with Retry-After above it.'

/**
 * A second budget on a route that has one already (the plugin runs one limit
 * per request): a preHandler counting `max` per `timeWindow` ms for each key,
 * in the same store (Redis with BROKER=redis); 429 RATE_LIMITED with
 * Retry-After above it.
 */
export function extraBudget (app: FastifyInstance, max: number, timeWindow: number, key: (request: FastifyRequest) => string) {
  const limit = app.createRateLimit({ max, timeWindow, keyGenerator: key })
  return async (request: FastifyRequest) => {
    const counted = await limit(request)
    if (!counted.isAllowed && counted.isExceeded) throw new RetryLaterError('RATE_LIMITED', `Too many requests; retry in ${counted.ttlInSeconds} s`, counted.ttlInSeconds)
  }
}
