// Notification preferences: the user's level (users.notification_level) and
// each membership's level and mute (memberships.notification_level,
// notifications_muted_until), read for many recipients in one statement on
// the pool, as it runs for every committed batch of messages.
import type { Database } from './db.js'
import type { NotificationLevel } from './conversations.js'

export type { NotificationLevel } from './conversations.js'
export type ConversationNotificationLevel = NotificationLevel | 'default'

/** What decides whether one recipient hears of messages of one conversation from these senders. */
export interface RecipientPreferences {
  conversationId: string
  userId: string
  joinedSeq: number
  userLevel: NotificationLevel
  level: ConversationNotificationLevel
  muteUntil: Date | null
  /** Of the senders asked about, those this recipient has blocked. */
  blockedSenders: string[]
}

export function createNotificationPreferencesRepository ({ prisma, pool }: Database) {
  return {
    async userLevel (userId: string): Promise<NotificationLevel | null> {
      const row = await prisma.user.findUnique({ where: { id: userId }, select: { notificationLevel: true } })
      return row === null ? null : row.notificationLevel as NotificationLevel
    },

    async setUserLevel (userId: string, level: NotificationLevel): Promise<void> {
      await prisma.user.update({ where: { id: userId }, data: { notificationLevel: level } })
    },

    /**
     * Sets a current member's settings in a conversation (`muteUntil`
     * undefined: kept as it is); null when the user is not a current member.
     */
    async setConversation (conversationId: string, userId: string, level: ConversationNotificationLevel, muteUntil: Date | null | undefined):
    Promise<{ level: ConversationNotificationLevel, muteUntil: Date | null } | null> {
      const rows = await prisma.$queryRaw<Array<{ level: ConversationNotificationLevel, mute_until: Date | null }>>`
        UPDATE memberships
           SET notification_level = ${level},
               notifications_muted_until = CASE WHEN ${muteUntil === undefined}::boolean THEN notifications_muted_until ELSE ${muteUntil ?? null}::timestamptz END
         WHERE conversation_id = ${conversationId}::uuid AND user_id = ${userId}::uuid AND left_at IS NULL
        RETURNING notification_level AS level, notifications_muted_until AS mute_until`
      const row = rows[0]
      return row === undefined ? null : { level: row.level, muteUntil: row.mute_until }
    },

    /**
     * The preferences of each (conversation, user) pair that is a current
     * membership (others are left out), with the blocks of `senderIds` by
     * that user: one statement for any number of pairs. A suspended or deleted
     * account is left out: it is told of nothing (device push and the webhook ask here).
     */
    async forRecipients (pairs: Array<{ conversationId: string, userId: string }>, senderIds: string[]): Promise<RecipientPreferences[]> {
      if (pairs.length === 0) return []
      const { rows } = await pool.query<{
        conversation_id: string, user_id: string, joined_seq: number, user_level: NotificationLevel,
        level: ConversationNotificationLevel, mute_until: Date | null, blocked: string[]
      }>(
        `SELECT m.conversation_id, m.user_id, m.joined_seq, u.notification_level AS user_level,
                m.notification_level AS level, m.notifications_muted_until AS mute_until,
                ARRAY(SELECT b.blocked_id FROM blocks b WHERE b.blocker_id = m.user_id AND b.blocked_id = ANY ($3::uuid[])) AS blocked
           FROM unnest($1::uuid[], $2::uuid[]) AS q(conversation_id, user_id)
           JOIN memberships m ON m.conversation_id = q.conversation_id AND m.user_id = q.user_id AND m.left_at IS NULL
           JOIN users u ON u.id = m.user_id AND u.suspended_at IS NULL AND u.deleted_at IS NULL`,
        [pairs.map((p) => p.conversationId), pairs.map((p) => p.userId), senderIds])
      return rows.map((r) => ({
        conversationId: r.conversation_id,
        userId: r.user_id,
        joinedSeq: r.joined_seq,
        userLevel: r.user_level,
        level: r.level,
        muteUntil: r.mute_until,
        blockedSenders: r.blocked
      }))
    }
  }
}

export type NotificationPreferencesRepository = ReturnType<typeof createNotificationPreferencesRepository>
