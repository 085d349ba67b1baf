// Rate limiting is opt-in per route (config.rateLimit); breaching answers 429
// RATE_LIMITED with Retry-After. With BROKER=redis the counters live in that
// Redis, so a limit holds across every process and machine sharing the broker
// channel (a client spreading requests over them gets no more); otherwise
// each process counts its own.
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import { Cluster, Redis } from 'ioredis'
import { AppError } from '../../domain/errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The Redis the limits are counted in (BROKER=redis), or undefined: each process counts its own. */
    limitsRedis: Redis | Cluster | undefined
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
    ...(redis === undefined ? {} : { redis: redis as Redis, nameSpace: `${config.brokerChannel}:rate-limit:`, skipOnError: true }),
    errorResponseBuilder: (_request, context) =>
      new AppError(429, 'RATE_LIMITED', `Too many requests; retry in ${Math.ceil(context.ttl / 1000)} s`)
  })
}, { name: 'rate-limit', dependencies: ['config'] })
