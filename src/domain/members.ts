// Group membership: adding, removing (or leaving) and roles. Each runs under
// the conversation's row lock, so the member list it checks is the one it
// changes, and writes member.* events in the same transaction.
import type { ChatEvent } from './events.js'
import type { LockedConversation, MemberRow } from '../repositories/conversations.js'
import { createRepositories } from '../repositories/index.js'
import { createConversationReader } from './conversation-reader.js'
import { canManage, type ChatDeps } from './conversations.js'
import { badRequest, forbidden, notFound } from './errors.js'
import { assertNotBlockedBy } from './safety-blocks.js'
import { assertNotBanned } from './safety-moderation.js'
import { appendEvents, inConversationTransaction, lockAsMember, membersAdded, type EventDraft, type Tx } from './event-log.js'
import { assertLive, lockLive } from './live-accounts.js'
import { assertPlaceFor, invitationCutoff, invitationExpiry, inviteToGroup, withdrawnInvitees, type InvitationLimits } from './invitations.js'

interface Locked { conversation: LockedConversation, members: MemberRow[], me: MemberRow }

/** What a membership change committed: its events and their recipients, and the invitees whose invitations it withdrew. */
interface Written { events: ChatEvent[], recipients: string[], withdrawn?: string[] }

/** Locks a group and loads its members; 404 for non-members, 403 for a direct conversation. */
async function lockGroup (tx: Tx, conversationId: string, userId: string): Promise<Locked> {
  const locked = await lockAsMember(tx, conversationId, userId)
  if (locked.conversation.type === 'direct') throw forbidden('A direct conversation has exactly its two members')
  return locked
}

/**
 * Adds one user to a group whose row lock the caller holds, with its members
 * loaded: member.added by `by` (a join, an accepted invitation or invite
 * link). Null when they are a member already. The caller locked the user's
 * row live before the conversation's (live-accounts.ts lockLive), so a deleted
 * account never becomes a member again.
 */
export async function addOneMember (tx: Tx, conversationId: string, members: MemberRow[], userId: string, by: string, limits: InvitationLimits): Promise<{ events: ChatEvent[], recipients: string[] } | null> {
  if (members.some((m) => m.userId === userId)) return null
  await assertPlaceFor(tx, conversationId, members.length, userId, limits)
  await assertNotBanned(tx, conversationId, [userId])
  const { events, at, lastSeq } = await appendEvents(tx, conversationId, [membersAdded([userId], by)])
  await tx.conversations.addMembers(conversationId, [{ userId, joinedSeq: lastSeq }], lastSeq, at)
  await tx.invites.invitations.dropFor(conversationId, [userId])
  return { events, recipients: [...members.map((m) => m.userId), userId] }
}

/** Who becomes owner when the owner goes: the longest-standing admin, else the longest-standing member (ties by user id). */
export function successor<M extends { role: string }> (members: M[]): M | undefined {
  return members.find((m) => m.role === 'admin') ?? members[0]
}

/**
 * Makes `heirId` the owner of a group whose row lock the caller holds, as its
 * owner goes (`by`): member.updated, and member.unmuted when the heir was
 * muted, since nobody may act on the owner (the owner included), so a muted
 * heir would have stayed unable to post for good.
 */
export async function handOver (tx: Tx, conversationId: string, heirId: string, by: string): Promise<EventDraft[]> {
  const { muted } = await tx.safety.writeFlags(conversationId, heirId)
  // setRole lifts the mute of an owner.
  await tx.conversations.setRole(conversationId, heirId, 'owner')
  const drafts: EventDraft[] = [{ type: 'member.updated', data: { userId: heirId, role: 'owner', by } }]
  if (muted) drafts.push({ type: 'member.unmuted', data: { userId: heirId, by } })
  return drafts
}

export function createMemberService (deps: ChatDeps) {
  const { publisher } = deps
  const repos = createRepositories(deps)
  const reader = createConversationReader(repos.conversations, deps.membersPreview)

  async function write (conversationId: string, fn: (tx: Tx) => Promise<Written | null>) {
    const result = await inConversationTransaction(repos, conversationId, fn)
    if (result === null) return
    if (result.events.length > 0) publisher.publishEvents(result.events, result.recipients)
    if (result.withdrawn !== undefined && result.withdrawn.length > 0) deps.announceInvitationWithdrawn?.(result.withdrawn, conversationId)
  }

  return {
    /**
     * Adds users (owner or admin); existing members are skipped, removed ones
     * come back. With GROUP_ADDS=invite they are invited instead (checked
     * alike: known, not banned, not blocking the adder) and get an invitation
     * frame; the group's log is unchanged until one accepts.
     */
    async add (userId: string, conversationId: string, userIds: string[]) {
      const wanted = [...new Set(userIds)]
      if (deps.groupAdds === 'invite') {
        const invited = await inConversationTransaction(repos, conversationId, async (tx) => {
          // Before the group's lock (live-accounts.ts); only those not members yet must be live.
          const live = await lockLive(tx, userId, wanted)
          const { conversation, members, me } = await lockGroup(tx, conversationId, userId)
          if (!canManage(me.role)) throw forbidden('Only the owner or an admin can add members')
          const current = new Set(members.map((m) => m.userId))
          const added = wanted.filter((id) => !current.has(id))
          if (added.length === 0) return null
          assertLive(live, added)
          await assertNotBanned(tx, conversationId, added)
          await assertNotBlockedBy(tx.safety, userId, added)
          const at = new Date()
          const ids = await inviteToGroup(tx, conversationId, members.length, added, userId, at, deps)
          return { ids, data: { conversationId, title: conversation.title, invitedBy: userId, createdAt: at.toISOString(), expiresAt: invitationExpiry(deps, at) } }
        })
        if (invited !== null && invited.ids.length > 0) deps.announceInvitation?.(invited.ids, invited.data)
        return reader.get(userId, conversationId)
      }
      await write(conversationId, async (tx) => {
        const live = await lockLive(tx, userId, wanted)
        const { members, me } = await lockGroup(tx, conversationId, userId)
        if (!canManage(me.role)) throw forbidden('Only the owner or an admin can add members')
        const current = new Set(members.map((m) => m.userId))
        const added = wanted.filter((id) => !current.has(id))
        if (added.length === 0) return null
        if (members.length + added.length > deps.groupMaxMembers) throw badRequest(`A group has at most ${deps.groupMaxMembers} members`)
        // Pending invitations to others hold their places (invitations.ts).
        const { pending, invited } = await tx.invites.invitations.places(conversationId, added, invitationCutoff(deps))
        if (members.length + added.length + pending - invited.length > deps.groupMaxMembers) {
          throw badRequest(`A group has at most ${deps.groupMaxMembers} members, pending invitations included`)
        }
        assertLive(live, added)
        await assertNotBanned(tx, conversationId, added)
        await assertNotBlockedBy(tx.safety, userId, added)
        // One event however many join: its push reaches every member once,
        // so adding n users costs n frames, not n squared.
        const { events, at, lastSeq } = await appendEvents(tx, conversationId, [membersAdded(added, userId)])
        // They see the conversation from that event on.
        await tx.conversations.addMembers(conversationId, added.map((id) => ({ userId: id, joinedSeq: lastSeq })), lastSeq, at)
        await tx.invites.invitations.dropFor(conversationId, added)
        return { events, recipients: [...current, ...added] }
      })
      return reader.get(userId, conversationId)
    },

    /**
     * Joins a public group (channel): one member.added with by = the joiner,
     * seen from that event on. A private group, a direct conversation or no
     * conversation: 404 alike. Banned: 403 BANNED. A member already: nothing
     * is written, the conversation is answered again.
     */
    async join (userId: string, conversationId: string) {
      await write(conversationId, async (tx) => {
        await lockLive(tx, userId)
        // A stranger's request never takes the lock of a group it cannot join (an indexed read first, as
        // lockAsMember does): else anyone could loop joins of a private group and hold up its posts.
        const kind = await tx.conversations.kind(conversationId)
        if (kind === null || kind.type !== 'group' || !kind.isPublic) throw notFound('Conversation')
        const conversation = await tx.conversations.lock(conversationId)
        if (conversation === null || conversation.type !== 'group' || !conversation.isPublic) throw notFound('Conversation')
        return addOneMember(tx, conversationId, await tx.conversations.members(conversationId), userId, userId, deps)
      })
      return reader.get(userId, conversationId)
    },

    /**
     * Removes a member (owner: anyone; admin: plain members) or lets a member
     * leave. An owner who leaves hands ownership to the successor first, so
     * the leaver's own member.removed is the last event they get.
     */
    async remove (userId: string, conversationId: string, targetId: string) {
      await write(conversationId, async (tx) => {
        const { members, me } = await lockGroup(tx, conversationId, userId)
        const target = members.find((m) => m.userId === targetId)
        if (target === undefined) throw notFound('Member')
        if (targetId !== userId) {
          if (!canManage(me.role)) throw forbidden('Only the owner or an admin can remove members')
          if (target.role === 'owner') throw forbidden('The owner cannot be removed')
          if (me.role === 'admin' && target.role === 'admin') throw forbidden('Only the owner can remove an admin')
        }
        const remaining = members.filter((m) => m.userId !== targetId)
        const heir = target.role === 'owner' ? successor(remaining) : undefined
        const drafts: EventDraft[] = heir === undefined ? [] : await handOver(tx, conversationId, heir.userId, userId)
        drafts.push({ type: 'member.removed', data: { userId: targetId, by: userId } })
        const { events, at, lastSeq } = await appendEvents(tx, conversationId, drafts)
        // Their window ends with their own member.removed (the last event they get); their invitations end with it.
        const ended = await tx.conversations.markLeft(conversationId, targetId, at, lastSeq)
        return { events, recipients: members.map((m) => m.userId), withdrawn: withdrawnInvitees(ended, deps) }
      })
    },

    /** Makes a member an admin or a plain member again (owner only). */
    async setRole (userId: string, conversationId: string, targetId: string, role: 'admin' | 'member') {
      await write(conversationId, async (tx) => {
        const { members, me } = await lockGroup(tx, conversationId, userId)
        if (me.role !== 'owner') throw forbidden('Only the owner can change roles')
        const target = members.find((m) => m.userId === targetId)
        if (target === undefined) throw notFound('Member')
        if (target.role === 'owner') throw forbidden("The owner's role cannot be changed")
        if (target.role === role) return null
        // Made a plain member, their invitations end.
        const ended = await tx.conversations.setRole(conversationId, targetId, role)
        const { events } = await appendEvents(tx, conversationId, [{ type: 'member.updated', data: { userId: targetId, role, by: userId } }])
        return { events, recipients: members.map((m) => m.userId), withdrawn: withdrawnInvitees(ended, deps) }
      })
      return reader.get(userId, conversationId)
    }
  }
}

export type MemberService = ReturnType<typeof createMemberService>
