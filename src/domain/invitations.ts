// Pending invitations (GROUP_ADDS=invite) and the places they hold. An
// invitation holds a place in its group until it is accepted, declined or
// withdrawn, as invited members do in Sendbird: a group's members and pending
// invitations together stay within GROUP_MAX_MEMBERS, so an invitation sent
// can be accepted, and joins and invite links leave the places held. A user
// has at most INVITATIONS_MAX_PENDING invitations pending, so nobody buries
// another's invitations under a heap of groups.
import { AppError, badRequest } from './errors.js'
import type { Tx } from './event-log.js'

/** Pending invitations one user may have when the deployment does not say (INVITATIONS_MAX_PENDING). */
export const DEFAULT_INVITATIONS_MAX_PENDING = 100

export interface InvitationLimits { groupMaxMembers: number, invitationsMaxPending?: number | undefined }

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
  const { pending, invited } = await tx.invites.invitations.places(conversationId, userIds)
  const already = new Set(invited)
  const fresh = userIds.filter((id) => !already.has(id))
  if (fresh.length === 0) return []
  if (memberCount + pending + fresh.length > limits.groupMaxMembers) throw full(limits.groupMaxMembers)
  const maxPending = limits.invitationsMaxPending ?? DEFAULT_INVITATIONS_MAX_PENDING
  // Other groups may invite the same users meanwhile: serialized per user, so the counts hold until the insert.
  await tx.invites.invitations.lockInvitees(fresh)
  const counts = await tx.invites.invitations.pendingCounts(fresh)
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
export async function assertPlaceFor (tx: Tx, conversationId: string, memberCount: number, userId: string, maxMembers: number): Promise<void> {
  if (memberCount + 1 > maxMembers) throw badRequest(`A group has at most ${maxMembers} members`)
  const { pending, invited } = await tx.invites.invitations.places(conversationId, [userId])
  if (memberCount + 1 + pending - invited.length > maxMembers) throw full(maxMembers)
}
