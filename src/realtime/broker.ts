// The broker carries what one process publishes to every process (including
// itself). Routes and sockets only see this interface; the in-process broker
// is here, the multi-process ones (PostgreSQL LISTEN/NOTIFY, Redis pub/sub)
// are in broker-postgres.ts and broker-redis.ts.
import type { EncodedEvent } from './events.js'

export type BrokerMessage =
  /** Committed events of one conversation, ascending seq, already encoded as frames, for these users. */
  | { kind: 'events', conversationId: string, userIds: string[], events: EncodedEvent[] }
  /** An ephemeral frame (typing, read, presence), already encoded, for these users. */
  | { kind: 'frame', type: string, userIds: string[], frame: string, exceptConnectionId?: string }
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

export interface Broker {
  /** Connects and subscribes; resolves once published messages will arrive. */
  start (): Promise<void>
  publish (message: BrokerMessage): Promise<void>
  subscribe (subscriber: BrokerSubscriber): void
  close (): Promise<void>
}

/**
 * Single-process broker: delivery is a function call, made from a queue that
 * is drained in time slices (as the multi-process inbox is), so a burst of
 * publications (a thousand users connecting at once, each a presence frame to
 * a thousand contacts) never holds the event loop for long: other requests
 * get a turn between slices.
 */
export class MemoryBroker implements Broker {
  private subscribers: BrokerSubscriber[] = []
  private queue: BrokerMessage[] = []
  private head = 0
  private draining = false

  constructor (private readonly onError: (err: unknown) => void = () => {}, private readonly sliceMs = 10) {}

  async start (): Promise<void> {}

  async publish (message: BrokerMessage): Promise<void> {
    this.queue.push(message)
    if (this.draining) return
    this.draining = true
    queueMicrotask(this.drain)
  }

  private readonly drain = () => {
    const until = performance.now() + this.sliceMs
    while (this.head < this.queue.length) {
      const message = this.queue[this.head++]!
      for (const s of this.subscribers) {
        try {
          s.message(message)
        } catch (err) {
          this.onError(err)
        }
      }
      if (performance.now() >= until) break
    }
    if (this.head < this.queue.length) {
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
