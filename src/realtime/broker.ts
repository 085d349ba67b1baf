// The broker carries what one process publishes to every process (including
// itself). Routes and sockets only see this interface, so a multi-process
// implementation (PostgreSQL LISTEN/NOTIFY, Redis) replaces the memory one.
import type { ChatEvent } from './events.js'
import type { ServerFrame } from './protocol.js'

export type BrokerMessage =
  /** Committed events of one conversation, ascending seq, for these users. */
  | { kind: 'events', conversationId: string, userIds: string[], events: ChatEvent[] }
  /** An ephemeral frame (typing, read, presence) for these users. */
  | { kind: 'frame', userIds: string[], frame: ServerFrame, exceptConnectionId?: string }
  /** A session ended: its sockets close with 4001 wherever they are. */
  | { kind: 'session.revoked', sessionId: string }

export interface Broker {
  publish (message: BrokerMessage): Promise<void>
  /** Receives every published message, this process's own included. */
  subscribe (handler: (message: BrokerMessage) => void): void
  close (): Promise<void>
}

/** Single-process broker: delivery is a function call on the next tick. */
export class MemoryBroker implements Broker {
  private handlers: Array<(message: BrokerMessage) => void> = []

  async publish (message: BrokerMessage): Promise<void> {
    const handlers = this.handlers
    queueMicrotask(() => { for (const h of handlers) h(message) })
  }

  subscribe (handler: (message: BrokerMessage) => void): void {
    this.handlers = [...this.handlers, handler]
  }

  async close (): Promise<void> {
    this.handlers = []
  }
}
