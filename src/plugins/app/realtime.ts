// Realtime wiring: the hub (sockets on this process), the broker (between
// processes), presence, and the publisher the domain hands committed events
// to. Data path: domain commit -> publisher -> broker -> sequencer -> hub.
import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import { MemoryBroker, type Broker, type BrokerMessage } from '../../realtime/broker.js'
import { PostgresBroker } from '../../realtime/broker-postgres.js'
import { RedisBroker } from '../../realtime/broker-redis.js'
import type { ChatEvent, RealtimePublisher } from '../../domain/events.js'
import { toChatEvent } from '../../domain/event-log.js'
import type { EncodedEvent } from '../../realtime/events.js'
import { Hub } from '../../realtime/hub.js'
import { MemoryPresence, type Presence } from '../../realtime/presence.js'
import { PresenceAnnouncer } from '../../realtime/presence-announcer.js'
import { CloseCode, eventFrame, type ServerFrame } from '../../realtime/protocol.js'
import { EventSequencer } from '../../realtime/sequencer.js'
import { SharedPresence } from '../../realtime/shared-presence.js'
import { createEventsRepository } from '../../repositories/events.js'
import { createPresenceRepository } from '../../repositories/presence.js'
import { noopObserver, stamp } from '../../realtime/observer.js'

declare module 'fastify' {
  interface FastifyInstance {
    presence: Presence
    realtime: RealtimePublisherWithTools
  }
}

type RealtimePublisherWithTools = RealtimePublisher & {
  hub: Hub
  broker: Broker
  /** Identifies this process in the shared presence store. */
  processId: string
  /** Sends an ephemeral frame to these users' sockets, wherever they are. */
  publishFrame (userIds: string[], frame: ServerFrame, exceptConnectionId?: string): void
}

export interface RealtimeOptions {
  /** Replaces the broker chosen by BROKER. */
  broker?: Broker
  presence?: Presence
}

// Encoded here, once: every process writes this string to its sockets as it is.
const encodeEvent = (e: ChatEvent): EncodedEvent => ({ seq: e.seq, type: e.type, at: Date.parse(e.createdAt), frame: eventFrame(e) })

export default fp<RealtimeOptions>(async (app, opts) => {
  const { config } = app
  const processId = randomUUID()
  const hub = new Hub()
  const events = createEventsRepository(app.db)
  const presenceRepo = createPresenceRepository(app.db)
  const multiProcess = config.broker !== 'memory'

  const brokerLog = app.log.child({ broker: config.broker })
  const wire = { channel: config.brokerChannel, maxQueueBytes: config.brokerQueueMaxBytes, publishRetryMs: config.brokerPublishRetryMs, log: brokerLog }
  const broker: Broker = opts.broker ?? (
    config.broker === 'postgres'
      ? new PostgresBroker({ ...wire, pool: app.db.pool, clientConfig: app.db.pool.options })
      : config.broker === 'redis'
        ? new RedisBroker({ ...wire, url: config.redisUrl! })
        : new MemoryBroker((err) => brokerLog.error({ err }, 'broker subscriber failed')))
  const presence = opts.presence ?? (multiProcess
    ? new SharedPresence({
      store: presenceRepo,
      processId,
      graceMs: config.presenceGraceMs,
      ttlMs: config.presenceTtlMs,
      onError: (err, what) => app.log.warn({ err }, what)
    })
    : new MemoryPresence(config.presenceGraceMs))
  const observer = app.hasDecorator('metrics') ? app.metrics.realtime : noopObserver

  // A publication the broker gave up has already made every process resynchronise (see Broker.publish).
  const publish = (message: BrokerMessage) => {
    broker.publish(stamp(message)).catch((err: unknown) => app.log.warn({ err, kind: message.kind }, 'broker publish given up'))
  }

  const sequencer = new EventSequencer(
    (event, userIds) => { observer.eventPushed(event, hub.deliver(userIds, event.frame)) },
    async (conversationId, after, before) => (await events.between(conversationId, after, before))
      .map(({ event, userIds }) => ({ event: encodeEvent(toChatEvent(event)), userIds })),
    200,
    (err) => app.log.warn({ err }, 'could not load missing events; clients will replay the gap')
  )

  broker.subscribe({
    message (message) {
      observer.brokerReceived(message)
      switch (message.kind) {
        case 'events':
          sequencer.accept(message.conversationId, message.events, message.userIds)
          break
        case 'frame':
          observer.framePushed(message.type, hub.deliver(message.userIds, message.frame, message.exceptConnectionId))
          break
        case 'session.revoked':
          // Revoked on another process: this one's session cache must not keep it alive.
          app.forgetSession(message.sessionId)
          hub.closeSession(message.sessionId, CloseCode.sessionEnded, 'session ended')
          break
      }
    },
    // Pushes may be missing here, possibly the last of a conversation (no
    // later event would reveal the gap): every socket of this process closes
    // as a slow consumer would, and its client reconnects and replays.
    lost (reason) {
      app.log.warn({ reason, sockets: hub.size }, 'closing sockets so that their clients replay')
      // A session.revoked may have been among them.
      app.forgetAllSessions()
      sequencer.reset()
      hub.closeAll(CloseCode.slowConsumer, 'server fell behind: replay from your last seq')
    }
  })
  await broker.start()

  app.sessionEvents.on('revoked', ({ sessionId }) => publish({ kind: 'session.revoked', sessionId }))

  const announcer = new PresenceAnnouncer({
    repo: presenceRepo,
    publish: (userIds, frame) => publish({ kind: 'frame', type: 'presence', userIds, frame }),
    onError: (err, changes) => app.log.warn({ err, changes }, 'presence update failed')
  })
  presence.events.on('change', (change) => announcer.announce(change))

  const heartbeat = setInterval(() => hub.heartbeat(), config.wsHeartbeatMs)
  heartbeat.unref()

  app.decorate('presence', presence)
  app.decorate('realtime', {
    hub,
    broker,
    processId,
    publishEvents (events, userIds) {
      if (events.length === 0) return
      // Encoded here, once: every process writes these strings to its sockets as they are.
      publish({ kind: 'events', conversationId: events[0]!.conversationId, userIds, events: events.map(encodeEvent) })
    },
    publishRead (receipt, userIds) {
      const frame: ServerFrame = { type: 'read', conversationId: receipt.conversationId, data: { userId: receipt.userId, seq: receipt.seq } }
      publish({ kind: 'frame', type: 'read', userIds, frame: JSON.stringify(frame) })
    },
    publishFrame (userIds, frame, exceptConnectionId) {
      publish({ kind: 'frame', type: frame.type, userIds, frame: JSON.stringify(frame), ...(exceptConnectionId === undefined ? {} : { exceptConnectionId }) })
    }
  } satisfies RealtimePublisherWithTools)

  app.addHook('preClose', async () => {
    clearInterval(heartbeat)
    hub.closeAll(CloseCode.goingAway, 'server shutting down')
  })
  app.addHook('onClose', async () => {
    await presence.close()
    await broker.close()
  })
}, { name: 'realtime', dependencies: ['db', 'accounts', 'authenticate', 'config'] })
