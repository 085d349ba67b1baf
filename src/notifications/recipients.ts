// Who is told of a new message by device push: the members whose window holds
// it (the users the events were published to), without those with a live
// socket (unless told otherwise), whom the notification preferences let hear
// of it. The preferences' one rule (shouldNotify in
// src/domain/notification-preferences.ts: the sender, blocks, mutes, levels,
// mentions) is the same the push webhook asks. A thread reply is for the
// thread's followers and the members it mentions only (threadAudience), not
// the whole group. The same rule is asked again before each attempt to send
// (stillNotified), for the webhook and device push alike.
import type { ChatEvent } from '../domain/events.js'
import type { NotifiableMessage, NotifyQuestion } from '../domain/notification-preferences.js'

export interface NotifiedMessage extends NotifiableMessage { id: string, body: string, createdAt: string, threadRootId?: string | null }

export interface RecipientSources {
  /** Which of these users are online (on any process). */
  online (userIds: string[]): Promise<Set<string>>
  /** Whether each recipient should hear of each message, in the order asked. */
  shouldNotify (questions: NotifyQuestion[]): Promise<boolean[]>
  /** For each thread root, the users who follow it (src/repositories/threads.ts). */
  threadFollowers (rootIds: string[]): Promise<Map<string, string[]>>
}

/**
 * For each message, the users of `memberIds` it may notify: all of them, but
 * for a thread reply only the thread's followers and the members it mentions
 * (all, with @all). Followers include the reply's own sender and mentioned
 * members: post_messages made them follow in the same transaction.
 */
export async function threadAudience (threadFollowers: RecipientSources['threadFollowers'], messages: Array<{ threadRootId?: string | null, mentions: string[], mentionsAll: boolean }>,
  memberIds: string[]): Promise<string[][]> {
  const roots = [...new Set(messages.flatMap((m) => m.threadRootId == null ? [] : [m.threadRootId]))]
  const followers = roots.length === 0 ? new Map<string, string[]>() : await threadFollowers(roots)
  return messages.map((m) => {
    if (m.threadRootId == null || m.mentionsAll) return memberIds
    const audience = new Set([...(followers.get(m.threadRootId) ?? []), ...m.mentions])
    return memberIds.filter((id) => audience.has(id))
  })
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
  const audiences = await threadAudience((roots) => sources.threadFollowers(roots), messages, memberIds)
  const questions: Array<NotifyQuestion & { index: number }> = []
  messages.forEach((m, index) => {
    for (const id of audiences[index]!) if (id !== m.senderId && !online.has(id)) questions.push({ recipientId: id, message: m, index })
  })
  const answers = questions.length === 0 ? [] : await sources.shouldNotify(questions)
  const recipients: string[][] = messages.map(() => [])
  questions.forEach((q, i) => { if (answers[i] === true) recipients[q.index]!.push(q.recipientId) })
  return recipients
}

/** What a queued notification (webhook job, device delivery) keeps of its message and recipient. */
export interface QueuedNotification {
  recipientId: string
  conversationId: string
  seq: number
  senderId: string
  /** Whether the message mentioned the recipient when it was queued (by name or by @all). */
  mentioned?: boolean | undefined
}

/**
 * Whether each queued notification may still go, asked before every attempt
 * (the first, after a queue behind, and each retry): the rule that queued it
 * (shouldNotify), as things are now. A recipient suspended, deleted, removed
 * (or whose window no longer holds the message), blocking the sender, muted
 * there or at level none since is told nothing: the payload carries the text.
 * Mentions are those of queue time (an edit notifies nobody).
 */
export async function stillNotified (shouldNotify: RecipientSources['shouldNotify'], queued: QueuedNotification[]): Promise<boolean[]> {
  if (queued.length === 0) return []
  return await shouldNotify(queued.map((q) => ({
    recipientId: q.recipientId,
    message: { conversationId: q.conversationId, seq: q.seq, senderId: q.senderId, mentions: q.mentioned === true ? [q.recipientId] : [], mentionsAll: false }
  })))
}
