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

export interface InvitationRow {
  conversationId: string
  title: string | null
  invitedBy: string
  createdAt: Date
  memberCount: number
}

/** Pending invitations to groups (GROUP_ADDS=invite). */
export function invitationStatements (db: Client) {
  return {
    /** Invites these users (an invitation pending already stays as it is); returns those newly invited. */
    async invite (conversationId: string, userIds: string[], invitedBy: string, at: Date): Promise<string[]> {
      if (userIds.length === 0) return []
      const rows = await db.$queryRaw<Array<{ user_id: string }>>`
        INSERT INTO group_invitations (conversation_id, user_id, invited_by, created_at)
        SELECT ${conversationId}::uuid, u, ${invitedBy}::uuid, ${at}::timestamptz FROM unnest(${userIds}::uuid[]) AS u
        ON CONFLICT (conversation_id, user_id) DO NOTHING
        RETURNING user_id`
      return rows.map((r) => r.user_id)
    },

    /**
     * The conversation's pending invitations: how many in all, and which of `userIds` have one. They hold places
     * of the group (domain/invitations.ts); read under the conversation's row lock, which every change of them
     * holds but an invitee's accept or decline (which only lowers them).
     */
    async places (conversationId: string, userIds: string[] = []): Promise<{ pending: number, invited: string[] }> {
      const [row] = await db.$queryRaw<Array<{ pending: number, invited: string[] }>>`
        SELECT count(*)::int AS pending, COALESCE(array_agg(user_id::text) FILTER (WHERE user_id = ANY(${userIds}::uuid[])), '{}') AS invited
          FROM group_invitations WHERE conversation_id = ${conversationId}::uuid`
      return row ?? { pending: 0, invited: [] }
    },

    /**
     * Serializes the invitations to these users until the transaction ends (an advisory lock per user, taken in
     * the order of their keys, so two inviters of overlapping users never wait on each other in a cycle): their
     * pending counts, read after it, stay true until the insert.
     */
    async lockInvitees (userIds: string[]): Promise<void> {
      if (userIds.length === 0) return
      await db.$executeRaw`
        SELECT pg_advisory_xact_lock(k) FROM (
          SELECT DISTINCT hashtext('invitations:' || u::text) AS k FROM unnest(${userIds}::uuid[]) AS u ORDER BY k OFFSET 0) keys`
    },

    /** How many invitations each of these users has pending (users with none are left out). */
    async pendingCounts (userIds: string[]): Promise<Map<string, number>> {
      if (userIds.length === 0) return new Map()
      const rows = await db.$queryRaw<Array<{ user_id: string, n: number }>>`
        SELECT user_id, count(*)::int AS n FROM group_invitations WHERE user_id = ANY(${userIds}::uuid[]) GROUP BY user_id`
      return new Map(rows.map((r) => [r.user_id, r.n]))
    },

    /** Whether the user has an invitation to the conversation pending (read without a lock). */
    async has (conversationId: string, userId: string): Promise<boolean> {
      const rows = await db.$queryRaw<unknown[]>`
        SELECT 1 FROM group_invitations WHERE conversation_id = ${conversationId}::uuid AND user_id = ${userId}::uuid`
      return rows.length > 0
    },

    /** Removes the user's invitation to the conversation; who invited them, or null when there was none. */
    async take (conversationId: string, userId: string): Promise<string | null> {
      const rows = await db.$queryRaw<Array<{ invited_by: string }>>`
        DELETE FROM group_invitations WHERE conversation_id = ${conversationId}::uuid AND user_id = ${userId}::uuid RETURNING invited_by`
      return rows[0]?.invited_by ?? null
    },

    /**
     * Drops these users' invitations to the conversation: they became members another way (an invite link, a join,
     * an add). An invitation kept past that would list the group to them after they leave or are removed, and
     * accepting it would bring them back in past a removal.
     */
    async dropFor (conversationId: string, userIds: string[]): Promise<void> {
      await db.$executeRaw`DELETE FROM group_invitations WHERE conversation_id = ${conversationId}::uuid AND user_id = ANY(${userIds}::uuid[])`
    },

    /** The user's pending invitations, newest first. */
    async pending (userId: string, limit: number): Promise<InvitationRow[]> {
      return db.$queryRaw<InvitationRow[]>`
        SELECT gi.conversation_id AS "conversationId", c.title, gi.invited_by AS "invitedBy", gi.created_at AS "createdAt", c.member_count AS "memberCount"
          FROM group_invitations gi JOIN conversations c ON c.id = gi.conversation_id
         WHERE gi.user_id = ${userId}::uuid
         ORDER BY gi.created_at DESC, gi.conversation_id DESC
         LIMIT ${limit}::int`
    }
  }
}

export function createInvitesRepository ({ prisma }: Database) {
  return inviteStatements(prisma)
}
