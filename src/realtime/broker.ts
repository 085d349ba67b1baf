// The broker carries what one process publishes to every process (including
// itself). Routes and sockets only see this interface; the in-process broker
// is here, the multi-process ones (PostgreSQL LISTEN/NOTIFY, Redis pub/sub)
// are in broker-postgres.ts and broker-redis.ts.
import type { BrokerCpu } from './cpu-meter.js'
import type { EncodedEvent } from './events.js'

export type BrokerMessage =
  /**
   * Committed events of one conversation, ascending seq, already encoded as
   * frames, for these users. A sharded broker sends one part per user shard
   * (the recipients of that shard); `shard` says which.
   */
  | { kind: 'events', conversationId: string, userIds: string[], events: EncodedEvent[], shard?: number }
  /** An ephemeral frame (typing, read, presence), already encoded, for these users (of one shard, if `shard` is set). */
  | { kind: 'frame', type: string, userIds: string[], frame: string, exceptConnectionId?: string, shard?: number }
  /** A session ended: its sockets close with 4001 wherever they are. */
  | { kind: 'session.revoked', sessionId: string }

export interface BrokerSubscriber {
  /** Every published message, this process's own included. */
  message (message: BrokerMessage): void
  /**
   * Messages may have been lost on the way to this process (it fell behind a
   * burst, or its subscription was interrupted). Whatever relies on seeing
   * every message must resynchronise.
   */
  lost (reason: string): void
}

/**
 * Delivery guarantee, for every implementation: each published message either
 * reaches every subscriber of every process (at least once, in publication
 * order per publisher), or every process that may have missed it calls its
 * subscribers' lost(). No message is silently dropped while the publishing
 * process lives.
 */
export interface Broker {
  /** Connects and subscribes; resolves once published messages will arrive. */
  start (): Promise<void>
  /**
   * Hands a message to the broker; it resolves once the broker took it. A
   * broker that refuses (connection down, query failing, no answer) is retried
   * in order, within BROKER_PUBLISH_RETRY_MS and BROKER_QUEUE_MAX_BYTES of
   * backlog; a retried message may arrive twice. Past either bound the
   * backlog is given up and the promise rejects, after this process's
   * subscribers were told lost() and a loss notice was queued that makes
   * every other process call lost() once the broker takes publications again
   * (it is retried until then, and once more on close). Callers therefore only log a rejection.
   */
  publish (message: BrokerMessage): Promise<void>
  subscribe (subscriber: BrokerSubscriber): void
  /**
   * Sharded brokers only (the others deliver every message to every process):
   * a socket of this user opened here. Resolves once the user's messages
   * arrive at this process; undefined when they already do.
   */
  join? (userId: string): Promise<void> | undefined
  /** A socket of this user closed here; returns the shard this process no longer receives, if it was the last. */
  leave? (userId: string): number | undefined
  /** Sharded brokers: the shard of a user. */
  shardOf? (userId: string): number
  /** Makes one last attempt at what is still unsent, then disconnects. */
  close (): Promise<void>
  /** The multi-process brokers: the CPU this process spends carrying messages (frames written to sockets left out). */
  readonly cpu?: BrokerCpu
}

/**
 * Hands a message to every subscriber. One that throws may have handled it
 * only in part, so it is told lost() (and resynchronises); the others still get it.
 */
export function deliverTo (subscribers: readonly BrokerSubscriber[], message: BrokerMessage, onError: (err: unknown) => void): void {
  for (const s of subscribers) {
    try {
      s.message(message)
    } catch (err) {
      onError(err)
      s.lost('a broker message could not be handled')
    }
  }
}

/**
 * Single-process broker; it cannot fail to publish. Delivery is a function
 * call, made from a queue that is drained in time slices (as the
 * multi-process inbox is), so a burst of publications (a thousand users
 * connecting at once, each a presence frame to a thousand contacts) never
 * holds the event loop for long: other requests get a turn between slices.
 * Its backlog is bounded as the multi-process inbox's is: past `maxQueued`
 * messages the process cannot keep up, so the backlog is dropped and the
 * subscribers told lost() (sockets close with 4008, clients replay).
 */
export class MemoryBroker implements Broker {
  private subscribers: BrokerSubscriber[] = []
  private queue: BrokerMessage[] = []
  private head = 0
  private draining = false

  constructor (
    private readonly onError: (err: unknown) => void = () => {},
    private readonly sliceMs = 10,
    private readonly maxQueued = 200_000
  ) {}

  async start (): Promise<void> {}

  async publish (message: BrokerMessage): Promise<void> {
    if (this.queue.length - this.head >= this.maxQueued) {
      this.queue = []
      this.head = 0
      for (const s of this.subscribers) s.lost('this process fell behind its own publications')
      return
    }
    this.queue.push(message)
    if (this.draining) return
    this.draining = true
    queueMicrotask(this.drain)
  }

  private readonly drain = () => {
    const until = performance.now() + this.sliceMs
    while (this.head < this.queue.length) {
      deliverTo(this.subscribers, this.queue[this.head++]!, this.onError)
      if (performance.now() >= until) break
    }
    if (this.head < this.queue.length) {
      // Delivered entries are let go of as the backlog moves on.
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head)
        this.head = 0
      }
      setImmediate(this.drain)
      return
    }
    this.queue = []
    this.head = 0
    this.draining = false
  }

  subscribe (subscriber: BrokerSubscriber): void {
    this.subscribers = [...this.subscribers, subscriber]
  }

  async close (): Promise<void> {
    this.subscribers = []
    this.queue = []
    this.head = 0
  }
}
