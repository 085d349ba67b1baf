// Messages and the event stream: posting (idempotent by clientMessageId),
// editing, deleting (tombstones), history and replay. A write takes the next
// seq, checks membership under the conversation's row lock, and writes the
// message with its event; the event is published after commit.
import type { RealtimePublisher } from './events.js'
import { createRepositories, type Database } from '../repositories/index.js'
import type { HistoryCursor, MessageChange } from '../repositories/messages.js'
import { isDeepStrictEqual } from 'node:util'
import { checkMessageType, checkMetadata, hasContent } from './custom-data.js'
import { canManage } from './conversations.js'
import { AppError, badRequest, forbidden, notFound } from './errors.js'
import { appendEvents, inConversationTransaction, lockAsMember, toChatEvent, type Tx } from './event-log.js'
import { toMessage, withReactions, type MessageView } from './views.js'
import { parseMentions } from './mentions.js'
import { assertMayInteract } from './reactions.js'
import { unpinDeleted } from './pins.js'
import { createPostBatcher, type PostInput, type PostResult } from './post-batcher.js'

/** What an edit may change (PATCH /v1/conversations/:id/messages/:messageId). */
export interface EditInput { body?: string | undefined, type?: string | undefined, metadata?: unknown }

export interface MessageDeps extends Database {
  publisher: RealtimePublisher
  /** Told of every group commit of posts (see post-batcher.ts), for metrics. */
  observeBatch?: (posts: number, committed: boolean) => void
  /** Called after a commit that marked files for removal (a deleted message's attachments). */
  onFilesReleased?: () => void
  /** Batches of posts in flight at once (POST_POOL_SIZE); 2 by default. */
  postsInFlight?: number
}

/**
 * The members whose window holds the message: its edits and deletion reach
 * only them, by push as by replay (a member who joined after it never saw it).
 */
const canSee = (members: Array<{ userId: string, joinedSeq: number }>, messageSeq: number) =>
  members.filter((m) => m.joinedSeq <= messageSeq).map((m) => m.userId)


export function createMessageService (deps: MessageDeps) {
  const { publisher } = deps
  const repos = createRepositories(deps)

  /** Locks the conversation and finds a message the caller can see. */
  async function lockMessage (tx: Tx, userId: string, conversationId: string, messageId: string) {
    const { conversation, members, me } = await lockAsMember(tx, conversationId, userId)
    const message = await tx.messages.find(conversationId, messageId)
    if (message === null || message.seq < me.joinedSeq) throw notFound('Message')
    return { conversation, members, me, message }
  }

  /** Updates a message under the next seq and writes the event carrying it. */
  async function writeChange (tx: Tx, conversationId: string, type: 'message.updated' | 'message.deleted',
    change: (at: Date) => MessageChange, messageId: string,
    before?: (message: MessageView) => Promise<void>) {
    let message: MessageView | undefined
    const { events } = await appendEvents(tx, conversationId, [{
      type,
      data: null,
      dataFor: async (_seq, at) => {
        message = toMessage(await tx.messages.update(messageId, change(at)))
        await before?.(message)
        return message
      }
    }])
    return { message: message!, events }
  }

  const batcher = createPostBatcher({ pool: deps.lane ?? deps.pool, maxInFlight: deps.postsInFlight ?? 2, publisher, ...(deps.observeBatch === undefined ? {} : { observeBatch: deps.observeBatch }) })

  return {
    /**
     * Posts a message (group-committed with concurrent posts); `created` is
     * false when clientMessageId matched an earlier one (nothing new is stored).
     */
    post (userId: string, conversationId: string, input: Omit<PostInput, 'metadata'> & { metadata?: unknown }): Promise<PostResult> {
      let checked: PostInput
      try {
        const { metadata: _, ...rest } = input
        checked = {
          ...rest,
          ...(input.type === undefined ? {} : { type: checkMessageType(input.type) }),
          ...(input.metadata === undefined ? {} : { metadata: checkMetadata(input.metadata) })
        }
      } catch (err) {
        return Promise.reject(err)
      }
      if (!hasContent({ body: checked.body ?? '', attachments: checked.attachments ?? [], type: checked.type ?? 'text', metadata: checked.metadata ?? null })) {
        return Promise.reject(badRequest("body must have required property 'body' (or attachments, or a type other than text with metadata)"))
      }
      return batcher.submit(userId, conversationId, checked)
    },

    /**
     * Edits the caller's own message; writes message.updated. An unchanged
     * body writes nothing. Mentions are found again in the new body, against
     * the members of now whose window holds the message (a post's are the
     * members of its moment): a name added by the edit mentions, one taken
     * out no longer does, one who joined after the message is text. Counts
     * follow (they read the stored mentions); notifications are for new
     * messages only. type and metadata change as given (metadata null clears
     * it); what is left out stays. Refused as a post is: 403 MUTED, FROZEN,
     * or BLOCKED (a direct conversation whose other member blocked the caller).
     */
    async edit (userId: string, conversationId: string, messageId: string, input: EditInput): Promise<MessageView> {
      const body = input.body?.trim()
      const type = input.type === undefined ? undefined : checkMessageType(input.type)
      const metadata = input.metadata === undefined ? undefined : checkMetadata(input.metadata)
      const result = await inConversationTransaction(repos, conversationId, async (tx) => {
        const { conversation, members, me, message } = await lockMessage(tx, userId, conversationId, messageId)
        if (message.senderId !== userId) throw forbidden('Only the sender can edit a message')
        // An edit puts new text before the others, as a post does: the rules of posting (MUTED, FROZEN, BLOCKED).
        await assertMayInteract(tx, conversation, members, me)
        if (message.deletedAt !== null) throw new AppError(409, 'CONFLICT', 'The message has been deleted')
        const next = { body: body ?? message.body, attachments: message.attachments, type: type ?? message.type, metadata: metadata === undefined ? message.metadata : metadata }
        const bodyChanged = next.body !== message.body
        if (!bodyChanged && next.type === message.type && isDeepStrictEqual(next.metadata, message.metadata)) {
          return { message: toMessage(message), events: [], recipients: [] }
        }
        if (!hasContent(next)) throw badRequest('body must not be left empty: a message needs a body, files, or a type other than text with metadata')
        let change: Omit<MessageChange, 'editedAt'> = { body: next.body, type: next.type, metadata: next.metadata }
        if (bodyChanged) {
          const parsed = parseMentions(next.body)
          const mentions = await tx.messages.resolveMentions(conversationId, userId, parsed.names, message.seq)
          const mentionsAll = parsed.all && conversation.type === 'group' && canManage(me.role)
          change = { ...change, mentions, mentionsAll }
        }
        const edited = await writeChange(tx, conversationId, 'message.updated', (at) => ({ ...change, editedAt: at }), messageId)
        return { ...edited, recipients: canSee(members, message.seq) }
      })
      if (result.events.length > 0) publisher.publishEvents(result.events, result.recipients)
      return result.message
    },

    /**
     * Deletes a message (its sender, or a group's owner or admin): the body is
     * cleared, deletedAt set, and earlier events of it are redacted to the
     * tombstone. Deleting a tombstone again changes nothing.
     */
    async remove (userId: string, conversationId: string, messageId: string): Promise<MessageView> {
      const result = await inConversationTransaction(repos, conversationId, async (tx) => {
        const { conversation, members, me, message } = await lockMessage(tx, userId, conversationId, messageId)
        const moderator = conversation.type === 'group' && canManage(me.role)
        if (message.senderId !== userId && !moderator) throw forbidden('Only the sender or a group owner or admin can delete a message')
        if (message.deletedAt !== null) return { message: toMessage(message), events: [], recipients: [] }
        const deleted = await writeChange(tx, conversationId, 'message.deleted', (at) => ({ body: '', deletedAt: at, attachments: [] }), messageId,
          (tombstone) => tx.events.redactMessage(conversationId, messageId, message.seq, tombstone))
        // A reply: its root's summary counts live replies only (threads.ts).
        if (message.threadRootId !== null) await tx.messages.refreshThreads([message.threadRootId])
        // Its files go once this commits (see uploads.ts).
        if (message.attachments.length > 0) await tx.uploads.markDeleting({ messageIds: [messageId] })
        // Its reactions go with it (a trigger); a pin goes with an event of its own.
        const unpinned = await unpinDeleted(tx, conversationId, [messageId], userId)
        return { message: deleted.message, events: [...deleted.events, ...unpinned], recipients: canSee(members, message.seq), released: message.attachments.length > 0 }
      })
      if (result.events.length > 0) publisher.publishEvents(result.events, result.recipients)
      if ('released' in result && result.released) deps.onFilesReleased?.()
      return result.message
    },

    /** A page of history from the caller's joining on: newest first (before, or neither), oldest first (after). */
    async history (userId: string, conversationId: string, opts: { before?: number | undefined, after?: number | undefined, minSeq?: number | undefined, limit: number }) {
      if (opts.before !== undefined && opts.after !== undefined) throw badRequest('querystring must have either before or after, not both')
      const cursor: HistoryCursor = opts.before !== undefined ? { before: opts.before } : opts.after !== undefined ? { after: opts.after } : { latest: true }
      const rows = await repos.messages.history(conversationId, userId, cursor, opts.limit + 1, opts.minSeq)
      if (rows === null) throw notFound('Conversation')
      const page = rows.slice(0, opts.limit).map(toMessage)
      const reactions = await repos.reactions.summaries(page.map((m) => m.id), userId)
      return { messages: withReactions(page, reactions), hasMore: rows.length > opts.limit }
    },

    /** Events after `after`, ascending, from the caller's joining on. */
    async events (userId: string, conversationId: string, opts: { after: number, minSeq?: number | undefined, limit: number }) {
      const rows = await repos.events.replay(conversationId, userId, opts.after, opts.limit + 1, opts.minSeq)
      if (rows === null) throw notFound('Conversation')
      return { events: rows.slice(0, opts.limit).map(toChatEvent), hasMore: rows.length > opts.limit }
    }
  }
}

export type MessageService = ReturnType<typeof createMessageService>
