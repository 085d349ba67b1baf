// Realtime wiring: chooses the broker and presence implementations, builds the
// realtime node (realtime/node.ts, the owner of the fan-out path) on them, and
// ties it to the app's lifecycle and session revocations.
import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import { MemoryBroker, type Broker } from '../../realtime/broker.js'
import { PostgresBroker } from '../../realtime/broker-postgres.js'
import { RedisBroker } from '../../realtime/broker-redis.js'
import { RedisClusterBroker } from '../../realtime/broker-redis-cluster.js'
import { RealtimeNode } from '../../realtime/node.js'
import { noopObserver } from '../../realtime/observer.js'
import { MemoryPresence, type Presence } from '../../realtime/presence.js'
import { SharedPresence } from '../../realtime/shared-presence.js'
import { createConversationsRepository } from '../../repositories/conversations.js'
import { createEventsRepository } from '../../repositories/events.js'
import { createPresenceRepository } from '../../repositories/presence.js'

declare module 'fastify' {
  interface FastifyInstance {
    presence: Presence
    realtime: RealtimeNode
  }
}

export interface RealtimeOptions {
  /** Replaces the broker chosen by BROKER. */
  broker?: Broker
  presence?: Presence
}

export default fp<RealtimeOptions>(async (app, opts) => {
  const { config } = app
  const multiProcess = config.broker !== 'memory'
  const presenceRecords = createPresenceRepository(app.db)

  const brokerLog = app.log.child({ broker: config.broker })
  const wire = {
    channel: config.brokerChannel, maxQueueBytes: config.brokerQueueMaxBytes, publishRetryMs: config.brokerPublishRetryMs, log: brokerLog, meterCpu: config.brokerCpuMetrics
  }
  const broker: Broker = opts.broker ?? (
    config.broker === 'postgres'
      ? new PostgresBroker({ ...wire, pool: app.db.pool, clientConfig: app.db.pool.options })
      : config.broker === 'redis' && config.redisCluster
        ? new RedisClusterBroker({ ...wire, nodes: config.redisUrl!.split(','), shards: config.brokerShards })
        : config.broker === 'redis'
          ? new RedisBroker({ ...wire, url: config.redisUrl! })
        : new MemoryBroker((err) => brokerLog.error({ err }, 'broker subscriber failed')))
  const presence = opts.presence ?? (multiProcess
    ? new SharedPresence({
      store: presenceRecords,
      processId: randomUUID(),
      graceMs: config.presenceGraceMs,
      ttlMs: config.presenceTtlMs,
      onError: (err, what) => app.log.warn({ err }, what)
    })
    : new MemoryPresence(config.presenceGraceMs))

  const node = new RealtimeNode({
    broker,
    presence,
    eventLog: createEventsRepository(app.db),
    members: createConversationsRepository(app.db),
    presenceRecords,
    sessions: { forget: app.forgetSession, forgetAll: app.forgetAllSessions },
    observer: app.hasDecorator('metrics') ? app.metrics.realtime : noopObserver,
    log: app.log,
    heartbeatMs: config.wsHeartbeatMs,
    typingRelayMs: config.typingRelayMs
  })
  await node.start()
  app.sessionEvents.on('revoked', ({ sessionId }) => node.endSession(sessionId))

  app.decorate('presence', presence)
  app.decorate('realtime', node)

  app.addHook('preClose', async () => { node.closeSockets() })
  app.addHook('onClose', async () => { await node.close() })
}, { name: 'realtime', dependencies: ['db', 'accounts', 'authenticate', 'config'] })
