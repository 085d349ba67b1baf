// Pinned messages: a group's owner and admins pin and unpin (in a direct
// conversation, either member), at most PINS_PER_CONVERSATION at once. Each
// change is an event in the conversation's log (message.pinned /
// message.unpinned, data { messageId, messageSeq, by }), written under the
// conversation's lock and published after commit to the members whose window
// holds the message. Deleting a message unpins it, with the event (unpinDeleted,
// called by every way of deleting one).
import type { ChatEvent, RealtimePublisher } from './events.js'
import { createRepositories, type Database } from '../repositories/index.js'
import { canManage } from './conversations.js'
import { AppError, forbidden, notFound } from './errors.js'
import { appendEvents, inConversationTransaction, lockAsMember, type Tx } from './event-log.js'
import { assertMayInteract, lockLiveMessage, membersSeeing } from './reactions.js'
import { toMessage, withReactions, type MessageView } from './views.js'
import type { LockedConversation, MemberRow } from '../repositories/conversations.js'

export interface PinDeps extends Database {
  publisher: RealtimePublisher
  perConversation: number
}

/** data of message.pinned / message.unpinned. */
export interface PinEventData { messageId: string, messageSeq: number, by: string }

export interface PinView { message: MessageView, pinnedBy: string, pinnedAt: string }

/**
 * Unpins messages that are being deleted (inside the deleting transaction,
 * after their message.deleted): one message.unpinned each, by `by`.
 */
export async function unpinDeleted (tx: Tx, conversationId: string, messageIds: string[], by: string): Promise<ChatEvent[]> {
  const unpinned = await tx.pins.remove(messageIds)
  if (unpinned.length === 0) return []
  const { events } = await appendEvents(tx, conversationId, unpinned.map((p) => ({
    type: 'message.unpinned' as const,
    data: { messageId: p.messageId, messageSeq: p.seq, by } satisfies PinEventData
  })))
  return events
}

function assertMayPin (conversation: LockedConversation, me: MemberRow) {
  if (conversation.type === 'group' && !canManage(me.role)) throw forbidden('Only the owner or an admin can pin messages in a group')
}

export function createPinService (deps: PinDeps) {
  const { publisher } = deps
  const repos = createRepositories(deps)

  async function view (userId: string, message: MessageView, pinnedBy: string, pinnedAt: Date): Promise<PinView> {
    const [withThem] = withReactions([message], await repos.reactions.summaries([message.id], userId))
    return { message: withThem!, pinnedBy, pinnedAt: pinnedAt.toISOString() }
  }

  return {
    /** Pins a message the caller can see; already pinned: the pin as it is, nothing written. */
    async pin (userId: string, conversationId: string, messageId: string): Promise<PinView> {
      const result = await inConversationTransaction(repos, conversationId, async (tx) => {
        const { conversation, members, me, message } = await lockLiveMessage(tx, userId, conversationId, messageId)
        assertMayPin(conversation, me)
        await assertMayInteract(tx, conversation, members, me)
        const existing = await tx.pins.find(messageId)
        if (existing !== null) return { message, pin: existing, events: [], recipients: [] }
        if (await tx.pins.count(conversationId) >= deps.perConversation) {
          throw new AppError(409, 'TOO_MANY_PINS', `At most ${deps.perConversation} pinned messages per conversation`)
        }
        let pin: Awaited<ReturnType<typeof tx.pins.add>> | undefined
        const { events } = await appendEvents(tx, conversationId, [{
          type: 'message.pinned',
          data: null,
          dataFor: async (_seq, at) => {
            pin = await tx.pins.add(conversationId, messageId, userId, at)
            return { messageId, messageSeq: message.seq, by: userId } satisfies PinEventData
          }
        }])
        return { message, pin: pin!, events, recipients: membersSeeing(members, message.seq) }
      })
      if (result.events.length > 0) publisher.publishEvents(result.events, result.recipients)
      return view(userId, toMessage(result.message), result.pin.pinnedBy, result.pin.pinnedAt)
    },

    /** Unpins a message the caller can see; not pinned: nothing written. */
    async unpin (userId: string, conversationId: string, messageId: string): Promise<void> {
      const result = await inConversationTransaction(repos, conversationId, async (tx) => {
        const { conversation, members, me } = await lockAsMember(tx, conversationId, userId)
        const message = await tx.messages.find(conversationId, messageId)
        if (message === null || message.seq < me.joinedSeq) throw notFound('Message')
        assertMayPin(conversation, me)
        await assertMayInteract(tx, conversation, members, me)
        if (await tx.pins.find(messageId) === null) return null
        const { events } = await appendEvents(tx, conversationId, [{
          type: 'message.unpinned',
          data: null,
          dataFor: async () => {
            await tx.pins.remove([messageId])
            return { messageId, messageSeq: message.seq, by: userId } satisfies PinEventData
          }
        }])
        return { events, recipients: membersSeeing(members, message.seq) }
      })
      if (result !== null) publisher.publishEvents(result.events, result.recipients)
    },

    /** The pinned messages the caller can see, newest pin first, each with its reactions. */
    async list (userId: string, conversationId: string): Promise<{ pins: PinView[] }> {
      const rows = await repos.pins.list(conversationId, userId)
      if (rows === null) throw notFound('Conversation')
      const messages = withReactions(rows.map((r) => toMessage(r.message)), await repos.reactions.summaries(rows.map((r) => r.message.id), userId))
      return { pins: rows.map((r, i) => ({ message: messages[i]!, pinnedBy: r.pinnedBy, pinnedAt: r.pinnedAt.toISOString() })) }
    }
  }
}

export type PinService = ReturnType<typeof createPinService>
