// The shapes that travel from the domain to the push channel. The domain
// hands committed events to `app.realtime`; the realtime layer fans them out.

export type ChatEventType =
  | 'message.created' | 'message.updated' | 'message.deleted'
  | 'member.added' | 'members.added' | 'member.removed' | 'member.updated' | 'conversation.updated'

/** One entry of a conversation's event stream, exactly as API.md's Event object. */
export interface ChatEvent {
  conversationId: string
  seq: number
  type: ChatEventType
  createdAt: string
  data: unknown
}

/** An event on its way to sockets: its seq, and its frame encoded once for every socket of every process. */
/** An event as it travels to the sockets: its frame encoded once, with what metrics need. */
export interface EncodedEvent { seq: number, type: ChatEventType, /** createdAt, epoch ms */ at: number, frame: string }

export interface ReadReceipt { conversationId: string, userId: string, seq: number }

/** What the domain needs from the realtime layer: called only after commit. */
export interface RealtimePublisher {
  /** Events of one conversation in seq order, for the given user ids (members, and a removed member for their own removal). */
  publishEvents (events: ChatEvent[], userIds: string[]): void
  publishRead (receipt: ReadReceipt, userIds: string[]): void
}
