// The event log as the domain sees it: the events it writes, and the port it
// hands committed events to. The realtime layer implements the port (plugins/
// app/realtime.ts) and fans them out; nothing here knows how.
import type { Static } from 'typebox'
import type { EventType } from '../schemas/messages.js'

/** The event types, from the one schema that documents them (OpenAPI, AsyncAPI, SDK). */
export type ChatEventType = Static<typeof EventType>

/** One entry of a conversation's event stream, exactly as API.md's Event object. */
export interface ChatEvent {
  conversationId: string
  seq: number
  type: ChatEventType
  createdAt: string
  data: unknown
}

export interface ReadReceipt { conversationId: string, userId: string, seq: number }

/** A member read a thread: their position and counts after it, for their own devices. */
export interface ThreadReadReceipt { conversationId: string, userId: string, rootId: string, seq: number, unreadCount: number, threadUnreadCount: number }

/** What the domain needs from the realtime layer: called only after commit. */
export interface RealtimePublisher {
  /** Events of one conversation in seq order, for the given user ids: those whose membership window holds every one of them. */
  publishEvents (events: ChatEvent[], userIds: string[]): void
  publishRead (receipt: ReadReceipt, userIds: string[]): void
  /** To the reader's own connections only. */
  publishThreadRead (receipt: ThreadReadReceipt): void
}

/** A member's devices acknowledged receiving a conversation up to seq (src/domain/delivery.ts). */
export interface DeliveryReceipt { conversationId: string, userId: string, seq: number }

/** The port delivery receipts are published through: ephemeral frames, not in the event log (as read receipts). */
export interface DeliveryPublisher {
  publishDelivered (receipt: DeliveryReceipt, userIds: string[]): void
}
