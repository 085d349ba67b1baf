// Pending invitations (GROUP_ADDS=invite) and the places they hold. An
// invitation holds a place in its group until it is accepted, declined,
// withdrawn by the group's owner or an admin, or expires (INVITATION_TTL_DAYS
// after it was sent), as invited members do in Sendbird: a group's members and
// pending invitations together stay within GROUP_MAX_MEMBERS, so an invitation
// sent can be accepted, and joins and invite links leave the places held;
// unanswered invitations cannot hold a group's places for ever. A user has at
// most INVITATIONS_MAX_PENDING invitations pending, so nobody buries another's
// invitations under a heap of groups.
import { AppError, badRequest } from './errors.js'
import type { Tx } from './event-log.js'

/** Pending invitations one user may have when the deployment does not say (INVITATIONS_MAX_PENDING). */
export const DEFAULT_INVITATIONS_MAX_PENDING = 100
/** Days an invitation stays pending when the deployment does not say (INVITATION_TTL_DAYS). */
export const DEFAULT_INVITATION_TTL_DAYS = 30

export interface InvitationLimits { groupMaxMembers: number, invitationsMaxPending?: number | undefined, invitationTtlDays?: number | undefined }

const ttlMs = (limits: Pick<InvitationLimits, 'invitationTtlDays'>) => (limits.invitationTtlDays ?? DEFAULT_INVITATION_TTL_DAYS) * 86_400_000

/** Invitations made at or before this time have expired. */
export const invitationCutoff = (limits: Pick<InvitationLimits, 'invitationTtlDays'>, now = new Date()): Date => new Date(now.getTime() - ttlMs(limits))

/**
 * Tells these invitees, after the commit, that their invitations to the conversation are withdrawn: the
 * invitation.withdrawn frame to their sockets (wired in plugins/app, as the realtime node's publishFrame).
 */
export type AnnounceInvitationWithdrawn = (userIds: string[], conversationId: string) => void

/**
 * The invitees to tell of invitations that ended with their inviter's authority (repositories/conversations.ts
 * revokeInvitesOf): those still pending; an expired one was gone for its invitee already, as on a withdrawal.
 */
export function withdrawnInvitees (ended: Array<{ userId: string, createdAt: Date }>, limits: Pick<InvitationLimits, 'invitationTtlDays'>): string[] {
  const cutoff = invitationCutoff(limits)
  return ended.filter((i) => i.createdAt > cutoff).map((i) => i.userId)
}

/** When an invitation made at `createdAt` expires (ISO). */
export const invitationExpiry = (limits: Pick<InvitationLimits, 'invitationTtlDays'>, createdAt: Date): string => new Date(createdAt.getTime() + ttlMs(limits)).toISOString()

const full = (max: number) => badRequest(`A group has at most ${max} members, pending invitations included`)

/**
 * Invites `userIds` (none of them a member) to a group whose row lock the
 * caller holds (or that its transaction creates), of `memberCount` members:
 * 400 when its members and pending invitations would pass the group size,
 * 409 TOO_MANY_INVITATIONS when one of the newly invited has as many pending
 * as a user may have. An invitation pending already stays as it is. Returns
 * those newly invited.
 */
export async function inviteToGroup (tx: Tx, conversationId: string, memberCount: number, userIds: string[], invitedBy: string, at: Date, limits: InvitationLimits): Promise<string[]> {
  const cutoff = invitationCutoff(limits, at)
  // Expired ones hold nothing: their rows go, so their invitees can be invited afresh.
  await tx.invites.invitations.dropExpired(conversationId, cutoff)
  const { pending, invited } = await tx.invites.invitations.places(conversationId, userIds, cutoff)
  const already = new Set(invited)
  const fresh = userIds.filter((id) => !already.has(id))
  if (fresh.length === 0) return []
  if (memberCount + pending + fresh.length > limits.groupMaxMembers) throw full(limits.groupMaxMembers)
  const maxPending = limits.invitationsMaxPending ?? DEFAULT_INVITATIONS_MAX_PENDING
  // Other groups may invite the same users meanwhile: serialized per user, so the counts hold until the insert.
  await tx.invites.invitations.lockInvitees(fresh)
  const counts = await tx.invites.invitations.pendingCounts(fresh, cutoff)
  if (fresh.some((id) => (counts.get(id) ?? 0) >= maxPending)) {
    throw new AppError(409, 'TOO_MANY_INVITATIONS', `A user may have at most ${maxPending} pending invitations: they accept or decline some first`)
  }
  return tx.invites.invitations.invite(conversationId, fresh, invitedBy, at)
}

/**
 * 400 unless a group of `memberCount` members, whose row lock the caller
 * holds, has a place for `userId` beside the places its pending invitations
 * to others hold (their own, if any, is theirs).
 */
export async function assertPlaceFor (tx: Tx, conversationId: string, memberCount: number, userId: string, limits: InvitationLimits): Promise<void> {
  const maxMembers = limits.groupMaxMembers
  if (memberCount + 1 > maxMembers) throw badRequest(`A group has at most ${maxMembers} members`)
  const { pending, invited } = await tx.invites.invitations.places(conversationId, [userId], invitationCutoff(limits))
  if (memberCount + 1 + pending - invited.length > maxMembers) throw full(maxMembers)
}
