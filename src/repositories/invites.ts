// Invite links of groups: rows by code hash (the code itself is never stored).
import type { Client, Database } from './db.js'
import { invitationStatements } from './invitations.js'

export interface InviteRow {
  id: string
  conversationId: string
  createdBy: string
  createdAt: Date
  expiresAt: Date | null
  maxUses: number | null
  uses: number
  revokedAt: Date | null
  /** Listed invites only: whether its maker is suspended (it admits nobody meanwhile). */
  paused?: boolean
}

const select = { id: true, conversationId: true, createdBy: true, createdAt: true, expiresAt: true, maxUses: true, uses: true, revokedAt: true } as const

export function inviteStatements (db: Client) {
  return {
    invitations: invitationStatements(db),

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

    /**
     * Invites not revoked, expired or used up, newest first (at most `limit`), with whether their maker is
     * suspended (`paused`: they admit nobody until the suspension is lifted, then admit again). A deleted maker's
     * invites are not among them: they never admit anyone again (the deletion revokes them as it leaves the group).
     */
    async active (conversationId: string, now: Date, limit: number): Promise<InviteRow[]> {
      return db.$queryRaw<InviteRow[]>`
        SELECT i.id, i.conversation_id AS "conversationId", i.created_by AS "createdBy", i.created_at AS "createdAt", i.expires_at AS "expiresAt",
               i.max_uses AS "maxUses", i.uses, i.revoked_at AS "revokedAt", u.suspended_at IS NOT NULL AS paused
          FROM conversation_invites i JOIN users u ON u.id = i.created_by AND u.deleted_at IS NULL
         WHERE i.conversation_id = ${conversationId}::uuid AND i.revoked_at IS NULL
           AND (i.expires_at IS NULL OR i.expires_at > ${now}) AND (i.max_uses IS NULL OR i.uses < i.max_uses)
         ORDER BY i.id DESC
         LIMIT ${limit}::int`
    },

    /**
     * How many invites `active` would list without its limit, toward the cap: a used-up invite, or one of a
     * deleted maker, no longer counts; a paused one does (it admits again once its maker's suspension is lifted).
     */
    async countActive (conversationId: string, now: Date): Promise<number> {
      const [row] = await db.$queryRaw<Array<{ n: number }>>`
        SELECT count(*)::int AS n
          FROM conversation_invites i JOIN users u ON u.id = i.created_by AND u.deleted_at IS NULL
         WHERE i.conversation_id = ${conversationId}::uuid AND i.revoked_at IS NULL
           AND (i.expires_at IS NULL OR i.expires_at > ${now}) AND (i.max_uses IS NULL OR i.uses < i.max_uses)`
      return row?.n ?? 0
    }
  }
}

export function createInvitesRepository ({ prisma }: Database) {
  return inviteStatements(prisma)
}
