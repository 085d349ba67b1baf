// Invite links of groups: rows by code hash (the code itself is never stored).
import type { Client, Database } from './db.js'

export interface InviteRow {
  id: string
  conversationId: string
  createdBy: string
  createdAt: Date
  expiresAt: Date | null
  maxUses: number | null
  uses: number
  revokedAt: Date | null
}

const select = { id: true, conversationId: true, createdBy: true, createdAt: true, expiresAt: true, maxUses: true, uses: true, revokedAt: true } as const

export function inviteStatements (db: Client) {
  return {
    async create (data: { id: string, conversationId: string, codeHash: string, createdBy: string, expiresAt: Date | null, maxUses: number | null }): Promise<InviteRow> {
      return db.conversationInvite.create({ data, select })
    },

    /** The invite of this code hash, locked until the transaction ends (a use counts under it). */
    async lockByHash (codeHash: string): Promise<InviteRow | null> {
      const rows = await db.$queryRaw<InviteRow[]>`
        SELECT id, conversation_id AS "conversationId", created_by AS "createdBy", created_at AS "createdAt", expires_at AS "expiresAt",
               max_uses AS "maxUses", uses, revoked_at AS "revokedAt"
          FROM conversation_invites WHERE code_hash = ${codeHash} FOR UPDATE`
      return rows[0] ?? null
    },

    async countUse (id: string): Promise<void> {
      await db.conversationInvite.update({ where: { id }, data: { uses: { increment: 1 } }, select: { id: true } })
    },

    /** Revokes the conversation's invite with this code hash or this id; false when there is none (or it was revoked). */
    async revoke (conversationId: string, match: { codeHash: string } | { id: string }, at: Date): Promise<boolean> {
      const { count } = await db.conversationInvite.updateMany({ where: { conversationId, revokedAt: null, ...match }, data: { revokedAt: at } })
      return count > 0
    },

    /** Invites not revoked, expired or used up, newest first (at most `limit`). */
    async active (conversationId: string, now: Date, limit: number): Promise<InviteRow[]> {
      return db.$queryRaw<InviteRow[]>`
        SELECT id, conversation_id AS "conversationId", created_by AS "createdBy", created_at AS "createdAt", expires_at AS "expiresAt",
               max_uses AS "maxUses", uses, revoked_at AS "revokedAt"
          FROM conversation_invites
         WHERE conversation_id = ${conversationId}::uuid AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > ${now}) AND (max_uses IS NULL OR uses < max_uses)
         ORDER BY id DESC
         LIMIT ${limit}::int`
    },

    async countActive (conversationId: string, now: Date): Promise<number> {
      return db.conversationInvite.count({
        where: { conversationId, revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] }
      })
    }
  }
}

export function createInvitesRepository ({ prisma }: Database) {
  return inviteStatements(prisma)
}
