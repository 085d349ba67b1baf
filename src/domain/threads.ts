// Threads (README "Threads and custom message data"): a reply carries
// threadRootId and is an ordinary message of the conversation's event log, so
// replay and resume need nothing new. It does not count in the conversation's
// unreadCount nor show as its lastMessage. Its root keeps a summary (live
// replies, last reply time, first 5 participants) that post_messages updates
// in the transaction of the reply, and deletions of replies recompute. Each
// member has a read position per thread; they follow a thread (Slack's rule)
// when they started it, replied to it or were mentioned in it, and only the
// threads they follow count as thread unread and are listed by /v1/me/threads.
import type { RealtimePublisher } from './events.js'
import { createRepositories, type Database } from '../repositories/index.js'
import type { HistoryCursor } from '../repositories/messages.js'
import { badRequest, notFound } from './errors.js'
import { decodeTimeIdCursor, encodeTimeIdCursor } from './cursors.js'
import { toMessage, withReactions, type MessageView } from './views.js'

export interface ThreadDeps extends Database { publisher: RealtimePublisher }

export interface FollowedThread { conversationId: string, root: MessageView, unreadCount: number, lastReadSeq: number }

// The cursor of /v1/me/threads is opaque (cursors.ts): by last activity, then root id.

export function createThreadService (deps: ThreadDeps) {
  const repos = createRepositories(deps)

  /**
   * A thread the caller may read: its root is a top-level message of the
   * conversation, within their window, or from before it when the thread has
   * a reply within it (pushed to them as any message of their window: its
   * page must not be a 404). The root itself is never shown here, so one
   * from before the window stays withheld, as history withholds it. Else 404.
   */
  async function readableThread (userId: string, conversationId: string, rootId: string): Promise<void> {
    const [member, root] = await Promise.all([repos.conversations.findMember(conversationId, userId), repos.messages.find(conversationId, rootId)])
    if (member === null) throw notFound('Conversation')
    if (root === null || root.threadRootId !== null) throw notFound('Thread root message')
    if (root.seq < member.joinedSeq && !(await repos.threads.hasReplyFrom(rootId, member.joinedSeq))) throw notFound('Thread root message')
  }

  return {
    /** A page of a thread's replies, as history pages the conversation (keyset on seq, within the caller's window). */
    async replies (userId: string, conversationId: string, rootId: string, opts: { before?: number | undefined, after?: number | undefined, limit: number }) {
      if (opts.before !== undefined && opts.after !== undefined) throw badRequest('querystring must have either before or after, not both')
      await readableThread(userId, conversationId, rootId)
      const cursor: HistoryCursor = opts.before !== undefined ? { before: opts.before } : opts.after !== undefined ? { after: opts.after } : { latest: true }
      const rows = await repos.messages.thread(conversationId, userId, rootId, cursor, opts.limit + 1)
      if (rows === null) throw notFound('Conversation')
      // As history: each reply with its reactions (README "Reactions, pins and receipts").
      const page = rows.slice(0, opts.limit).map(toMessage)
      return { messages: withReactions(page, await repos.reactions.summaries(page.map((m) => m.id), userId)), hasMore: rows.length > opts.limit }
    },

    /**
     * Moves the caller's read position in a thread forward (never back; at
     * most the conversation's lastSeq). A move is told to the caller's own
     * connections (thread.read), with their counts after it, read in the
     * transaction of the move: a member removed meanwhile gets it before
     * their member.removed, or not at all.
     */
    async markRead (userId: string, conversationId: string, rootId: string, seq: number): Promise<void> {
      await readableThread(userId, conversationId, rootId)
      const moved = await repos.threads.advanceRead(conversationId, rootId, userId, seq)
      if (moved === null) {
        // Removed since readableThread: as if removed before.
        if ((await repos.conversations.findMember(conversationId, userId)) === null) throw notFound('Conversation')
        return
      }
      deps.publisher.publishThreadRead({ conversationId, userId, rootId, ...moved })
    },

    /** The threads the caller follows, newest activity first, each with its root (and summary) and the caller's unread count. */
    async followed (userId: string, opts: { limit: number, cursor?: string | undefined }): Promise<{ threads: FollowedThread[], nextCursor: string | null }> {
      const after = opts.cursor === undefined ? undefined : decodeTimeIdCursor(opts.cursor)
      const rows = await repos.threads.followed(userId, opts.limit + 1, after)
      const page = rows.slice(0, opts.limit)
      const last = page.at(-1)
      return {
        threads: page.map((r) => ({ conversationId: r.root.conversationId, root: toMessage(r.root), unreadCount: r.unreadCount, lastReadSeq: r.lastReadSeq })),
        nextCursor: rows.length > opts.limit && last !== undefined ? encodeTimeIdCursor({ at: last.lastActivityAt, id: last.root.id }) : null
      }
    }
  }
}

export type ThreadService = ReturnType<typeof createThreadService>
