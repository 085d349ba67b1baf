// Realtime wiring: the hub (sockets on this process), the broker (between
// processes), presence, and the publisher the domain hands committed events
// to. Data path: domain commit -> publisher -> broker -> sequencer -> hub.
import fp from 'fastify-plugin'
import { MemoryBroker, type Broker, type BrokerMessage } from '../../realtime/broker.js'
import type { ChatEvent, RealtimePublisher } from '../../realtime/events.js'
import { Hub } from '../../realtime/hub.js'
import { MemoryPresence, type Presence } from '../../realtime/presence.js'
import { CloseCode, eventFrame, type ServerFrame } from '../../realtime/protocol.js'
import { EventSequencer } from '../../realtime/sequencer.js'
import { createRealtimeRepository, type RealtimeRepository } from '../../repositories/realtime.js'
import { noopObserver, stamp } from '../../realtime/observer.js'

declare module 'fastify' {
  interface FastifyInstance {
    presence: Presence
    realtime: RealtimePublisher & {
      hub: Hub
      broker: Broker
      repo: RealtimeRepository
      /** Sends an ephemeral frame to these users' sockets, wherever they are. */
      publishFrame (userIds: string[], frame: ServerFrame, exceptConnectionId?: string): void
    }
  }
}

export interface RealtimeOptions {
  /** A multi-process broker; the in-process one by default. */
  broker?: Broker
  presence?: Presence
}

export default fp<RealtimeOptions>(async (app, opts) => {
  const hub = new Hub()
  const broker = opts.broker ?? new MemoryBroker()
  const presence = opts.presence ?? new MemoryPresence(app.config.presenceGraceMs)
  const repo = createRealtimeRepository(app.db.pool)
  const observer = app.hasDecorator('metrics') ? app.metrics.realtime : noopObserver

  const publish = (message: BrokerMessage) => {
    broker.publish(stamp(message)).catch((err: unknown) => app.log.error({ err, kind: message.kind }, 'broker publish failed'))
  }

  const sequencer = new EventSequencer(
    (event: ChatEvent, userIds: string[]) => { observer.eventPushed(event, hub.deliver(userIds, eventFrame(event))) },
    (conversationId, after, before) => repo.eventsBetween(conversationId, after, before),
    200,
    (err) => app.log.warn({ err }, 'could not load missing events; clients will replay the gap')
  )

  broker.subscribe((message) => {
    observer.brokerReceived(message)
    switch (message.kind) {
      case 'events':
        sequencer.accept(message.conversationId, message.events, message.userIds)
        break
      case 'frame':
        observer.framePushed(message.frame.type, hub.deliver(message.userIds, JSON.stringify(message.frame), message.exceptConnectionId))
        break
      case 'session.revoked':
        hub.closeSession(message.sessionId, CloseCode.sessionEnded, 'session ended')
        break
    }
  })

  app.sessionEvents.on('revoked', ({ sessionId }) => publish({ kind: 'session.revoked', sessionId }))

  presence.events.on('change', ({ userId, online, at }) => {
    void (async () => {
      if (!online) await repo.setLastSeen(userId, at)
      const lastSeenAt = online ? await repo.lastSeen(userId) : at
      const contacts = await repo.contactIds(userId)
      if (contacts.length === 0) return
      publish({ kind: 'frame', userIds: contacts, frame: { type: 'presence', data: { userId, online, lastSeenAt: lastSeenAt?.toISOString() ?? null } } })
    })().catch((err: unknown) => app.log.warn({ err, userId }, 'presence update failed'))
  })

  const heartbeat = setInterval(() => hub.heartbeat(), app.config.wsHeartbeatMs)
  heartbeat.unref()

  app.decorate('presence', presence)
  app.decorate('realtime', {
    hub,
    broker,
    repo,
    publishEvents (events: ChatEvent[], userIds: string[]) {
      if (events.length === 0) return
      publish({ kind: 'events', conversationId: events[0]!.conversationId, userIds, events })
    },
    publishRead (receipt, userIds) {
      publish({ kind: 'frame', userIds, frame: { type: 'read', conversationId: receipt.conversationId, data: { userId: receipt.userId, seq: receipt.seq } } })
    },
    publishFrame (userIds, frame, exceptConnectionId) {
      publish({ kind: 'frame', userIds, frame, ...(exceptConnectionId === undefined ? {} : { exceptConnectionId }) })
    }
  })

  app.addHook('preClose', async () => {
    clearInterval(heartbeat)
    hub.closeAll(CloseCode.goingAway, 'server shutting down')
  })
  app.addHook('onClose', async () => {
    await presence.close()
    await broker.close()
  })
}, { name: 'realtime', dependencies: ['db', 'accounts', 'config'] })
