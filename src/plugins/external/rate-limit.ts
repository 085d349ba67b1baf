// Rate limiting is opt-in per route (config.rateLimit); breaching answers 429
// RATE_LIMITED with Retry-After. With BROKER=redis the counters live in that
// Redis, so a limit holds across every process and machine sharing the broker
// channel (a client spreading requests over them gets no more); otherwise
// each process counts its own.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import { Cluster, Redis } from 'ioredis'
import { createRequire } from 'node:module'
import { AppError } from '../../domain/errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The Redis the limits are counted in (BROKER=redis), or undefined: each process counts its own. */
    limitsRedis: Redis | Cluster | undefined
  }
}

type Counted = (error: Error | null, result?: { current: number, ttl: number }) => void
interface CounterStore {
  incr (key: string, cb: Counted, timeWindow: number, max: number): void
  read (key: string, cb: Counted, timeWindow: number, max: number): void
}
interface StoreOptions { continueExceeding?: boolean, exponentialBackoff?: boolean, cache?: number }
// The library's own in-memory store (it has no types of its own to import).
const LocalStore = createRequire(import.meta.url)('@fastify/rate-limit/store/LocalStore') as
  new (continueExceeding?: boolean, exponentialBackoff?: boolean, cache?: number) => CounterStore

/**
 * The library's in-memory store hands every request of a key the same counter
 * object, which the limiter reads after an await (@fastify/rate-limit 11.2):
 * requests of one burst that land in one turn of the event loop all read the
 * burst's final count, so all of them are refused, the first `max` too. This
 * one hands each request a copy of the count as it was when it was taken.
 */
class SnapshotStore {
  private readonly inner: CounterStore
  constructor (options: StoreOptions) {
    this.inner = new LocalStore(options.continueExceeding, options.exponentialBackoff, options.cache)
  }

  private static copy (cb: Counted): Counted {
    return (error, result) => cb(error, result === undefined ? undefined : { current: result.current, ttl: result.ttl })
  }

  incr (key: string, cb: Counted, timeWindow: number, max: number): void { this.inner.incr(key, SnapshotStore.copy(cb), timeWindow, max) }
  read (key: string, cb: Counted, timeWindow: number, max: number): void { this.inner.read(key, SnapshotStore.copy(cb), timeWindow, max) }
  // Typed by the library as the route's options; it is given the route's merged rate-limit parameters.
  child (routeParams: object): SnapshotStore { return new SnapshotStore(routeParams as StoreOptions) }
}

/**
 * A budget counted by key alone, for work done apart from any request (after
 * the answer, once the key is known): resolves true while `key` has been
 * counted at most `max` times in `timeWindow` ms, this time included. It lives
 * in the same store as the route limits (Redis with BROKER=redis: one count
 * for every process; else each process counts its own), and like them is
 * skipped, not failed, while Redis is unreachable.
 */
export function keyBudget (app: FastifyInstance, max: number, timeWindow: number): (key: string) => Promise<boolean> {
  const limit = app.createRateLimit({ max, timeWindow, keyGenerator: (holder) => (holder as unknown as { budgetKey: string }).budgetKey })
  return async (budgetKey) => {
    // Of what it is given, the limiter (@fastify/rate-limit 11.2) reads only what keyGenerator reads and a route's group id.
    const counted = await limit({ budgetKey, routeOptions: { config: {} } } as unknown as FastifyRequest)
    return counted.isAllowed || !counted.isExceeded
  }
}

export default fp(async (app) => {
  const { config } = app
  let redis: Redis | Cluster | undefined
  if (config.broker === 'redis' && config.redisUrl !== undefined) {
    const options = {
      connectionName: `switchboard-limits:${config.brokerChannel}`,
      // A request never waits long for its counter: without Redis the limit is skipped (skipOnError), not the request.
      connectTimeout: 1_000,
      commandTimeout: 500,
      // A connection that stops answering (half-open: a partition, a stuck
      // middlebox) would cost every request the commandTimeout, for as long as
      // it lasts, and pile up the commands sent on it: once nothing has come
      // back for this long it is destroyed and replaced. Until the new one is
      // ready, commands fail at once (no offline queue), so requests skip the
      // limit without waiting.
      socketTimeout: 1_000,
      // A command that timed out may have been counted: sending it again on the new connection would count it twice.
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      retryStrategy: (attempt: number) => Math.min(attempt * 100, 5_000)
    }
    // On a Redis Cluster each counter is one key, so each command goes to the master of its slot.
    if (config.redisCluster) {
      const urls = config.redisUrl.split(',').map((u) => new URL(u))
      const first = urls[0]!
      redis = new Cluster(urls.map((u) => ({ host: u.hostname, port: Number(u.port || 6379) })), {
        enableOfflineQueue: false,
        clusterRetryStrategy: (attempt: number) => Math.min(attempt * 100, 5_000),
        redisOptions: {
          connectionName: options.connectionName,
          connectTimeout: options.connectTimeout,
          commandTimeout: options.commandTimeout,
          socketTimeout: options.socketTimeout,
          autoResendUnfulfilledCommands: options.autoResendUnfulfilledCommands,
          maxRetriesPerRequest: options.maxRetriesPerRequest,
          ...(first.password === '' ? {} : { password: decodeURIComponent(first.password) }),
          ...(first.username === '' ? {} : { username: decodeURIComponent(first.username) }),
          ...(first.protocol === 'rediss:' ? { tls: {} } : {})
        }
      })
    } else {
      redis = new Redis(config.redisUrl, options)
    }
    redis.on('error', (err: Error) => app.log.warn({ err }, 'rate-limit connection to Redis failed'))
    app.addHook('onClose', async () => { redis?.disconnect() })
  }
  app.decorate<Redis | Cluster | undefined>('limitsRedis', redis)
  // Its types name only a Redis; its store uses defineCommand and one key per call, which a Cluster serves alike.
  await app.register(rateLimit, {
    global: false,
    ...(redis === undefined
      ? { store: SnapshotStore }
      : { redis: redis as Redis, nameSpace: `${config.brokerChannel}:rate-limit:`, skipOnError: true }),
    errorResponseBuilder: (_request, context) =>
      new AppError(429, 'RATE_LIMITED', `Too many requests; retry in ${Math.ceil(context.ttl / 1000)} s`)
  })
}, { name: 'rate-limit', dependencies: ['config'] })
