// Accounts: what a user manages of their own (credentials, sessions, email,
// password-reset tokens, contacts), their deletion's bookkeeping and the
// reads of their export. Through Prisma; the export and the deletion's
// look-ups, which scan a user's whole history, as SQL through `$queryRaw`.
import type { Client, Database } from './db.js'

export interface SessionRow { id: string, userAgent: string | null, createdAt: Date, lastUsedAt: Date }

/** A username no one can register or search for (`~` is outside the username alphabet), unique by the id. */
export const deletedUsername = (userId: string) => `~${userId.replace(/-/g, '').slice(1)}`

/** The statements that also run inside a transaction (see index.ts). */
export function accountStatements (db: Client) {
  return {
    /**
     * Locks the account's row until the transaction ends and reads what a new
     * session depends on. A password change, a deletion and a suspension each
     * update this row before they end the sessions, so a login holding the lock
     * either sees their change or has its session ended by them.
     */
    async lockForSession (userId: string): Promise<{ passwordHash: string, deletedAt: Date | null, suspendedAt: Date | null } | null> {
      const rows = await db.$queryRaw<Array<{ password_hash: string, deleted_at: Date | null, suspended_at: Date | null }>>`
        SELECT password_hash, deleted_at, suspended_at FROM users WHERE id = ${userId}::uuid FOR UPDATE`
      const row = rows[0]
      return row === undefined ? null : { passwordHash: row.password_hash, deletedAt: row.deleted_at, suspendedAt: row.suspended_at }
    },

    /**
     * Locks the rows of those of these accounts that are live (not deleted)
     * until the transaction ends, and returns their ids: the one way a write
     * keeps an account from being deleted under it. Deleting an account
     * takes its row FOR UPDATE first (and its erase UPDATE changes the unique
     * username), so a write holding this lock commits before the erasure (and
     * the deletion's later steps see what it wrote), or waits for it and finds
     * the account gone (the WHERE is checked again on the row the erasure left).
     * - 'share' (FOR KEY SHARE, what a foreign key check takes) for writes that
     *   only need the accounts to stay: it conflicts with nothing but FOR UPDATE,
     *   so it never waits on (nor stalls) presence's last-seen updates;
     * - 'update' (FOR UPDATE) for writes that change the row itself.
     * In id order, so transactions locking overlapping sets never wait on each
     * other in a cycle. Take it before any conversation's lock: a transaction
     * holding an account's row FOR UPDATE never waits on a conversation.
     */
    async lockLive (userIds: string[], mode: 'share' | 'update'): Promise<Set<string>> {
      if (userIds.length === 0) return new Set()
      const ids = [...new Set(userIds)]
      const rows = mode === 'update'
        ? await db.$queryRaw<Array<{ id: string }>>`
            SELECT id FROM users WHERE id = ANY(${ids}::uuid[]) AND deleted_at IS NULL ORDER BY id FOR UPDATE`
        : await db.$queryRaw<Array<{ id: string }>>`
            SELECT id FROM users WHERE id = ANY(${ids}::uuid[]) AND deleted_at IS NULL ORDER BY id FOR KEY SHARE`
      return new Set(rows.map((r) => r.id))
    },

    /** A live (not deleted) account with its password hash. */
    findLive (userId: string) {
      return db.user.findFirst({
        where: { id: userId, deletedAt: null },
        select: { id: true, username: true, displayName: true, createdAt: true, passwordHash: true, email: true, emailVerifiedAt: true, pendingEmail: true, emailCodeHash: true, emailCodeExpiresAt: true, emailCodeAttempts: true }
      })
    },

    async setPassword (userId: string, passwordHash: string): Promise<void> {
      await db.user.update({ where: { id: userId }, data: { passwordHash }, select: { id: true } })
    },

    /**
     * Live sessions, newest first; last use is the newest refresh token (login
     * or exchange). Those that still work: not ended, and with a refresh token not
     * expired or an access token issued with one not expired (a session past
     * both lapsed: it is ended by the retention sweep, domain/session-retention.ts).
     */
    liveSessions (userId: string, now: Date, accessTokenTtlSeconds: number): Promise<SessionRow[]> {
      const accessIssuedAfter = new Date(now.getTime() - accessTokenTtlSeconds * 1000)
      return db.$queryRaw<SessionRow[]>`
        SELECT s.id, s.user_agent AS "userAgent", s.created_at AS "createdAt",
               COALESCE((SELECT max(t.created_at) FROM refresh_tokens t WHERE t.session_id = s.id), s.created_at) AS "lastUsedAt"
          FROM sessions s WHERE s.user_id = ${userId}::uuid AND s.revoked_at IS NULL
           AND EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = s.id AND (t.expires_at > ${now} OR t.created_at > ${accessIssuedAfter}))
         ORDER BY s.created_at DESC, s.id DESC`
    },

    /** Revokes the user's live sessions (all, or all but one, or just one) and returns their ids. */
    async revokeSessions (userId: string, opts: { except?: string, only?: string }, now: Date): Promise<string[]> {
      const rows = await db.$queryRaw<Array<{ id: string }>>`
        UPDATE sessions SET revoked_at = ${now}
         WHERE user_id = ${userId}::uuid AND revoked_at IS NULL
           AND (${opts.except ?? null}::uuid IS NULL OR id <> ${opts.except ?? null}::uuid)
           AND (${opts.only ?? null}::uuid IS NULL OR id = ${opts.only ?? null}::uuid)
        RETURNING id`
      return rows.map((r) => r.id)
    },

    async clearAvatar (userId: string): Promise<void> {
      await db.user.update({ where: { id: userId }, data: { avatarUploadId: null }, select: { id: true } })
    },

    async avatarOf (userId: string): Promise<string | null> {
      return (await db.user.findUnique({ where: { id: userId }, select: { avatarUploadId: true } }))?.avatarUploadId ?? null
    },

    setProfile (userId: string, data: { displayName?: string, avatarUploadId?: string | null }) {
      return db.user.update({ where: { id: userId }, data, select: { id: true, username: true, displayName: true, createdAt: true, avatarUploadId: true } })
    },

    /** Everyone who shares a current conversation with the user. */
    async contacts (userId: string): Promise<string[]> {
      const rows = await db.$queryRaw<Array<{ user_id: string }>>`
        SELECT DISTINCT other.user_id FROM memberships mine
          JOIN memberships other ON other.conversation_id = mine.conversation_id
         WHERE mine.user_id = ${userId}::uuid AND mine.left_at IS NULL AND other.left_at IS NULL AND other.user_id <> ${userId}::uuid`
      return rows.map((r) => r.user_id)
    },

    /** Whether two users share a current conversation. */
    async shareConversation (a: string, b: string): Promise<boolean> {
      const rows = await db.$queryRaw<unknown[]>`
        SELECT 1 FROM memberships mine JOIN memberships other ON other.conversation_id = mine.conversation_id
         WHERE mine.user_id = ${a}::uuid AND other.user_id = ${b}::uuid AND mine.left_at IS NULL AND other.left_at IS NULL LIMIT 1`
      return rows.length > 0
    },

    /**
     * Of these users, the last-seen time of each existing one, and whether
     * `viewerId` may see their presence: the viewer themself, or a user who
     * shares a conversation with the viewer and has not blocked them.
     */
    presenceVisibility (viewerId: string, userIds: string[]): Promise<Array<{ id: string, lastSeenAt: Date | null, visible: boolean }>> {
      return db.$queryRaw`
        SELECT u.id, u.last_seen_at AS "lastSeenAt",
               (u.id = ${viewerId}::uuid OR (
                 EXISTS (SELECT 1 FROM memberships mine JOIN memberships other ON other.conversation_id = mine.conversation_id
                          WHERE mine.user_id = ${viewerId}::uuid AND other.user_id = u.id AND mine.left_at IS NULL AND other.left_at IS NULL)
                 AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = u.id AND b.blocked_id = ${viewerId}::uuid))) AS visible
          FROM users u WHERE u.id = ANY(${userIds}::uuid[]) AND u.deleted_at IS NULL`
    },

    async setEmailChallenge (userId: string, data: { pendingEmail: string, emailCodeHash: string, emailCodeExpiresAt: Date }): Promise<void> {
      await db.user.update({ where: { id: userId }, data: { ...data, emailCodeAttempts: 0 }, select: { id: true } })
    },

    /**
     * Takes one try of the live account's current email code, in one statement: concurrent guesses each take one, and
     * none is taken once `maxAttempts` are used or the code expired. The challenge to compare with, or null.
     */
    async takeEmailAttempt (userId: string, maxAttempts: number, now: Date) {
      const rows = await db.user.updateManyAndReturn({
        where: { id: userId, deletedAt: null, pendingEmail: { not: null }, emailCodeHash: { not: null }, emailCodeExpiresAt: { gt: now }, emailCodeAttempts: { lt: maxAttempts } },
        data: { emailCodeAttempts: { increment: 1 } },
        select: { username: true, email: true, pendingEmail: true, emailCodeHash: true }
      })
      const row = rows[0]
      return row === undefined ? null : { username: row.username, email: row.email, pendingEmail: row.pendingEmail!, emailCodeHash: row.emailCodeHash! }
    },

    /** Makes the pending address the account's email if the challenge is still the one of this code hash; false if it changed meanwhile. */
    async confirmEmail (userId: string, emailCodeHash: string, email: string, now: Date): Promise<boolean> {
      const { count } = await db.user.updateMany({
        where: { id: userId, deletedAt: null, emailCodeHash, pendingEmail: email },
        data: { email, emailVerifiedAt: now, pendingEmail: null, emailCodeHash: null, emailCodeExpiresAt: null, emailCodeAttempts: 0 }
      })
      return count === 1
    },

    /** A live account by username or verified email (both lower case). */
    findForReset (identifier: string) {
      return db.user.findFirst({
        where: { deletedAt: null, email: { not: null }, OR: [{ username: identifier }, { email: identifier }] },
        select: { id: true, username: true, email: true }
      })
    },

    async addReset (data: { tokenHash: string, userId: string, expiresAt: Date }): Promise<void> {
      await db.passwordReset.create({ data, select: { tokenHash: true } })
    },

    /** Whose reset token this is (used or not), or null; it locks nothing. */
    async resetOwner (tokenHash: string): Promise<string | null> {
      return (await db.passwordReset.findUnique({ where: { tokenHash }, select: { userId: true } }))?.userId ?? null
    },

    /** Uses a reset token once: the user id for the one caller that wins, else null. */
    async useReset (tokenHash: string, now: Date): Promise<string | null> {
      const rows = await db.$queryRaw<Array<{ user_id: string }>>`
        UPDATE password_resets SET used_at = ${now}
         WHERE token_hash = ${tokenHash} AND used_at IS NULL AND expires_at > ${now}
        RETURNING user_id`
      return rows[0]?.user_id ?? null
    },

    /** Voids every unused reset token of the user (the password changed). */
    async voidResets (userId: string, now: Date): Promise<void> {
      await db.passwordReset.updateMany({ where: { userId, usedAt: null }, data: { usedAt: now } })
        },

    /**
     * Strips the account of its personal data and marks it deleted (the row
     * stays: messages keep their sender id); its sessions (with their refresh
     * tokens) and reset tokens go. Returns the ids of the sessions that went.
     */
    async eraseIdentity (userId: string, displayName: string, now: Date): Promise<string[]> {
      await db.user.update({
        where: { id: userId },
        data: {
          username: deletedUsername(userId),
          displayName,
          passwordHash: '',
          email: null,
          emailVerifiedAt: null,
          pendingEmail: null,
          emailCodeHash: null,
          emailCodeExpiresAt: null,
          lastSeenAt: null,
          deletedAt: now
        },
        select: { id: true }
      })
      const sessions = await db.session.findMany({ where: { userId }, select: { id: true } })
      // Refresh tokens and push devices go with their sessions (cascade).
      await db.session.deleteMany({ where: { userId } })
      await db.passwordReset.deleteMany({ where: { userId } })
      // What only the user saw: invitations to groups they can no longer accept, the threads they followed.
      await db.groupInvitation.deleteMany({ where: { userId } })
      await db.threadMember.deleteMany({ where: { userId } })
      return sessions.map((s) => s.id)
    }
  }
}

export interface ExportProfile {
  id: string, username: string, displayName: string, createdAt: Date, lastSeenAt: Date | null, email: string | null, emailVerifiedAt: Date | null,
  pendingEmail: string | null, notificationLevel: string, avatarUploadId: string | null
}
export interface ExportSession { id: string, userAgent: string | null, createdAt: Date, revokedAt: Date | null }
export interface ExportMembership {
  conversationId: string, type: string, title: string | null, role: string, joinedAt: Date, leftAt: Date | null, lastReadSeq: number,
  notificationLevel: string, notificationsMutedUntil: Date | null
}
export interface ExportMessage {
  id: string, conversationId: string, seq: number, body: string, clientMessageId: string | null, replyToId: string | null, createdAt: Date,
  editedAt: Date | null, deletedAt: Date | null, mentions: string[], mentionsAll: boolean, attachments: unknown[],
  type: string, metadata: unknown, threadRootId: string | null, threadReplyCount: number, threadLastReplyAt: Date | null,
  threadParticipants: string[] | null
}

export function createAccountsRepository ({ prisma }: Database) {
  return {
    ...accountStatements(prisma),

    /** Conversations where a deleted user still has something to undo: a membership, or (eraseMessages) a live message or a reaction. */
    async pendingConversations (userId: string, eraseMessages: boolean): Promise<string[]> {
      const rows = await prisma.$queryRaw<Array<{ id: string }>>`
        SELECT conversation_id AS id FROM memberships WHERE user_id = ${userId}::uuid AND left_at IS NULL
        UNION
        SELECT DISTINCT conversation_id FROM messages WHERE sender_id = ${userId}::uuid AND deleted_at IS NULL AND ${eraseMessages}::boolean
        UNION
        SELECT DISTINCT m.conversation_id FROM message_reactions r JOIN messages m ON m.id = r.message_id
         WHERE r.user_id = ${userId}::uuid AND ${eraseMessages}::boolean`
      return rows.map((r) => r.id)
    },

    /** Deleted accounts with work left (a crash between the steps of their deletion). */
    async pendingDeletions (eraseMessages: boolean): Promise<string[]> {
      const rows = await prisma.$queryRaw<Array<{ id: string }>>`
        SELECT u.id FROM users u WHERE u.deleted_at IS NOT NULL AND (
          EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.left_at IS NULL)
          OR (${eraseMessages}::boolean AND EXISTS (SELECT 1 FROM messages g WHERE g.sender_id = u.id AND g.deleted_at IS NULL))
          OR (${eraseMessages}::boolean AND EXISTS (SELECT 1 FROM message_reactions r WHERE r.user_id = u.id)))`
      return rows.map((r) => r.id)
    },

    async exportProfile (userId: string): Promise<ExportProfile | undefined> {
      const rows = await prisma.$queryRaw<ExportProfile[]>`
        SELECT id, username, display_name AS "displayName", created_at AS "createdAt", last_seen_at AS "lastSeenAt",
               email, email_verified_at AS "emailVerifiedAt", pending_email AS "pendingEmail", notification_level AS "notificationLevel", avatar_upload_id AS "avatarUploadId"
          FROM users WHERE id = ${userId}::uuid`
      return rows[0]
    },

    exportSessions (userId: string): Promise<ExportSession[]> {
      return prisma.$queryRaw<ExportSession[]>`
        SELECT id, user_agent AS "userAgent", created_at AS "createdAt", revoked_at AS "revokedAt"
          FROM sessions WHERE user_id = ${userId}::uuid ORDER BY created_at`
    },

    /**
     * The user's memberships, left ones too. A left one shows the title as the
     * user last saw it: that of the last rename before they left, or the
     * current one when it was not renamed since; null when it was renamed only
     * after (what it was called before is not kept).
     */
    exportMemberships (userId: string): Promise<ExportMembership[]> {
      return prisma.$queryRaw<ExportMembership[]>`
        SELECT m.conversation_id AS "conversationId", c.type::text AS type,
               CASE WHEN m.left_seq IS NULL THEN c.title
                    ELSE COALESCE(
                      (SELECT e.data->>'title' FROM events e
                        WHERE e.conversation_id = m.conversation_id AND e.seq <= m.left_seq AND e.type = 'conversation.updated'
                        ORDER BY e.seq DESC LIMIT 1),
                      CASE WHEN NOT EXISTS (SELECT 1 FROM events e WHERE e.conversation_id = m.conversation_id AND e.seq > m.left_seq
                                                                    AND e.type = 'conversation.updated')
                           THEN c.title END)
               END AS title,
               m.role::text AS role,
               m.joined_at AS "joinedAt", m.left_at AS "leftAt", m.last_read_seq AS "lastReadSeq",
               m.notification_level AS "notificationLevel", m.notifications_muted_until AS "notificationsMutedUntil"
          FROM memberships m JOIN conversations c ON c.id = m.conversation_id WHERE m.user_id = ${userId}::uuid ORDER BY m.joined_at`
    },

    /**
     * One keyset page (by id) of every message the user sent, deleted ones too,
     * with the thread summaries as stored: what of them the user may see is
     * threads.ts authorSummaries.
     */
    exportMessages (userId: string, afterId: string, limit: number): Promise<ExportMessage[]> {
      return prisma.$queryRaw<ExportMessage[]>`
        SELECT g.id, g.conversation_id AS "conversationId", g.seq, g.body, g.client_message_id AS "clientMessageId",
               g.reply_to_id AS "replyToId", g.created_at AS "createdAt", g.edited_at AS "editedAt", g.deleted_at AS "deletedAt",
               COALESCE(g.mentions, '{}') AS mentions, g.mentions_all AS "mentionsAll", g.attachments, g.type, g.metadata,
               g.thread_root_id AS "threadRootId",
               g.thread_reply_count AS "threadReplyCount", g.thread_last_reply_at AS "threadLastReplyAt",
               g.thread_participants AS "threadParticipants"
          FROM messages g
         WHERE g.sender_id = ${userId}::uuid AND g.id > ${afterId}::uuid ORDER BY g.id LIMIT ${limit}::int`
    }
  }
}

export type AccountsRepository = ReturnType<typeof createAccountsRepository>
