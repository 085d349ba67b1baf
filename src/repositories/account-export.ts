// What GET /v1/me/export adds to the profile, sessions, memberships, blocks,
// reports and messages (accounts.ts, safety.ts): the rest of what is stored
// about the caller. Each is small (bounded by the caller's own actions) and
// read whole, through Prisma.
import type { Database } from './db.js'

export interface ExportReaction { messageId: string, conversationId: string, emoji: string, createdAt: Date }
export interface ExportDevice { deviceId: string, platform: string, appId: string | null, locale: string | null, createdAt: Date, updatedAt: Date }
export interface ExportUpload {
  id: string, kind: string, filename: string, contentType: string, size: number, width: number | null, height: number | null,
  state: string, conversationId: string | null, messageId: string | null, createdAt: Date, completedAt: Date | null
}
export interface ExportThread { rootId: string, conversationId: string, following: boolean, lastReadSeq: number }
export interface ExportInvitation { conversationId: string, userId: string, invitedBy: string, createdAt: Date }
export interface ExportInviteLink {
  id: string, conversationId: string, createdAt: Date, expiresAt: Date | null, maxUses: number | null, uses: number, revokedAt: Date | null
}

export function createAccountExportRepository ({ prisma }: Database) {
  return {
    /** The reactions the user left (a deleted message's are gone with it). */
    reactions (userId: string): Promise<ExportReaction[]> {
      return prisma.$queryRaw<ExportReaction[]>`
        SELECT r.message_id AS "messageId", m.conversation_id AS "conversationId", r.emoji, r.created_at AS "createdAt"
          FROM message_reactions r JOIN messages m ON m.id = r.message_id
         WHERE r.user_id = ${userId}::uuid ORDER BY r.created_at, r.message_id`
    },

    /** The user's registered push devices, without their push tokens and keys (credentials to reach the device). */
    devices (userId: string): Promise<ExportDevice[]> {
      return prisma.$queryRaw<ExportDevice[]>`
        SELECT device_id AS "deviceId", platform, app_id AS "appId", locale, created_at AS "createdAt", updated_at AS "updatedAt"
          FROM devices WHERE user_id = ${userId}::uuid ORDER BY created_at, device_id`
    },

    /** The files the user uploaded that are still stored (attachments, avatars, group pictures, unfinished ones). */
    uploads (userId: string): Promise<ExportUpload[]> {
      return prisma.$queryRaw<ExportUpload[]>`
        SELECT id, kind, filename, content_type AS "contentType", size, width, height, state,
               conversation_id AS "conversationId", message_id AS "messageId", created_at AS "createdAt", completed_at AS "completedAt"
          FROM uploads WHERE owner_id = ${userId}::uuid ORDER BY created_at, id`
    },

    /** The threads the user is in: followed or not, and their read position in each. */
    threads (userId: string): Promise<ExportThread[]> {
      return prisma.$queryRaw<ExportThread[]>`
        SELECT root_id AS "rootId", conversation_id AS "conversationId", following, last_read_seq AS "lastReadSeq"
          FROM thread_members WHERE user_id = ${userId}::uuid ORDER BY conversation_id, root_id`
    },

    /**
     * The group invitations the user received or sent, as stored: expired ones too (past INVITATION_TTL_DAYS; no
     * longer listed or acceptable, their rows go with their group's next invitation). They are data kept about the
     * user, as ended sessions are, and each carries createdAt, from which its expiry follows.
     */
    invitations (userId: string): Promise<ExportInvitation[]> {
      return prisma.$queryRaw<ExportInvitation[]>`
        SELECT conversation_id AS "conversationId", user_id AS "userId", invited_by AS "invitedBy", created_at AS "createdAt"
          FROM group_invitations WHERE user_id = ${userId}::uuid OR invited_by = ${userId}::uuid ORDER BY created_at, conversation_id, user_id`
    },

    /** The invite links the user made (their codes are stored hashed only, so they are not in it). */
    inviteLinks (userId: string): Promise<ExportInviteLink[]> {
      return prisma.$queryRaw<ExportInviteLink[]>`
        SELECT id, conversation_id AS "conversationId", created_at AS "createdAt", expires_at AS "expiresAt", max_uses AS "maxUses", uses,
               revoked_at AS "revokedAt"
          FROM conversation_invites WHERE created_by = ${userId}::uuid ORDER BY created_at, id`
    }
  }
}
