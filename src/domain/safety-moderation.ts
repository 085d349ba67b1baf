// Moderation of a group by its owner and admins: ban (removed, and not added
// again until unbanned), mute (posting answers 403 MUTED), slow mode (one post
// per N seconds per plain member, 429 SLOW_MODE with Retry-After) and freeze
// (only the owner and admins post). Each change runs under the conversation's
// row lock and is an event in the log; post_messages judges posts under the
// same lock, so a post is entirely before or after a change.
import type { ChatEvent, RealtimePublisher } from './events.js'
import type { MemberRow } from '../repositories/conversations.js'
import { createRepositories, type Database } from '../repositories/index.js'
import { assertManager, canManage } from './conversations.js'
import { decodeTimeIdCursor, encodeTimeIdCursor } from './cursors.js'
import { AppError, forbidden, notFound } from './errors.js'
import { appendEvents, inConversationTransaction, lockAsMember, type EventDraft, type Tx } from './event-log.js'
import { withdrawnInvitees, type AnnounceInvitationWithdrawn, type InvitationLimits } from './invitations.js'

export interface ModerationDeps extends Database, Pick<InvitationLimits, 'invitationTtlDays'> {
  publisher: RealtimePublisher
  /** Called after the commit of a ban that withdrew the banned inviter's invitations (GROUP_ADDS=invite). */
  announceInvitationWithdrawn?: AnnounceInvitationWithdrawn
}

/** Refuses with 403 BANNED when any of `userIds` is banned from the conversation (inside its lock). */
export async function assertNotBanned (tx: Tx, conversationId: string, userIds: string[]): Promise<void> {
  if (userIds.length === 0) return
  const banned = await tx.safety.countBans(conversationId, userIds)
  if (banned > 0) throw new AppError(403, 'BANNED', 'A user you named is banned from this conversation')
}

/**
 * Refuses a write other than a post (an edit) by a muted member (403 MUTED),
 * or by a plain member of a frozen conversation (403 FROZEN); inside the
 * conversation's lock, as post_messages judges posts.
 */
export async function assertMayWrite (tx: Tx, conversationId: string, me: MemberRow): Promise<void> {
  const { frozen, muted } = await tx.safety.writeFlags(conversationId, me.userId)
  if (frozen && me.role === 'member') throw new AppError(403, 'FROZEN', 'The conversation is frozen: only the owner and admins can write')
  if (muted) throw new AppError(403, 'MUTED', 'You are muted in this conversation')
}

const MANAGER_REFUSALS = { direct: 'A direct conversation has no moderators', member: 'Only the owner or an admin can moderate the conversation' }

/** Locks a group as one of its managers; 404 for non-members, 403 for a direct conversation or a plain member. */
async function lockAsManager (tx: Tx, conversationId: string, userId: string) {
  const locked = await lockAsMember(tx, conversationId, userId)
  if (locked.conversation.type === 'direct') throw forbidden(MANAGER_REFUSALS.direct)
  if (!canManage(locked.me.role)) throw forbidden(MANAGER_REFUSALS.member)
  return locked
}

/** The owner cannot be acted on; an admin acts only on plain members. */
function checkTarget (me: MemberRow, target: { role: string } | undefined) {
  if (target === undefined) return
  if (target.role === 'owner') throw forbidden('The owner cannot be moderated')
  if (me.role === 'admin' && target.role === 'admin') throw forbidden('Only the owner can moderate an admin')
}

export function createModerationService (deps: ModerationDeps) {
  const { publisher } = deps
  const repos = createRepositories(deps)

  async function write (conversationId: string, fn: (tx: Tx) => Promise<{ events: ChatEvent[], recipients: string[], withdrawn?: string[] } | null>) {
    const result = await inConversationTransaction(repos, conversationId, fn)
    if (result === null) return
    if (result.events.length > 0) publisher.publishEvents(result.events, result.recipients)
    if (result.withdrawn !== undefined && result.withdrawn.length > 0) deps.announceInvitationWithdrawn?.(result.withdrawn, conversationId)
  }

  const recipientsOf = (members: MemberRow[]) => members.map((m) => m.userId)

  return {
    /**
     * Bans a user: member.banned, then member.removed when they are a member
     * (so the banned user's last event is their own removal).
     */
    async ban (userId: string, conversationId: string, targetId: string) {
      if (targetId === userId) throw forbidden('You cannot ban yourself')
      await write(conversationId, async (tx) => {
        const { members, me } = await lockAsManager(tx, conversationId, userId)
        const target = members.find((m) => m.userId === targetId)
        checkTarget(me, target)
        if (target === undefined && (await tx.users.existing([targetId])).size === 0) throw notFound('User')
        if (!await tx.safety.addBan(conversationId, targetId, userId)) return null
        const drafts: EventDraft[] = [{ type: 'member.banned', data: { userId: targetId, by: userId } }]
        if (target !== undefined) drafts.push({ type: 'member.removed', data: { userId: targetId, by: userId } })
        const { events, at, lastSeq } = await appendEvents(tx, conversationId, drafts)
        // A banned inviter's invitations end with their membership.
        const ended = target === undefined ? [] : await tx.conversations.markLeft(conversationId, targetId, at, lastSeq)
        return { events, recipients: recipientsOf(members), withdrawn: withdrawnInvitees(ended, deps) }
      })
    },

    async unban (userId: string, conversationId: string, targetId: string) {
      await write(conversationId, async (tx) => {
        const { members, me } = await lockAsManager(tx, conversationId, userId)
        // The owner's bans (of admins among others) are the owner's to lift: an admin acts only on plain members.
        if (me.role === 'admin') {
          const by = await tx.safety.bannedBy(conversationId, targetId)
          if (by !== null && members.some((m) => m.userId === by && m.role === 'owner')) throw forbidden('Only the owner can lift a ban the owner made')
        }
        if (!await tx.safety.removeBan(conversationId, targetId)) return null
        const { events } = await appendEvents(tx, conversationId, [{ type: 'member.unbanned', data: { userId: targetId, by: userId } }])
        return { events, recipients: recipientsOf(members) }
      })
    },

    /**
     * Up to `limit` banned users of a group, newest first (then user id),
     * after `cursor` (owner and admins); 400 VALIDATION_FAILED for a cursor
     * this API did not write.
     */
    async bans (userId: string, conversationId: string, opts: { limit: number, cursor?: string | undefined }) {
      const after = opts.cursor === undefined ? undefined : decodeTimeIdCursor(opts.cursor)
      await assertManager(repos, conversationId, userId, MANAGER_REFUSALS)
      const rows = await repos.safety.bans(conversationId, after, opts.limit + 1)
      const page = rows.slice(0, opts.limit)
      const last = page[page.length - 1]
      return {
        bans: page.map((r) => ({ userId: r.userId, by: r.byId, createdAt: r.createdAt.toISOString() })),
        nextCursor: rows.length > opts.limit && last !== undefined ? encodeTimeIdCursor({ at: last.createdAt, id: last.userId }) : null
      }
    },

    /** Mutes (or unmutes) a member: member.muted / member.unmuted. */
    async setMuted (userId: string, conversationId: string, targetId: string, muted: boolean) {
      await write(conversationId, async (tx) => {
        const { members, me } = await lockAsManager(tx, conversationId, userId)
        const target = members.find((m) => m.userId === targetId)
        if (target === undefined) throw notFound('Member')
        if (targetId === userId) throw forbidden('You cannot mute yourself')
        checkTarget(me, target)
        if (!await tx.safety.setMuted(conversationId, targetId, muted)) return null
        const { events } = await appendEvents(tx, conversationId, [{ type: muted ? 'member.muted' : 'member.unmuted', data: { userId: targetId, by: userId } }])
        return { events, recipients: recipientsOf(members) }
      })
    },

    /** Slow mode: one post per `seconds` per plain member (0 turns it off); conversation.slow_mode. */
    async setSlowMode (userId: string, conversationId: string, seconds: number) {
      await write(conversationId, async (tx) => {
        const { members } = await lockAsManager(tx, conversationId, userId)
        if (!await tx.safety.setSlowMode(conversationId, seconds)) return null
        const { events } = await appendEvents(tx, conversationId, [{ type: 'conversation.slow_mode', data: { seconds, by: userId } }])
        return { events, recipients: recipientsOf(members) }
      })
    },

    /** Freezes (read-only for all but the owner and admins) or unfreezes: conversation.frozen / conversation.unfrozen. */
    async setFrozen (userId: string, conversationId: string, frozen: boolean) {
      await write(conversationId, async (tx) => {
        const { members } = await lockAsManager(tx, conversationId, userId)
        if (!await tx.safety.setFrozen(conversationId, frozen)) return null
        const { events } = await appendEvents(tx, conversationId, [{ type: frozen ? 'conversation.frozen' : 'conversation.unfrozen', data: { by: userId } }])
        return { events, recipients: recipientsOf(members) }
      })
    }
  }
}

export type ModerationService = ReturnType<typeof createModerationService>
