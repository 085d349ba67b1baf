// Conversations and their memberships: locks, members, roles, read
// positions; the pages clients read are in conversation-pages.ts. All through
// Prisma, but what runs per typing frame and per read (on the pool, see db.ts).
import { Prisma } from '../generated/prisma/client.js'
import { conversationPageStatements } from './conversation-pages.js'
import { throughPrisma, type Client, type Database } from './db.js'
import type { MessageRow } from './messages.js'
import { advanceReceipt, type Receipt } from './receipts.js'

const READ_MOVE = {
  name: 'read-advance',
  update: `UPDATE memberships m SET last_read_seq = LEAST($3::int, c.last_seq)
             FROM conversations c
            WHERE c.id = m.conversation_id AND m.conversation_id = $1::uuid AND m.user_id = $2::uuid
              AND m.left_at IS NULL AND m.last_read_seq < LEAST($3::int, c.last_seq)
           RETURNING m.last_read_seq AS seq`,
  excludeSelf: false
}

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

/**
 * A group invitation deleted because its inviter can no longer add members (revokeInvitesOf): its invitee, and
 * when it was sent (an expired one's end is no news to them: domain/invitations.ts withdrawnInvitees).
 */
export interface EndedInvitation { userId: string, createdAt: Date }

const memberSelect = { conversationId: true, userId: true, role: true, joinedSeq: true, lastReadSeq: true, joinedAt: true } as const

/** The statements that also run inside a transaction (see index.ts). */
export function conversationStatements (db: Client) {
  /**
   * Invite links and pending invitations stand for the group only while their
   * maker can add members: a removed or demoted admin's ones no longer let
   * anyone in (an admin removed for abuse cannot hand out a link made before).
   */
  async function revokeInvitesOf (conversationId: string, userId: string, at: Date): Promise<EndedInvitation[]> {
    await db.$executeRaw`
      UPDATE conversation_invites SET revoked_at = ${at}::timestamptz
       WHERE conversation_id = ${conversationId}::uuid AND created_by = ${userId}::uuid AND revoked_at IS NULL`
    return db.$queryRaw<EndedInvitation[]>`
      DELETE FROM group_invitations WHERE conversation_id = ${conversationId}::uuid AND invited_by = ${userId}::uuid
      RETURNING user_id AS "userId", created_at AS "createdAt"`
  }

  return {
    ...conversationPageStatements(throughPrisma(db)),

    /** Locks the conversation row until the transaction ends. */
    async lock (conversationId: string): Promise<LockedConversation | null> {
      const rows = await db.$queryRaw<Array<{ id: string, type: 'direct' | 'group', title: string | null, created_at: Date, last_seq: number, picture_upload_id: string | null, is_public: boolean }>>`
        SELECT id, type::text AS type, title, created_at, last_seq, picture_upload_id, is_public FROM conversations WHERE id = ${conversationId}::uuid FOR UPDATE`
      const row = rows[0]
      return row === undefined ? null : { id: row.id, type: row.type, title: row.title, createdAt: row.created_at, lastSeq: row.last_seq, pictureUploadId: row.picture_upload_id, isPublic: row.is_public }
    },

    /** The conversation's type and whether it is a public group, read without a lock (null: no such conversation). */
    async kind (conversationId: string): Promise<{ type: 'direct' | 'group', isPublic: boolean } | null> {
      const row = await db.conversation.findUnique({ where: { id: conversationId }, select: { type: true, isPublic: true } })
      return row === null ? null : { type: row.type as 'direct' | 'group', isPublic: row.isPublic }
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

    /** The caller's current membership and the conversation's type, read without a lock (null: not a member). */
    async memberAndType (conversationId: string, userId: string): Promise<{ me: MemberRow, type: 'direct' | 'group' } | null> {
      const me = await db.membership.findFirst({ where: { conversationId, userId, leftAt: null }, select: { ...memberSelect, conversation: { select: { type: true } } } })
      if (me === null) return null
      const { conversation, ...member } = me
      return { me: member, type: conversation.type as 'direct' | 'group' }
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

    /**
     * Ends a member's window at `seq`, the seq of their member.removed. The member leaves (or is removed): what
     * they could add members with goes with their authority; returns the invitations of theirs that ended.
     */
    async markLeft (conversationId: string, userId: string, at: Date, seq: number): Promise<EndedInvitation[]> {
      await db.membership.update({ where: { conversationId_userId: { conversationId, userId } }, data: { leftAt: at, leftSeq: seq } })
      const ended = await revokeInvitesOf(conversationId, userId, at)
      // The last member gone (member_count follows by trigger), a public group leaves the directory and stops
      // taking joins: whoever joined next would be a plain member of a group nobody owns or can moderate.
      await db.$executeRaw`
        UPDATE conversations SET is_public = false WHERE id = ${conversationId}::uuid AND is_public AND member_count = 0`
      return ended
    },

    /**
     * A member made a plain member loses what they could add members with, as on leaving. An owner is never
     * muted (nobody may act on the owner, the owner included: a muted heir would stay muted for good).
     * Returns the invitations of theirs that ended (none unless made a plain member).
     */
    async setRole (conversationId: string, userId: string, role: Role): Promise<EndedInvitation[]> {
      await db.membership.update({ where: { conversationId_userId: { conversationId, userId } }, data: role === 'owner' ? { role, mutedAt: null } : { role } })
      return role === 'member' ? revokeInvitesOf(conversationId, userId, new Date()) : []
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
    }
  }
}

export function createConversationsRepository ({ prisma, pool }: Database) {
  return {
    ...conversationStatements(prisma),

    /**
     * Moves the read position forward to `seq` (at most lastSeq), on the pool
     * as it runs for every read. The new position and who is told of it (the
     * current members, the reader's own other devices included, but those the
     * reader has blocked), read in the same transaction under the member
     * list's lock (receipts.ts); null when it did not move or the caller is
     * no member.
     */
    advanceRead: (conversationId: string, userId: string, seq: number): Promise<Receipt | null> => advanceReceipt(pool, READ_MOVE, conversationId, userId, seq),

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
