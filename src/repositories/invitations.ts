// Pending invitations to groups (GROUP_ADDS=invite), table group_invitations.
// An invitation made at or before `cutoff` has expired (INVITATION_TTL_DAYS,
// src/domain/invitations.ts): every read here leaves it out, so it is neither
// listed, nor acceptable, nor holding a place; its row goes when its group
// next invites (dropExpired), or with the group or the invitee.
import { Prisma } from '../generated/prisma/client.js'
import type { Client } from './db.js'

export interface InvitationRow {
  conversationId: string
  title: string | null
  invitedBy: string
  createdAt: Date
  memberCount: number
}

/** A pending invitation of a group, with its invitee's profile (the owner's and admins' list). */
export interface GroupInvitationRow {
  invitedBy: string
  createdAt: Date
  user: { id: string, username: string, displayName: string, createdAt: Date, avatarUploadId: string | null }
}

/** Where a page of a group's invitations starts: after this one, newest first (created at, then the invitee's id). */
export interface InvitationCursor { at: Date, id: string }

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

    /** Deletes the conversation's expired invitations (index group_invitations_newest); under its row lock, before inviting. */
    async dropExpired (conversationId: string, cutoff: Date): Promise<void> {
      await db.$executeRaw`DELETE FROM group_invitations WHERE conversation_id = ${conversationId}::uuid AND created_at <= ${cutoff}::timestamptz`
    },

    /**
     * The conversation's pending invitations: how many in all, and which of `userIds` have one. They hold places
     * of the group (domain/invitations.ts); read under the conversation's row lock, which every change of them
     * holds but an invitee's accept or decline (which only lowers them).
     */
    async places (conversationId: string, userIds: string[], cutoff: Date): Promise<{ pending: number, invited: string[] }> {
      const [row] = await db.$queryRaw<Array<{ pending: number, invited: string[] }>>`
        SELECT count(*)::int AS pending, COALESCE(array_agg(user_id::text) FILTER (WHERE user_id = ANY(${userIds}::uuid[])), '{}') AS invited
          FROM group_invitations WHERE conversation_id = ${conversationId}::uuid AND created_at > ${cutoff}::timestamptz`
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
    async pendingCounts (userIds: string[], cutoff: Date): Promise<Map<string, number>> {
      if (userIds.length === 0) return new Map()
      const rows = await db.$queryRaw<Array<{ user_id: string, n: number }>>`
        SELECT user_id, count(*)::int AS n FROM group_invitations
         WHERE user_id = ANY(${userIds}::uuid[]) AND created_at > ${cutoff}::timestamptz GROUP BY user_id`
      return new Map(rows.map((r) => [r.user_id, r.n]))
    },

    /** Whether the user has an invitation to the conversation pending (read without a lock). */
    async has (conversationId: string, userId: string, cutoff: Date): Promise<boolean> {
      const rows = await db.$queryRaw<unknown[]>`
        SELECT 1 FROM group_invitations
         WHERE conversation_id = ${conversationId}::uuid AND user_id = ${userId}::uuid AND created_at > ${cutoff}::timestamptz`
      return rows.length > 0
    },

    /** Removes the user's pending invitation to the conversation; who invited them, or null when there was none pending. */
    async take (conversationId: string, userId: string, cutoff: Date): Promise<string | null> {
      const rows = await db.$queryRaw<Array<{ invited_by: string }>>`
        DELETE FROM group_invitations
         WHERE conversation_id = ${conversationId}::uuid AND user_id = ${userId}::uuid AND created_at > ${cutoff}::timestamptz
        RETURNING invited_by`
      return rows[0]?.invited_by ?? null
    },

    /**
     * Withdraws the user's invitation to the conversation (its owner or an admin, under its row lock): whether a
     * pending one went. An expired one goes too, but is no news to the invitee.
     */
    async withdraw (conversationId: string, userId: string, cutoff: Date): Promise<boolean> {
      const rows = await db.$queryRaw<Array<{ pending: boolean }>>`
        DELETE FROM group_invitations WHERE conversation_id = ${conversationId}::uuid AND user_id = ${userId}::uuid
        RETURNING created_at > ${cutoff}::timestamptz AS pending`
      return rows[0]?.pending ?? false
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
    async pending (userId: string, limit: number, cutoff: Date): Promise<InvitationRow[]> {
      return db.$queryRaw<InvitationRow[]>`
        SELECT gi.conversation_id AS "conversationId", c.title, gi.invited_by AS "invitedBy", gi.created_at AS "createdAt", c.member_count AS "memberCount"
          FROM group_invitations gi JOIN conversations c ON c.id = gi.conversation_id
         WHERE gi.user_id = ${userId}::uuid AND gi.created_at > ${cutoff}::timestamptz
         ORDER BY gi.created_at DESC, gi.conversation_id DESC
         LIMIT ${limit}::int`
    },

    /**
     * Up to `limit` pending invitations of the conversation after `after`, newest first (then the invitee's id),
     * with the invitees' profiles: a keyset page on index group_invitations_newest, the same cost at any depth.
     */
    async groupPage (conversationId: string, cutoff: Date, after: InvitationCursor | undefined, limit: number): Promise<GroupInvitationRow[]> {
      const from = after === undefined ? Prisma.empty : Prisma.sql`AND (gi.created_at, gi.user_id) < (${after.at}::timestamptz, ${after.id}::uuid)`
      const rows = await db.$queryRaw<Array<{ invited_by: string, created_at: Date, id: string, username: string, display_name: string, user_created_at: Date, avatar_upload_id: string | null }>>`
        SELECT gi.invited_by, gi.created_at, u.id, u.username, u.display_name, u.created_at AS user_created_at, u.avatar_upload_id
          FROM group_invitations gi JOIN users u ON u.id = gi.user_id
         WHERE gi.conversation_id = ${conversationId}::uuid AND gi.created_at > ${cutoff}::timestamptz ${from}
         ORDER BY gi.created_at DESC, gi.user_id DESC
         LIMIT ${limit}::int`
      return rows.map((r) => ({
        invitedBy: r.invited_by,
        createdAt: r.created_at,
        user: { id: r.id, username: r.username, displayName: r.display_name, createdAt: r.user_created_at, avatarUploadId: r.avatar_upload_id }
      }))
    }
  }
}
