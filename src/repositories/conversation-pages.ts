// The conversation list's pages and the member pages: what a client reads of
// its conversations (GET /v1/conversations, GET /v1/sync's views, member
// lists). The list query returns a whole page (with each conversation's last
// message, unread count and member count) in one statement, and the first few
// members of all its conversations in one more: a page costs the same number
// of queries whatever its size, and reads a bounded number of members whatever
// the size of its groups.
import { Prisma } from '../generated/prisma/client.js'
import type { ConversationRow, MemberWithUser, NotificationLevel, Role } from './conversations.js'
import type { Raw } from './db.js'
import type { AttachmentView, Metadata } from './messages.js'
import { threadUnreadCounts, unreadCounts } from './unread.js'

/** Where a page of members starts: after this member in joining order. */
export interface MemberCursor { joinedAt: Date, userId: string }

/**
 * One conversation, these (`counted: false`: their unread counts read as 0, for a caller that has them from
 * unreadTotals already), or a page in activity order.
 */
export type ListFilter = { id: string } | { ids: string[], counted?: boolean } | { limit: number, after?: { at: Date, id: string } | undefined }

interface RawListRow {
  id: string, type: 'direct' | 'group', title: string | null, created_at: Date, last_seq: number,
  last_activity_at: Date, last_read_seq: number, last_delivered_seq: number, unread_count: number, member_count: number,
  frozen: boolean, slow_mode_seconds: number, muted: boolean, picture_upload_id: string | null, is_public: boolean,
  lm_id: string | null, lm_seq: number, lm_sender_id: string, lm_body: string, lm_client_message_id: string | null,
  lm_reply_to_id: string | null, lm_created_at: Date, lm_edited_at: Date | null, lm_deleted_at: Date | null,
  lm_mentions: string[] | null, lm_mentions_all: boolean,
  mention_count: number, notification_level: NotificationLevel | 'default', notifications_muted_until: Date | null,
  lm_attachments: AttachmentView[]
  lm_type: string, lm_metadata: Metadata | null
  lm_thread_reply_count: number, lm_thread_last_reply_at: Date | null, lm_thread_participants: string[] | null
  thread_unread_count: number
}

interface RawMemberRow {
  conversation_id: string, role: Role, last_read_seq: number, last_delivered_seq: number, joined_at: Date,
  user_id: string, username: string, display_name: string, user_created_at: Date, avatar_upload_id: string | null
}

// The unread counts of a row of listForUser's page (p).
const PAGE_MEMBERSHIP = { conversationId: 'p.id', userId: 'p.user_id', lastReadSeq: 'p.last_read_seq', joinedSeq: 'p.joined_seq' }
const UNREAD_OF_PAGE = Prisma.raw(unreadCounts(PAGE_MEMBERSHIP, { lastSeq: 'p.last_seq', timelineCount: 'p.timeline_count' }))
const THREAD_UNREAD_OF_PAGE = Prisma.raw(threadUnreadCounts(PAGE_MEMBERSHIP))
const NO_UNREAD = Prisma.raw('SELECT 0 AS unread_count, 0 AS mention_count')
const NO_THREAD_UNREAD = Prisma.raw('SELECT 0 AS thread_unread_count')


// The columns of RawMemberRow, from a membership row m joined with its user u.
/** The member columns as `viewerId` sees them: a member who blocked the viewer shows lastReadSeq and lastDeliveredSeq 0. */
const memberColumns = (viewerId: string) => Prisma.sql`m.conversation_id, m.role::text AS role,
  CASE WHEN EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = m.user_id AND b.blocked_id = ${viewerId}::uuid) THEN 0 ELSE m.last_read_seq END AS last_read_seq,
  CASE WHEN EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = m.user_id AND b.blocked_id = ${viewerId}::uuid) THEN 0
       ELSE GREATEST(m.last_delivered_seq, m.last_read_seq) END AS last_delivered_seq,
  m.joined_at, u.id AS user_id, u.username, u.display_name, u.created_at AS user_created_at, u.avatar_upload_id`

const toMemberWithUser = (r: RawMemberRow): MemberWithUser => ({
  conversationId: r.conversation_id,
  role: r.role,
  lastReadSeq: r.last_read_seq,
  lastDeliveredSeq: r.last_delivered_seq,
  joinedAt: r.joined_at,
  user: { id: r.user_id, username: r.username, displayName: r.display_name, createdAt: r.user_created_at, avatarUploadId: r.avatar_upload_id }
})

/**
 * The statements of the pages, on what `raw` runs them on: Prisma or one of its transactions (conversations.ts), or
 * a sync page's connection (sync.ts).
 */
export function conversationPageStatements (raw: Raw) {
  return {
    /**
     * The caller's conversations, most recent activity first, each with its
     * last visible message and the caller's unread count: one statement.
     */
    async listForUser (userId: string, filter: ListFilter): Promise<ConversationRow[]> {
      const where = 'id' in filter
        ? Prisma.sql`AND c.id = ${filter.id}::uuid`
        : 'ids' in filter
          // On both sides: the planner does not carry an ANY over the join, and with it on c.id alone it sometimes
          // read all of the caller's memberships (500 in the sync bench: 750 buffers a call instead of 80).
          ? Prisma.sql`AND c.id = ANY(${filter.ids}::uuid[]) AND m.conversation_id = ANY(${filter.ids}::uuid[])`
          : filter.after === undefined
          ? Prisma.empty
          : Prisma.sql`AND (c.last_activity_at, c.id) < (${filter.after.at}::timestamptz, ${filter.after.id}::uuid)`
      const limit = 'id' in filter ? 1 : 'ids' in filter ? filter.ids.length : filter.limit
      const counted = !('ids' in filter) || filter.counted !== false
      const rows = await raw<RawListRow>(Prisma.sql`
        WITH page AS (
          SELECT c.id, c.type::text AS type, c.title, c.created_at, c.last_seq, c.timeline_count, c.last_activity_at, c.member_count,
                 c.frozen_at IS NOT NULL AS frozen, c.slow_mode_seconds, m.muted_at IS NOT NULL AS muted, c.picture_upload_id, c.is_public,
                 m.user_id, m.last_read_seq, m.joined_seq, m.notification_level, m.notifications_muted_until,
                 GREATEST(m.last_delivered_seq, m.last_read_seq) AS last_delivered_seq
            FROM memberships m JOIN conversations c ON c.id = m.conversation_id
           WHERE m.user_id = ${userId}::uuid AND m.left_at IS NULL ${where}
           ORDER BY c.last_activity_at DESC, c.id DESC
           LIMIT ${limit}::int
        )
        SELECT p.id, p.type, p.title, p.created_at, p.last_seq, p.last_activity_at, p.last_read_seq, p.last_delivered_seq, p.member_count,
               p.frozen, p.slow_mode_seconds, p.muted, p.picture_upload_id, p.is_public,
               COALESCE(uc.unread_count, 0) AS unread_count, COALESCE(uc.mention_count, 0) AS mention_count, p.notification_level, p.notifications_muted_until,
               lm.id AS lm_id, lm.seq AS lm_seq, lm.sender_id AS lm_sender_id, lm.body AS lm_body,
               lm.client_message_id AS lm_client_message_id, lm.reply_to_id AS lm_reply_to_id,
               lm.created_at AS lm_created_at, lm.edited_at AS lm_edited_at, lm.deleted_at AS lm_deleted_at,
               lm.mentions AS lm_mentions, lm.mentions_all AS lm_mentions_all, lm.attachments AS lm_attachments,
               lm.type AS lm_type, lm.metadata AS lm_metadata, lm.thread_reply_count AS lm_thread_reply_count,
               lm.thread_last_reply_at AS lm_thread_last_reply_at, lm.thread_participants AS lm_thread_participants,
               tu.thread_unread_count
          FROM page p
          -- Unread and mentions: the one rule of unread.ts (also GET /v1/me/unread and push badges).
          LEFT JOIN LATERAL (${counted ? UNREAD_OF_PAGE : NO_UNREAD}) uc ON true
          -- Unread replies of the threads the caller follows here (src/domain/threads.ts).
          CROSS JOIN LATERAL (${counted ? THREAD_UNREAD_OF_PAGE : NO_THREAD_UNREAD}) tu
          -- The preview is of the conversation's own timeline: not a thread reply.
          LEFT JOIN LATERAL (
            SELECT * FROM messages x WHERE x.conversation_id = p.id AND x.seq >= p.joined_seq AND x.thread_root_id IS NULL
             ORDER BY x.seq DESC LIMIT 1
          ) lm ON true
         ORDER BY p.last_activity_at DESC, p.id DESC`)
      return rows.map((r) => ({
        id: r.id,
        type: r.type,
        title: r.title,
        createdAt: r.created_at,
        lastSeq: r.last_seq,
        lastActivityAt: r.last_activity_at,
        lastReadSeq: r.last_read_seq,
        lastDeliveredSeq: r.last_delivered_seq,
        unreadCount: r.unread_count,
        memberCount: r.member_count,
        frozen: r.frozen,
        slowModeSeconds: r.slow_mode_seconds,
        muted: r.muted,
        mentionCount: r.mention_count,
        threadUnreadCount: r.thread_unread_count,
        notifications: { level: r.notification_level, muteUntil: r.notifications_muted_until },
        pictureUploadId: r.picture_upload_id,
        isPublic: r.is_public,
        lastMessage: r.lm_id === null
          ? null
          : {
              id: r.lm_id,
              conversationId: r.id,
              seq: r.lm_seq,
              senderId: r.lm_sender_id,
              body: r.lm_body,
              clientMessageId: r.lm_client_message_id,
              replyToId: r.lm_reply_to_id,
              createdAt: r.lm_created_at,
              editedAt: r.lm_edited_at,
              deletedAt: r.lm_deleted_at,
              mentions: r.lm_mentions ?? [],
              mentionsAll: r.lm_mentions_all,
              attachments: r.lm_attachments,
              type: r.lm_type,
              metadata: r.lm_metadata,
              threadRootId: null,
              threadReplyCount: r.lm_thread_reply_count,
              threadLastReplyAt: r.lm_thread_last_reply_at,
              threadParticipants: r.lm_thread_participants ?? []
            }
      }))
    },

    /**
     * The first `perConversation` current members of each conversation (in
     * joining order), with their profiles, in one query that reads no more
     * member rows than it returns (the partial index is in joining order).
     */
    async memberPreviews (conversationIds: string[], perConversation: number, viewerId: string): Promise<MemberWithUser[]> {
      if (conversationIds.length === 0) return []
      const rows = await raw<RawMemberRow>(Prisma.sql`
        SELECT ${memberColumns(viewerId)}
          FROM unnest(${conversationIds}::uuid[]) AS p(id)
         CROSS JOIN LATERAL (
           SELECT * FROM memberships x WHERE x.conversation_id = p.id AND x.left_at IS NULL
            ORDER BY x.joined_at, x.user_id
            LIMIT ${perConversation}::int) m
          JOIN users u ON u.id = m.user_id
         ORDER BY m.conversation_id, m.joined_at, m.user_id`)
      return rows.map(toMemberWithUser)
    },

    /**
     * Up to `limit` current members after `after` in joining order (then user
     * id), checking in the same statement that `userId` is a current member:
     * null when they are not, [] past the last member.
     */
    async memberPage (conversationId: string, userId: string, after: MemberCursor | undefined, limit: number): Promise<MemberWithUser[] | null> {
      const from = after === undefined
        ? Prisma.empty
        : Prisma.sql`AND (x.joined_at, x.user_id) > (${after.joinedAt}::timestamptz, ${after.userId}::uuid)`
      const rows = await raw<RawMemberRow | { [K in keyof RawMemberRow]: null }>(Prisma.sql`
        SELECT ${memberColumns(userId)}
          FROM memberships me
          LEFT JOIN LATERAL (
            SELECT * FROM memberships x WHERE x.conversation_id = me.conversation_id AND x.left_at IS NULL ${from}
             ORDER BY x.joined_at, x.user_id
             LIMIT ${limit}::int) m ON true
          LEFT JOIN users u ON u.id = m.user_id
         WHERE me.conversation_id = ${conversationId}::uuid AND me.user_id = ${userId}::uuid AND me.left_at IS NULL
         ORDER BY m.joined_at, m.user_id`)
      if (rows.length === 0) return null
      return rows.filter((r): r is RawMemberRow => r.user_id !== null).map(toMemberWithUser)
    },

    /** Current members of several conversations, with their profiles, as `viewerId` sees them (see memberColumns). */
    async membersWithUsers (conversationIds: string[], viewerId: string): Promise<MemberWithUser[]> {
      if (conversationIds.length === 0) return []
      const rows = await raw<RawMemberRow>(Prisma.sql`
        SELECT ${memberColumns(viewerId)}
          FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.conversation_id = ANY(${conversationIds}::uuid[]) AND m.left_at IS NULL
         ORDER BY m.joined_at, m.user_id`)
      return rows.map(toMemberWithUser)
    }
  }
}

export type ConversationPages = ReturnType<typeof conversationPageStatements>
