// The realtime node: the one owner of the fan-out path on this process, as
// centrifuge's Node is. One committed event, read top to bottom:
//
//   publishEvents   the domain's RealtimePublisher port, called after commit
//   -> publish      the broker carries it to every process, this one included
//   -> handle       what the broker hands this process, by kind
//   -> sequencer    each conversation's events back in seq order, gaps read from the event log
//   -> deliverEvent the hub writes the frame, encoded once by the publisher, to the recipients' sockets
//
// Ephemeral frames (typing, read receipts, presence) take the same way without
// the sequencer; a session's end closes its sockets on every process. Who may
// see whose presence and typing is the domain's rule (domain/presence.ts,
// domain/typing.ts): the node asks it and sends what it decides. The parts are
// the hub (sockets here), the broker (between processes), presence (who is
// online anywhere) and the sequencer; plugins/app/realtime.ts only wires them.
import { EventEmitter } from 'node:events'
import type { ChatEvent, DeliveryPublisher, DeliveryReceipt, ReadReceipt, RealtimePublisher, ThreadReadReceipt } from '../domain/events.js'
import { toChatEvent } from '../domain/event-log.js'
import { PresenceAnnouncer, type PresenceRecords } from '../domain/presence.js'
import { typingRecipients, type ConversationMembers } from '../domain/typing.js'
import type { Broker, BrokerMessage } from './broker.js'
import type { Connection } from './connection.js'
import type { EncodedEvent } from './events.js'
import { Hub } from './hub.js'
import { noopObserver, stamp, type RealtimeObserver } from './observer.js'
import type { Presence } from './presence.js'
import { CloseCode, eventFrame, type ServerFrame } from './protocol.js'
import { EventSequencer, type Pending } from './sequencer.js'

/** How long an event that overtook another waits for it before the gap is read from the event log. */
const GAP_HOLD_MS = 200
/**
 * How long a presence change waits for others to share its statement: at a
 * steady 150 sockets opened per second, batches of one each cost PostgreSQL
 * a statement per socket. Presence is not a race; 20 ms is not seen.
 */
const PRESENCE_GATHER_MS = 20

/** The event log, as the sequencer reads a gap in it. */
export interface EventLogReader {
  /** The events strictly between two seqs, ascending, each with its own recipients (its membership windows). */
  eventsBetween (conversationId: string, afterSeq: number, beforeSeq: number): Promise<Array<{ event: Parameters<typeof toChatEvent>[0], userIds: string[] }>>
}

/** This process's cache of live sessions (plugins/app/authenticate.ts). */
export interface SessionCache {
  forget (sessionId: string): void
  forgetAll (): void
}

export interface NodeLog { warn (obj: object, msg: string): void }

export interface RealtimeNodeOptions {
  broker: Broker
  presence: Presence
  eventLog: EventLogReader
  members: ConversationMembers
  presenceRecords: PresenceRecords
  sessions: SessionCache
  observer?: RealtimeObserver
  log: NodeLog
  heartbeatMs: number
  /** TYPING_RELAY_MS: typing frames relayed per user and conversation, one per this long (0: every one). */
  typingRelayMs: number
}

// Encoded here, once: every process writes this string to its sockets as it is.
const encodeEvent = (e: ChatEvent): EncodedEvent => ({ seq: e.seq, type: e.type, at: Date.parse(e.createdAt), frame: eventFrame(e) })

export class RealtimeNode implements RealtimePublisher, DeliveryPublisher {
  /** The sockets of this process. */
  readonly hub = new Hub()
  readonly broker: Broker
  readonly presence: Presence
  /**
   * Committed events as the domain handed them over, on the process that
   * committed them (the offline notifier and device push listen); `read` for
   * a conversation's or a thread's read position moved (its seq is the one read).
   */
  readonly committed = new EventEmitter<{ events: [events: ChatEvent[], userIds: string[]], read: [receipt: ReadReceipt] }>()
  private readonly sequencer: EventSequencer
  private readonly announcer: PresenceAnnouncer
  private readonly observer: RealtimeObserver
  /** When each user last had a typing frame relayed in each conversation (`user:conversation`). */
  private readonly typedAt = new Map<string, number>()
  private heartbeat: NodeJS.Timeout | undefined

  constructor (private readonly opts: RealtimeNodeOptions) {
    this.broker = opts.broker
    this.presence = opts.presence
    this.observer = opts.observer ?? noopObserver
    this.sequencer = new EventSequencer(
      (event, userIds) => this.deliverEvent(event, userIds),
      (conversationId, after, before, shard) => this.readGap(conversationId, after, before, shard),
      GAP_HOLD_MS,
      (err) => opts.log.warn({ err }, 'could not load missing events; clients will replay the gap')
    )
    this.announcer = new PresenceAnnouncer({
      records: opts.presenceRecords,
      announce: (userIds, update) => this.publishFrame(userIds, { type: 'presence', data: update }),
      onError: (err, changes) => opts.log.warn({ err, changes }, 'presence update failed'),
      gatherMs: PRESENCE_GATHER_MS
    })
  }

  /** Subscribes to the broker and resolves once published messages arrive; then announces presence and pings sockets. */
  async start (): Promise<void> {
    this.broker.subscribe({ message: (message) => this.handle(message), lost: (reason) => this.resynchronise(reason) })
    await this.broker.start()
    this.presence.events.on('change', (change) => this.announcer.announce(change))
    this.heartbeat = setInterval(() => this.hub.heartbeat(), this.opts.heartbeatMs)
    this.heartbeat.unref()
  }

  // Publishing: what this process hands the broker, for every process.

  /**
   * Committed events of one conversation, ascending seq, for the given users
   * (those whose membership window holds every one of them). Called only after
   * commit: a socket never sees what the database does not have.
   */
  publishEvents (events: ChatEvent[], userIds: string[]): void {
    if (events.length === 0) return
    this.publish({ kind: 'events', conversationId: events[0]!.conversationId, userIds, events: events.map(encodeEvent) })
    this.committed.emit('events', events, userIds)
  }

  publishRead (receipt: ReadReceipt, userIds: string[]): void {
    this.publishFrame(userIds, { type: 'read', conversationId: receipt.conversationId, data: { userId: receipt.userId, seq: receipt.seq } })
    this.committed.emit('read', receipt)
  }

  publishThreadRead (receipt: ThreadReadReceipt): void {
    const { conversationId, userId, rootId, seq, unreadCount, threadUnreadCount } = receipt
    this.publishFrame([userId], { type: 'thread.read', conversationId, data: { rootId, seq, unreadCount, threadUnreadCount } })
    // A followed thread's replies are in the badge: the user's other devices get it lowered, as for a read of the conversation.
    this.committed.emit('read', { conversationId, userId, seq })
  }

  publishDelivered (receipt: DeliveryReceipt, userIds: string[]): void {
    this.publishFrame(userIds, { type: 'delivered', conversationId: receipt.conversationId, data: { userId: receipt.userId, seq: receipt.seq } })
  }

  /** An ephemeral frame (no seq, not replayable) to these users' sockets, wherever they are. */
  publishFrame (userIds: string[], frame: ServerFrame, exceptConnectionId?: string): void {
    this.publish({ kind: 'frame', type: frame.type, userIds, frame: JSON.stringify(frame), ...(exceptConnectionId === undefined ? {} : { exceptConnectionId }) })
  }

  /** A session ended: its sockets close with 4001 on every process, and every process forgets it. */
  endSession (sessionId: string): void {
    this.publish({ kind: 'session.revoked', sessionId })
  }

  /**
   * A user types in a conversation: the other members are told, by the domain's rule (a non-member gets
   * NOT_FOUND). At most one frame per user and conversation per `typingRelayMs` is relayed from this process:
   * the budget of typing frames is per socket, and a user's 20 sockets at that budget would otherwise send each
   * member of a 1,000-member group 60 frames a second (the SDK sends one per 2 s; a client shows one for seconds).
   */
  async typing (userId: string, conversationId: string): Promise<void> {
    // Membership first: a member removed a moment ago gets NOT_FOUND, whenever they last typed.
    const others = await typingRecipients(this.opts.members, conversationId, userId)
    if (others.length === 0) return
    const key = `${userId}:${conversationId}`
    const now = Date.now()
    const interval = this.opts.typingRelayMs
    if (interval > 0) {
      if (now - (this.typedAt.get(key) ?? -Infinity) < interval) return
      if (this.typedAt.size >= 10_000) for (const [k, at] of this.typedAt) if (now - at >= interval) this.typedAt.delete(k)
      this.typedAt.set(key, now)
    }
    this.publishFrame(others, { type: 'typing', conversationId, data: { userId } })
  }

  // As Broker.publish promises: every process gets the message (a retried one
  // may arrive twice; clients drop the duplicate by seq), or every process that
  // may have missed it resynchronises. So a rejection is only logged.
  private publish (message: BrokerMessage): void {
    this.broker.publish(stamp(message)).catch((err: unknown) => this.opts.log.warn({ err, kind: message.kind }, 'broker publish given up'))
  }

  // Receiving: what the broker hands this process, its own publications included.

  private handle (message: BrokerMessage): void {
    this.observer.brokerReceived(message)
    switch (message.kind) {
      case 'events':
        this.sequencer.accept(message.conversationId, message.events, message.userIds, message.shard)
        break
      case 'frame':
        this.observer.framePushed(message.type, this.toSockets(message.userIds, message.frame, message.exceptConnectionId))
        break
      case 'session.revoked':
        // Revoked on another process: this one's session cache must not keep it alive.
        this.opts.sessions.forget(message.sessionId)
        this.hub.closeSession(message.sessionId, CloseCode.sessionEnded, 'session ended')
        break
    }
  }

  /** An event in seq order (from the sequencer) to its own recipients' sockets on this process. */
  private deliverEvent (event: EncodedEvent, userIds: string[]): void {
    this.observer.eventPushed(event, this.toSockets(userIds, event.frame))
  }

  /** The hub's part of a delivery, left out of the broker's CPU (which counts what carrying the message cost). */
  private toSockets (userIds: string[], frame: string, exceptConnectionId?: string): number {
    const meter = this.broker.cpu?.received
    return meter === undefined ? this.hub.deliver(userIds, frame, exceptConnectionId) : meter.exclude(() => this.hub.deliver(userIds, frame, exceptConnectionId))
  }

  // With a sharded broker (one stream per conversation and user shard, see
  // sequencer.ts) a gap in a shard's stream has two causes: an event still on
  // its way or never published (its process died after commit), which is what
  // the read is for, as with one stream; or events none of whose recipients
  // are in that shard (a member of the shard left the conversation and came
  // back, or events for a subset of members), which the publisher never sent
  // to it. Telling the two apart would take the publisher knowing what every
  // shard saw last, so the gap is read in both cases, after the same hold:
  // the second is rare (membership changes), bounded by what was missed, and
  // the positions of a shard are forgotten when this process unsubscribes
  // from it, so a shard subscribed again starts afresh instead of reading
  // everything since. Only the recipients of that shard are kept: the others
  // get the event on their own shard's stream.
  private async readGap (conversationId: string, afterSeq: number, beforeSeq: number, shard: number | undefined): Promise<Pending[]> {
    const found = await this.opts.eventLog.eventsBetween(conversationId, afterSeq, beforeSeq)
    const shardOf = this.broker.shardOf?.bind(this.broker)
    const ofShard = (userIds: string[]) => shard === undefined || shardOf === undefined ? userIds : userIds.filter((u) => shardOf(u) === shard)
    return found.map(({ event, userIds }) => ({ event: encodeEvent(toChatEvent(event)), userIds: ofShard(userIds) }))
  }

  // Pushes may be missing here, possibly the last of a conversation (no later
  // event would reveal the gap): every socket of this process closes as a slow
  // consumer would, and its client reconnects and replays.
  private resynchronise (reason: string): void {
    this.opts.log.warn({ reason, sockets: this.hub.size }, 'closing sockets so that their clients replay')
    // A session.revoked may have been among them.
    this.opts.sessions.forgetAll()
    this.sequencer.reset()
    this.hub.closeAll(CloseCode.slowConsumer, 'server fell behind: replay from your last seq')
  }

  // Connections of this process.

  /**
   * A socket is ready: its user is online, and it gets pushes once the
   * returned promise resolves (undefined: from now on). With a sharded
   * broker, the first socket of a user shard on this process subscribes this
   * process to that shard; until the subscription is confirmed, what is
   * published for the user does not reach this process.
   */
  connect (conn: Connection): Promise<void> | undefined {
    this.hub.add(conn)
    this.presence.connected(conn.userId)
    return this.broker.join?.(conn.userId)
  }

  disconnect (conn: Connection): void {
    this.hub.remove(conn)
    this.presence.disconnected(conn.userId)
    const released = this.broker.leave?.(conn.userId)
    if (released !== undefined) this.sequencer.forgetShard(released)
  }

  // Shutting down.

  /** Before the server closes: every socket closes with 1001, and its client reconnects (elsewhere) and replays. */
  closeSockets (): void {
    clearInterval(this.heartbeat)
    this.hub.closeAll(CloseCode.goingAway, 'server shutting down')
  }

  /** After: this process leaves presence, and the broker sends what is still unsent. */
  async close (): Promise<void> {
    await this.presence.close()
    await this.broker.close()
  }
}
