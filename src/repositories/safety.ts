// Safety: blocks, group bans and moderation flags, reports, app roles,
// suspension and the audit log. All through Prisma: none of these runs per
// frame or per socket. The moderation flags are also judged by post_messages
// (see post-batch.ts), under the conversation's row lock.
import { Prisma } from '../generated/prisma/client.js'
import type { Client, Database } from './db.js'

export interface ReportRow {
  id: string
  reporterId: string
  targetUserId: string
  messageId: string | null
  conversationId: string | null
  reason: string
  note: string | null
  snapshot: string | null
  status: string
  resolution: string | null
  resolvedById: string | null
  resolvedAt: Date | null
  createdAt: Date
}

export interface BlockRow { blockedId: string, username: string, displayName: string, createdAt: Date }

export interface BanRow { userId: string, byId: string, createdAt: Date }

/** Where a page of blocks or bans starts: after this row, newest first (created at, then the listed user's id). */
export interface NewestFirstCursor { at: Date, id: string }

// Keyset on the row value, so the index on (owner, created_at, id) bounds the scan at any depth.
// `columns` is a constant of this file, never input.
const after = (c: NewestFirstCursor | undefined, columns: string) =>
  c === undefined ? Prisma.empty : Prisma.sql`AND (${Prisma.raw(columns)}) < (${c.at}::timestamptz, ${c.id}::uuid)`

export interface AdminUserRow {
  id: string, username: string, displayName: string, createdAt: Date, appRoles: string[] | null, suspendedAt: Date | null
}

export interface AuditRow {
  id: string, actorId: string, action: string, targetType: string, targetId: string, data: unknown, createdAt: Date
}

/** The statements that also run inside a transaction (see index.ts). */
export function safetyStatements (db: Client) {
  return {
    /** Of `candidates`, those who have blocked `userId`. */
    async blockersOf (userId: string, candidates: string[]): Promise<string[]> {
      if (candidates.length === 0) return []
      const rows = await db.block.findMany({ where: { blockedId: userId, blockerId: { in: candidates } }, select: { blockerId: true } })
      return rows.map((r) => r.blockerId)
    },

    /** Of `userIds`, those `userId` has blocked. */
    async blockedBy (userId: string, userIds: string[]): Promise<Set<string>> {
      if (userIds.length === 0) return new Set()
      const rows = await db.block.findMany({ where: { blockerId: userId, blockedId: { in: userIds } }, select: { blockedId: true } })
      return new Set(rows.map((r) => r.blockedId))
    },

    async countBans (conversationId: string, userIds: string[]): Promise<number> {
      return db.conversationBan.count({ where: { conversationId, userId: { in: userIds } } })
    },

    /** Whether the conversation is frozen and the user muted in it. */
    async writeFlags (conversationId: string, userId: string): Promise<{ frozen: boolean, muted: boolean }> {
      const [conversation, membership] = await Promise.all([
        db.conversation.findUnique({ where: { id: conversationId }, select: { frozenAt: true } }),
        db.membership.findUnique({ where: { conversationId_userId: { conversationId, userId } }, select: { mutedAt: true } })
      ])
      return { frozen: conversation?.frozenAt != null, muted: membership?.mutedAt != null }
    },

    /** Adds a ban; false when the user was banned already. */
    async addBan (conversationId: string, userId: string, byId: string): Promise<boolean> {
      const existing = await db.conversationBan.findUnique({ where: { conversationId_userId: { conversationId, userId } } })
      if (existing !== null) return false
      await db.conversationBan.create({ data: { conversationId, userId, byId } })
      return true
    },

    /** Removes a ban; false when there was none. */
    /** Who banned the user from the conversation; null when they are not banned. */
    async bannedBy (conversationId: string, userId: string): Promise<string | null> {
      const ban = await db.conversationBan.findUnique({ where: { conversationId_userId: { conversationId, userId } }, select: { byId: true } })
      return ban?.byId ?? null
    },

    async removeBan (conversationId: string, userId: string): Promise<boolean> {
      const { count } = await db.conversationBan.deleteMany({ where: { conversationId, userId } })
      return count > 0
    },

    /** Up to `take` bans of the conversation after the cursor, newest first (then user id); index conversation_bans_newest. */
    bans (conversationId: string, cursor: NewestFirstCursor | undefined, take: number): Promise<BanRow[]> {
      return db.$queryRaw<BanRow[]>`
        SELECT b.user_id AS "userId", b.by_id AS "byId", b.created_at AS "createdAt"
          FROM conversation_bans b
         WHERE b.conversation_id = ${conversationId}::uuid ${after(cursor, 'b.created_at, b.user_id')}
         ORDER BY b.created_at DESC, b.user_id DESC
         LIMIT ${take}::int`
    },

    /** Mutes or unmutes a member; false when that changed nothing. */
    async setMuted (conversationId: string, userId: string, muted: boolean): Promise<boolean> {
      const { count } = await db.membership.updateMany({
        where: { conversationId, userId, mutedAt: muted ? null : { not: null } },
        data: { mutedAt: muted ? new Date() : null }
      })
      return count > 0
    },

    /** Sets slow mode; false when it was set so already. */
    async setSlowMode (conversationId: string, seconds: number): Promise<boolean> {
      const { count } = await db.conversation.updateMany({ where: { id: conversationId, slowModeSeconds: { not: seconds } }, data: { slowModeSeconds: seconds } })
      return count > 0
    },

    /** Freezes or unfreezes; false when that changed nothing. */
    async setFrozen (conversationId: string, frozen: boolean): Promise<boolean> {
      const { count } = await db.conversation.updateMany({
        where: { id: conversationId, frozenAt: frozen ? null : { not: null } },
        data: { frozenAt: frozen ? new Date() : null }
      })
      return count > 0
    },

    /** Resolves an open report; false when it was not open (or does not exist). */
    async resolveReport (reportId: string, data: { resolution: string, resolvedById: string, resolvedAt: Date }): Promise<boolean> {
      const { count } = await db.report.updateMany({ where: { id: reportId, status: 'open' }, data: { status: 'resolved', ...data } })
      return count > 0
    },

    report (reportId: string): Promise<ReportRow | null> {
      return db.report.findUnique({ where: { id: reportId } })
    },

    userModeration (userId: string): Promise<{ appRoles: string[] | null, suspendedAt: Date | null, deletedAt: Date | null } | null> {
      return db.user.findUnique({ where: { id: userId }, select: { appRoles: true, suspendedAt: true, deletedAt: true } })
    },

    /** Sets or clears the suspension; false when the user does not exist. */
    async setSuspended (userId: string, at: Date | null): Promise<boolean> {
      const { count } = await db.user.updateMany({ where: { id: userId }, data: { suspendedAt: at } })
      return count > 0
    },

    /** Revokes every live session of the user; returns their ids. */
    async revokeSessions (userId: string, now: Date): Promise<string[]> {
      const sessions = await db.session.findMany({ where: { userId, revokedAt: null }, select: { id: true } })
      await db.session.updateMany({ where: { id: { in: sessions.map((s) => s.id) } }, data: { revokedAt: now } })
      return sessions.map((s) => s.id)
    },

    /**
     * What deleting an account does to its safety rows: its blocks (both ways)
     * go, its app roles go, the notes of the reports it made are cleared and,
     * when its messages are erased, so are the message bodies kept by reports
     * on it. Reports, bans and audit entries stay, naming the id only.
     */
    async eraseAccount (userId: string, eraseMessages: boolean): Promise<void> {
      await db.block.deleteMany({ where: { OR: [{ blockerId: userId }, { blockedId: userId }] } })
      await db.user.update({ where: { id: userId }, data: { appRoles: [] }, select: { id: true } })
      await db.report.updateMany({ where: { reporterId: userId, note: { not: null } }, data: { note: null } })
      if (eraseMessages) await db.report.updateMany({ where: { targetUserId: userId, snapshot: { not: null } }, data: { snapshot: null } })
    },

    /**
     * Blocks; already blocked: nothing changes. One statement, so concurrent
     * blocks of the same user both succeed. A new block changes the blocker's
     * badge, which their next sync answers (migration sync_badge_changes).
     */
    async block (blockerId: string, blockedId: string): Promise<void> {
      await db.$executeRaw`
        WITH added AS (
          INSERT INTO blocks (blocker_id, blocked_id) VALUES (${blockerId}::uuid, ${blockedId}::uuid) ON CONFLICT DO NOTHING RETURNING blocker_id)
        UPDATE users SET badge_changed_xid = pg_current_xact_id() WHERE id IN (SELECT blocker_id FROM added)`
    },

    createReport (data: { id: string, reporterId: string, reason: string, note: string | null, targetUserId: string, messageId: string | null, conversationId: string | null, snapshot: string | null }): Promise<ReportRow> {
      return db.report.create({ data })
    },

    async audit (entry: { id: string, actorId: string, action: string, targetType: string, targetId: string, data: Record<string, unknown> }): Promise<void> {
      await db.auditEntry.create({ data: { ...entry, data: entry.data as Prisma.InputJsonValue } })
    }
  }
}

export function createSafetyRepository ({ prisma }: Database) {
  return {
    ...safetyStatements(prisma),

    /** As block: a block removed changes the blocker's badge. */
    async unblock (blockerId: string, blockedId: string): Promise<void> {
      await prisma.$executeRaw`
        WITH removed AS (DELETE FROM blocks WHERE blocker_id = ${blockerId}::uuid AND blocked_id = ${blockedId}::uuid RETURNING blocker_id)
        UPDATE users SET badge_changed_xid = pg_current_xact_id() WHERE id IN (SELECT blocker_id FROM removed)`
    },

    /** For the export: the user's blocks, oldest first. */
    exportBlocks (blockerId: string): Promise<Array<{ blockedId: string, createdAt: Date }>> {
      return prisma.block.findMany({ where: { blockerId }, orderBy: { createdAt: 'asc' }, select: { blockedId: true, createdAt: true } })
    },

    /** For the export: the reports the user made, oldest first. */
    exportReports (reporterId: string): Promise<ReportRow[]> {
      return prisma.report.findMany({ where: { reporterId }, orderBy: { id: 'asc' } })
    },

    /** Up to `take` of the users the user has blocked after the cursor, most recent first (then user id); index blocks_by_blocker_newest. */
    blocks (blockerId: string, cursor: NewestFirstCursor | undefined, take: number): Promise<BlockRow[]> {
      return prisma.$queryRaw<BlockRow[]>`
        SELECT b.blocked_id AS "blockedId", u.username, u.display_name AS "displayName", b.created_at AS "createdAt"
          FROM blocks b JOIN users u ON u.id = b.blocked_id
         WHERE b.blocker_id = ${blockerId}::uuid ${after(cursor, 'b.created_at, b.blocked_id')}
         ORDER BY b.created_at DESC, b.blocked_id DESC
         LIMIT ${take}::int`
    },

    /** A message as a report sees it, and whether the reporter may see it (a member from its seq on). */
    async reportableMessage (messageId: string, reporterId: string): Promise<{ senderId: string, conversationId: string, body: string, deletedAt: Date | null, visible: boolean } | null> {
      const message = await prisma.message.findUnique({ where: { id: messageId }, select: { senderId: true, conversationId: true, seq: true, body: true, deletedAt: true } })
      if (message === null) return null
      const member = await prisma.membership.findFirst({ where: { conversationId: message.conversationId, userId: reporterId, leftAt: null, joinedSeq: { lte: message.seq } }, select: { userId: true } })
      return { senderId: message.senderId, conversationId: message.conversationId, body: message.body, deletedAt: message.deletedAt, visible: member !== null }
    },

    /** Reports of a status, newest first, after the cursor (a report id). */
    reports (status: 'open' | 'resolved', cursor: string | undefined, take: number): Promise<ReportRow[]> {
      return prisma.report.findMany({ where: { status, ...(cursor === undefined ? {} : { id: { lt: cursor } }) }, orderBy: { id: 'desc' }, take })
    },

    /** The conversation of a message, or null when it does not exist. */
    async messageConversation (messageId: string): Promise<string | null> {
      return (await prisma.message.findUnique({ where: { id: messageId }, select: { conversationId: true } }))?.conversationId ?? null
    },

    async appRoles (userId: string): Promise<string[] | null> {
      return (await prisma.user.findUnique({ where: { id: userId }, select: { appRoles: true } }))?.appRoles ?? null
    },

    /** The user's id and app roles by username. */
    findByUsername (username: string): Promise<{ id: string, appRoles: string[] | null } | null> {
      return prisma.user.findUnique({ where: { username }, select: { id: true, appRoles: true } })
    },

    async setAppRoles (userId: string, roles: string[]): Promise<void> {
      await prisma.user.update({ where: { id: userId }, data: { appRoles: roles }, select: { id: true } })
    },

    /** Users by username prefix (all when absent), in username order, after the cursor (a username). */
    users (prefix: string | undefined, cursor: string | undefined, take: number): Promise<AdminUserRow[]> {
      const startsWith = prefix === undefined ? {} : { startsWith: prefix.replace(/[\\%_]/g, '\\$&') }
      return prisma.user.findMany({
        where: { username: { ...startsWith, ...(cursor === undefined ? {} : { gt: cursor }) } },
        orderBy: { username: 'asc' },
        take,
        select: { id: true, username: true, displayName: true, createdAt: true, appRoles: true, suspendedAt: true }
      })
    },

    /** The audit log, newest first, after the cursor (an entry id). */
    auditEntries (cursor: string | undefined, take: number): Promise<AuditRow[]> {
      return prisma.auditEntry.findMany({ where: cursor === undefined ? {} : { id: { lt: cursor } }, orderBy: { id: 'desc' }, take })
    }
  }
}

export type SafetyRepository = ReturnType<typeof createSafetyRepository>
