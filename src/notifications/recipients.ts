// Who is told of a new message, for every channel (device push and the
// webhook): the members whose window holds it, without the sender, those who
// blocked the sender, and (unless told otherwise) those with a live socket.
// Notification preferences plug in as `shouldNotify`: the one place a
// recipient is dropped by choice.
import type { ChatEvent } from '../domain/events.js'

export interface NotifiedMessage { id: string, conversationId: string, seq: number, senderId: string, body: string, createdAt: string }

/** Whether this user wants a notification of this message (preferences, mutes, mentions). */
export type NotifyFilter = (userId: string, conversationId: string, message: NotifiedMessage) => boolean | Promise<boolean>

export const notifyEveryone: NotifyFilter = () => true

export interface RecipientSources {
  /** Which of these users are online (on any process). */
  online (userIds: string[]): Promise<Set<string>>
  /** Of these recipients, who blocked which sender, as "<blocker>:<blocked>". */
  blocks? (senderIds: string[], recipientIds: string[]): Promise<Set<string>>
  shouldNotify?: NotifyFilter
}

/** The message.created events of a batch, as messages. */
export function createdMessages (events: ChatEvent[]): NotifiedMessage[] {
  return events.filter((e) => e.type === 'message.created').map((e) => ({ ...(e.data as Omit<NotifiedMessage, 'conversationId'>), conversationId: e.conversationId }))
}

/**
 * For each message, the members (of `memberIds`, the users whose window holds
 * the events) to notify.
 */
export async function messageRecipients (sources: RecipientSources, messages: NotifiedMessage[], memberIds: string[], { includeOnline = false } = {}): Promise<string[][]> {
  if (messages.length === 0) return []
  const online = includeOnline ? new Set<string>() : await sources.online(memberIds)
  const senders = [...new Set(messages.map((m) => m.senderId))]
  const blocks = sources.blocks === undefined ? new Set<string>() : await sources.blocks(senders, memberIds)
  const shouldNotify = sources.shouldNotify ?? notifyEveryone
  return await Promise.all(messages.map(async (m) => {
    const candidates = memberIds.filter((id) => id !== m.senderId && !online.has(id) && !blocks.has(`${id}:${m.senderId}`))
    const wanted = await Promise.all(candidates.map((id) => shouldNotify(id, m.conversationId, m)))
    return candidates.filter((_, i) => wanted[i])
  }))
}
