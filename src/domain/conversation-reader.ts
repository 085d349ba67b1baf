// Reading conversations as a member sees them: one statement for the
// conversations (last message, unread count, member count included), one for
// their members. One conversation shows all its members; a page of the list
// shows the first `membersPreview` of each, so that its cost follows its size,
// not the size of the groups others put the caller in. A member who blocked
// the caller shows them lastReadSeq 0 (README "Accounts and safety").
import type { ConversationPages, ListFilter } from '../repositories/conversation-pages.js'
import type { ConversationRow } from '../repositories/conversations.js'
import type { UnreadTotals } from '../repositories/unread.js'
import { decodeTimeIdCursor, encodeTimeIdCursor } from './cursors.js'
import { notFound } from './errors.js'
import { toNotificationSettings } from './notification-preferences.js'
import { mediaUrl, toMember, toMessage, type ConversationView, type MemberView } from './views.js'

// The cursor is opaque to clients: base64url of "<last activity ISO>|<id>".
export function createConversationReader (repo: ConversationPages, membersPreview: number) {
  async function load (userId: string, filter: ListFilter): Promise<{ rows: ConversationRow[], views: ConversationView[] }> {
    const rows = await repo.listForUser(userId, filter)
    const ids = rows.map((r) => r.id)
    const members = rows.length === 0
      ? []
      : 'id' in filter ? await repo.membersWithUsers(ids, userId) : await repo.memberPreviews(ids, membersPreview, userId)
    const byConversation = new Map<string, MemberView[]>()
    for (const m of members) {
      const list = byConversation.get(m.conversationId) ?? []
      list.push(toMember(m))
      byConversation.set(m.conversationId, list)
    }
    const now = new Date()
    const views = rows.map((r) => ({
      id: r.id,
      type: r.type,
      title: r.title,
      createdAt: r.createdAt.toISOString(),
      lastSeq: r.lastSeq,
      pictureUrl: mediaUrl(r.pictureUploadId),
      public: r.isPublic,
      lastMessage: r.lastMessage === null ? null : toMessage(r.lastMessage),
      unreadCount: r.unreadCount,
      memberCount: r.memberCount,
      frozen: r.frozen,
      slowModeSeconds: r.slowModeSeconds,
      muted: r.muted,
      mentionCount: r.mentionCount,
      threadUnreadCount: r.threadUnreadCount,
      notifications: toNotificationSettings(r.notifications, now),
      lastDeliveredSeq: r.lastDeliveredSeq,
      members: byConversation.get(r.id) ?? []
    }))
    return { rows, views }
  }

  return {
    /** The conversation as the caller sees it, with all its members; 404 unless the caller is a member. */
    async get (userId: string, conversationId: string): Promise<ConversationView> {
      const { views } = await load(userId, { id: conversationId })
      const view = views[0]
      if (view === undefined) throw notFound('Conversation')
      return view
    },

    /**
     * These of the caller's conversations (those they are a member of), each with its first `membersPreview`
     * members. With `unread` (from unreadTotals, which the caller reads anyway) the counts come from there
     * instead of being counted again, conversation by conversation.
     */
    async byIds (userId: string, ids: string[], unread?: UnreadTotals): Promise<ConversationView[]> {
      if (ids.length === 0) return []
      const { views } = await load(userId, { ids, counted: unread === undefined })
      if (unread === undefined) return views
      const counts = new Map(unread.conversations.map((c) => [c.id, c]))
      return views.map((v) => {
        const c = counts.get(v.id)
        return { ...v, unreadCount: c?.unreadCount ?? 0, mentionCount: c?.mentionCount ?? 0, threadUnreadCount: c?.threadUnreadCount ?? 0 }
      })
    },

    /** The caller's conversations, most recent activity first, each with its first `membersPreview` members. */
    async list (userId: string, opts: { limit: number, cursor?: string | undefined }) {
      const after = opts.cursor === undefined ? undefined : decodeTimeIdCursor(opts.cursor)
      const { rows, views } = await load(userId, { limit: opts.limit + 1, after })
      const hasMore = rows.length > opts.limit
      const last = rows[opts.limit - 1]
      return {
        conversations: views.slice(0, opts.limit),
        nextCursor: hasMore && last !== undefined ? encodeTimeIdCursor({ at: last.lastActivityAt, id: last.id }) : null
      }
    }
  }
}

export type ConversationReader = ReturnType<typeof createConversationReader>
