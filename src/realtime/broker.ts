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

/** Single-process broker: delivery is a function call on the next tick. */
export class MemoryBroker implements Broker {
  private subscribers: BrokerSubscriber[] = []

  async start (): Promise<void> {}

  async publish (message: BrokerMessage): Promise<void> {
    const subscribers = this.subscribers
    queueMicrotask(() => { for (const s of subscribers) s.message(message) })
  }

  subscribe (subscriber: BrokerSubscriber): void {
    this.subscribers = [...this.subscribers, subscriber]
  }

  async close (): Promise<void> {
    this.subscribers = []
  }
}
