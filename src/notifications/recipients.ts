// Who is told of a new message by device push: the members whose window holds
// it (the users the events were published to), without those with a live
// socket (unless told otherwise), whom the notification preferences let hear
// of it. The preferences' one rule (shouldNotify in
// src/domain/notification-preferences.ts: the sender, blocks, mutes, levels,
// mentions) is the same the push webhook asks.
import type { ChatEvent } from '../domain/events.js'
import type { NotifiableMessage, NotifyQuestion } from '../domain/notification-preferences.js'

export interface NotifiedMessage extends NotifiableMessage { id: string, body: string, createdAt: string }

export interface RecipientSources {
  /** Which of these users are online (on any process). */
  online (userIds: string[]): Promise<Set<string>>
  /** Whether each recipient should hear of each message, in the order asked. */
  shouldNotify (questions: NotifyQuestion[]): Promise<boolean[]>
}

/** The message.created events of a batch, as messages. */
export function createdMessages (events: ChatEvent[]): NotifiedMessage[] {
  return events.filter((e) => e.type === 'message.created').map((e) => {
    const m = e.data as Partial<NotifiedMessage> & Omit<NotifiedMessage, 'conversationId' | 'mentions' | 'mentionsAll'>
    return { ...m, conversationId: e.conversationId, mentions: m.mentions ?? [], mentionsAll: m.mentionsAll ?? false }
  })
}

/** For each message, the members (of `memberIds`, the users whose window holds the events) to notify. */
export async function messageRecipients (sources: RecipientSources, messages: NotifiedMessage[], memberIds: string[], { includeOnline = false } = {}): Promise<string[][]> {
  if (messages.length === 0) return []
  const online = includeOnline ? new Set<string>() : await sources.online(memberIds)
  const questions: Array<NotifyQuestion & { index: number }> = []
  messages.forEach((m, index) => {
    for (const id of memberIds) if (id !== m.senderId && !online.has(id)) questions.push({ recipientId: id, message: m, index })
  })
  const answers = questions.length === 0 ? [] : await sources.shouldNotify(questions)
  const recipients: string[][] = messages.map(() => [])
  questions.forEach((q, i) => { if (answers[i] === true) recipients[q.index]!.push(q.recipientId) })
  return recipients
}
