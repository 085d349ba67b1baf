// Conversations and their memberships. The list query returns a whole page
// (with each conversation's last message, unread count and member count) in
// one statement, and the first few members of all its conversations in one
// more: a page costs the same number of queries whatever its size, and reads a
// bounded number of members whatever the size of its groups. All through
// Prisma, but the member ids read per typing frame (on the pool, see db.ts).
import type { AttachmentView } from './messages.js'
import { Prisma } from '../generated/prisma/client.js'
import type { Client, Database } from './db.js'
import type { MessageRow } from './messages.js'
import type { Metadata } from './messages.js'
import { threadUnreadCounts, unreadCounts } from './unread.js'

export type Role = 'owner' | 'admin' | 'member'
export type NotificationLevel = 'all' | 'mentions' | 'none'

export interface ConversationRow {
  id: string
  type: 'direct' | 'group'
  title: string | null
  createdAt: Date
  lastSeq: number
  lastActivityAt: Date
  lastReadSeq: number
  /** The caller's delivery position, at least lastReadSeq. */
  lastDeliveredSeq: number
  unreadCount: number
  memberCount: number
  lastMessage: MessageRow | null
  frozen: boolean
  slowModeSeconds: number
  /** Whether the caller is muted in it. */
  muted: boolean
  /** Unread messages that mention the caller (see listForUser). */
  mentionCount: number
  threadUnreadCount: number
  /** The caller's notification settings here, as stored. */
  notifications: { level: NotificationLevel | 'default', muteUntil: Date | null }
  pictureUploadId: string | null
  /** A public group (channel). */
  isPublic: boolean
}

export interface LockedConversation {
  id: string
  type: 'direct' | 'group'
  title: string | null
  createdAt: Date
  lastSeq: number
  pictureUploadId: string | null
  isPublic: boolean
}

/** A public group as the channel directory shows it. */
export interface ChannelRow {
  id: string
  title: string
  createdAt: Date
  memberCount: number
  pictureUploadId: string | null
  /** Whether the caller is a current member. */
  joined: boolean
}

export interface MemberRow {
  conversationId: string
  userId: string
  role: Role
  joinedSeq: number
  lastReadSeq: number
  joinedAt: Date
}

/** A current member with their profile, as the Conversation object shows it. */
export interface MemberWithUser {
  conversationId: string
  role: Role
  lastReadSeq: number
  lastDeliveredSeq: number
  joinedAt: Date
  user: { id: string, username: string, displayName: string, createdAt: Date, avatarUploadId: string | null }
}

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

const memberSelect = { conversationId: true, userId: true, role: true, joinedSeq: true, lastReadSeq: true, joinedAt: true } as const

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

/** The statements that also run inside a transaction (see index.ts). */
export function conversationStatements (db: Client) {
  /**
   * Invite links and pending invitations stand for the group only while their
   * maker can add members: a removed or demoted admin's ones no longer let
   * anyone in (an admin removed for abuse cannot hand out a link made before).
   */
  async function revokeInvitesOf (conversationId: string, userId: string, at: Date): Promise<void> {
    await db.$executeRaw`
      UPDATE conversation_invites SET revoked_at = ${at}::timestamptz
       WHERE conversation_id = ${conversationId}::uuid AND created_by = ${userId}::uuid AND revoked_at IS NULL`
    await db.$executeRaw`DELETE FROM group_invitations WHERE conversation_id = ${conversationId}::uuid AND invited_by = ${userId}::uuid`
  }

  return {
    /** Locks the conversation row until the transaction ends. */
    async lock (conversationId: string): Promise<LockedConversation | null> {
      const rows = await db.$queryRaw<Array<{ id: string, type: 'direct' | 'group', title: string | null, created_at: Date, last_seq: number, picture_upload_id: string | null, is_public: boolean }>>`
        SELECT id, type::text AS type, title, created_at, last_seq, picture_upload_id, is_public FROM conversations WHERE id = ${conversationId}::uuid FOR UPDATE`
      const row = rows[0]
      return row === undefined ? null : { id: row.id, type: row.type, title: row.title, createdAt: row.created_at, lastSeq: row.last_seq, pictureUploadId: row.picture_upload_id, isPublic: row.is_public }
    },

    findDirect (directKey: string) {
      return db.conversation.findUnique({ where: { directKey }, select: { id: true } })
    },

    async create (data: { id: string, type: 'direct' | 'group', title: string | null, directKey: string | null, lastSeq: number, at: Date, isPublic?: boolean },
      members: Array<{ userId: string, role: Role }>): Promise<void> {
      await db.conversation.create({
        data: { id: data.id, type: data.type, title: data.title, directKey: data.directKey, lastSeq: data.lastSeq, lastActivityAt: data.at, createdAt: data.at, isPublic: data.isPublic ?? false }
      })
      await db.membership.createMany({
        data: members.map((m) => ({ conversationId: data.id, userId: m.userId, role: m.role, joinedSeq: 1, lastReadSeq: data.lastSeq, joinedAt: data.at }))
      })
    },

    /** The caller's live membership, or null (never joined, or removed). */
    findMember (conversationId: string, userId: string): Promise<MemberRow | null> {
      return db.membership.findFirst({ where: { conversationId, userId, leftAt: null }, select: memberSelect })
    },

    /** Current members, in joining order. */
    members (conversationId: string): Promise<MemberRow[]> {
      return db.membership.findMany({
        where: { conversationId, leftAt: null },
        orderBy: [{ joinedAt: 'asc' }, { userId: 'asc' }],
        select: memberSelect
      })
    },

    /** Adds members, or brings removed ones back, visible from `joinedSeq` on. */
    async addMembers (conversationId: string, added: Array<{ userId: string, joinedSeq: number }>, lastReadSeq: number, at: Date): Promise<void> {
      if (added.length === 0) return
      const userIds = added.map((a) => a.userId)
      const seqs = added.map((a) => a.joinedSeq)
      await db.$executeRaw`
        INSERT INTO memberships (conversation_id, user_id, role, joined_seq, last_read_seq, joined_at, left_at)
        SELECT ${conversationId}::uuid, a.user_id, 'member', a.joined_seq, ${lastReadSeq}::int, ${at}::timestamptz, NULL
          FROM unnest(${userIds}::uuid[], ${seqs}::int[]) AS a(user_id, joined_seq)
        ON CONFLICT (conversation_id, user_id) DO UPDATE
          SET role = 'member', joined_seq = EXCLUDED.joined_seq, last_read_seq = EXCLUDED.last_read_seq,
              joined_at = EXCLUDED.joined_at, left_at = NULL, left_seq = NULL`
    },

    /** Ends a member's window at `seq`, the seq of their member.removed. */
    /** The member leaves (or is removed): what they could add members with goes with their authority. */
    async markLeft (conversationId: string, userId: string, at: Date, seq: number): Promise<void> {
      await db.membership.update({ where: { conversationId_userId: { conversationId, userId } }, data: { leftAt: at, leftSeq: seq } })
      await revokeInvitesOf(conversationId, userId, at)
    },

    /** A member made a plain member loses what they could add members with, as on leaving. */
    async setRole (conversationId: string, userId: string, role: Role): Promise<void> {
      await db.membership.update({ where: { conversationId_userId: { conversationId, userId } }, data: { role } })
      if (role === 'member') await revokeInvitesOf(conversationId, userId, new Date())
    },

    async setPicture (id: string, pictureUploadId: string | null): Promise<void> {
      await db.conversation.update({ where: { id }, data: { pictureUploadId }, select: { id: true } })
    },

    async setPublic (id: string, isPublic: boolean): Promise<void> {
      await db.conversation.update({ where: { id }, data: { isPublic }, select: { id: true } })
    },

    /**
     * Public groups, newest first (keyset on id), whose title holds `query`
     * (ILIKE pattern, already escaped) when given, and whether `userId` is a member.
     */
    async channels (userId: string, opts: { pattern?: string | undefined, beforeId?: string | undefined, limit: number }): Promise<ChannelRow[]> {
      const title = opts.pattern === undefined ? Prisma.empty : Prisma.sql`AND c.title ILIKE ${opts.pattern}::text`
      const before = opts.beforeId === undefined ? Prisma.empty : Prisma.sql`AND c.id < ${opts.beforeId}::uuid`
      return db.$queryRaw<ChannelRow[]>`
        SELECT c.id, c.title, c.created_at AS "createdAt", c.member_count AS "memberCount", c.picture_upload_id AS "pictureUploadId",
               EXISTS (SELECT 1 FROM memberships m WHERE m.conversation_id = c.id AND m.user_id = ${userId}::uuid AND m.left_at IS NULL) AS joined
          FROM conversations c
         WHERE c.is_public AND c.type = 'group' ${title} ${before}
         ORDER BY c.id DESC
         LIMIT ${opts.limit}::int`
    },

    async setTitle (id: string, title: string): Promise<void> {
      await db.conversation.update({ where: { id }, data: { title } })
    },

    /**
     * Moves the read position forward to `seq` (at most lastSeq). Returns the
     * new position, or null when it did not move or the caller is no member.
     */
    async advanceRead (conversationId: string, userId: string, seq: number): Promise<number | null> {
      const rows = await db.$queryRaw<Array<{ last_read_seq: number }>>`
        UPDATE memberships m SET last_read_seq = LEAST(${seq}::int, c.last_seq)
          FROM conversations c
         WHERE c.id = m.conversation_id AND m.conversation_id = ${conversationId}::uuid AND m.user_id = ${userId}::uuid
           AND m.left_at IS NULL AND m.last_read_seq < LEAST(${seq}::int, c.last_seq)
        RETURNING m.last_read_seq`
      return rows[0]?.last_read_seq ?? null
    },

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
      const rows = await db.$queryRaw<RawListRow[]>`
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
         ORDER BY p.last_activity_at DESC, p.id DESC`
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
      const rows = await db.$queryRaw<RawMemberRow[]>`
        SELECT ${memberColumns(viewerId)}
          FROM unnest(${conversationIds}::uuid[]) AS p(id)
         CROSS JOIN LATERAL (
           SELECT * FROM memberships x WHERE x.conversation_id = p.id AND x.left_at IS NULL
            ORDER BY x.joined_at, x.user_id
            LIMIT ${perConversation}::int) m
          JOIN users u ON u.id = m.user_id
         ORDER BY m.conversation_id, m.joined_at, m.user_id`
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
      const rows = await db.$queryRaw<Array<RawMemberRow | { [K in keyof RawMemberRow]: null }>>`
        SELECT ${memberColumns(userId)}
          FROM memberships me
          LEFT JOIN LATERAL (
            SELECT * FROM memberships x WHERE x.conversation_id = me.conversation_id AND x.left_at IS NULL ${from}
             ORDER BY x.joined_at, x.user_id
             LIMIT ${limit}::int) m ON true
          LEFT JOIN users u ON u.id = m.user_id
         WHERE me.conversation_id = ${conversationId}::uuid AND me.user_id = ${userId}::uuid AND me.left_at IS NULL
         ORDER BY m.joined_at, m.user_id`
      if (rows.length === 0) return null
      return rows.filter((r): r is RawMemberRow => r.user_id !== null).map(toMemberWithUser)
    },

    /** Current members of several conversations, with their profiles, as `viewerId` sees them (see memberColumns). */
    async membersWithUsers (conversationIds: string[], viewerId: string): Promise<MemberWithUser[]> {
      if (conversationIds.length === 0) return []
      const rows = await db.$queryRaw<RawMemberRow[]>`
        SELECT ${memberColumns(viewerId)}
          FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.conversation_id = ANY(${conversationIds}::uuid[]) AND m.left_at IS NULL
         ORDER BY m.joined_at, m.user_id`
      return rows.map(toMemberWithUser)
    }
  }
}

export function createConversationsRepository ({ prisma, pool }: Database) {
  return {
    ...conversationStatements(prisma),

    /**
     * The current members' ids, without those `hiddenFrom` has blocked; on
     * the pool, as it is read for every typing frame.
     */
    async memberIds (conversationId: string): Promise<string[]> {
      const { rows } = await pool.query<{ user_id: string }>('SELECT user_id FROM memberships WHERE conversation_id = $1 AND left_at IS NULL', [conversationId])
      return rows.map((r) => r.user_id)
    },

    /**
     * Typing (domain/typing.ts): whether `userId` is a current member who may post (the rules of post_messages:
     * not muted, not a plain member of a frozen group, not blocked by the other member of a direct conversation),
     * and the other current members but those `userId` has blocked.
     */
    async typingAudience (conversationId: string, userId: string): Promise<TypingAudience> {
      const { rows } = await pool.query<{ may_post: boolean | null, recipients: string[] }>(
        `SELECT (SELECT ms.muted_at IS NULL AND (c.frozen_at IS NULL OR ms.role <> 'member')
                        AND NOT (c.type = 'direct' AND EXISTS (
                          SELECT 1 FROM memberships o JOIN blocks b ON b.blocker_id = o.user_id AND b.blocked_id = ms.user_id
                           WHERE o.conversation_id = c.id AND o.user_id <> ms.user_id))
                   FROM memberships ms JOIN conversations c ON c.id = ms.conversation_id
                  WHERE ms.conversation_id = $1 AND ms.user_id = $2 AND ms.left_at IS NULL) AS may_post,
                ARRAY(SELECT m.user_id FROM memberships m
                       WHERE m.conversation_id = $1 AND m.left_at IS NULL AND m.user_id <> $2
                         AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $2 AND b.blocked_id = m.user_id)) AS recipients`,
        [conversationId, userId])
      const row = rows[0]!
      return { member: row.may_post !== null, mayPost: row.may_post === true, recipients: row.recipients }
    }
  }
}

/** Who would be told that a user is typing in a conversation, and whether they may (domain/typing.ts). */
export interface TypingAudience {
  /** The typer is a current member. */
  member: boolean
  /** The typer may post now: not muted, not a plain member of a frozen group, not blocked in a direct conversation. */
  mayPost: boolean
  /** The other current members, without those the typer has blocked. */
  recipients: string[]
}

export type ConversationsRepository = ReturnType<typeof createConversationsRepository>
