// Conversations: direct (one per pair of users, enforced by a unique key) and
// groups; their title and the members' read positions. Every change is an
// event written in the changing transaction, published after commit.
import type { ChatEvent, RealtimePublisher } from './events.js'
import type { Role } from '../repositories/conversations.js'
import { createRepositories, type Database, type Repositories } from '../repositories/index.js'
import { createConversationReader } from './conversation-reader.js'
import { AppError, badRequest, forbidden, notFound } from './errors.js'
import { createMemberPages } from './member-pages.js'
import { appendEvents, inConversationTransaction, inTransaction, lockAsMember, membersAdded, toChatEvent } from './event-log.js'
import { newId } from './ids.js'
import { isUniqueViolation } from './prisma-errors.js'
import { toConversationInfo } from './views.js'
import { assertNotBlockedBy } from './safety-blocks.js'
import { assertLive, lockLive } from './live-accounts.js'
import { invitationExpiry, inviteToGroup, type AnnounceInvitationWithdrawn } from './invitations.js'

export interface ChatDeps extends Database {
  /** Called only after commit. */
  publisher: RealtimePublisher
  groupMaxMembers: number
  /** Members shown with each conversation of the list. */
  membersPreview: number
  /** Called after a commit that marked files for removal (a replaced group picture). */
  onFilesReleased?: () => void
  /** GROUP_ADDS: adding users to a group adds them (direct, the default) or invites them (invite). */
  groupAdds?: 'direct' | 'invite'
  /** Called after the commit that invited users (GROUP_ADDS=invite): the invitation frame to them. */
  announceInvitation?: (userIds: string[], invitation: InvitationData) => void
  /** INVITATIONS_MAX_PENDING: pending invitations one user may have at once (100 when missing). */
  invitationsMaxPending?: number
  /** INVITATION_TTL_DAYS: an invitation expires this many days after it was sent (30 when missing). */
  invitationTtlDays?: number
  /**
   * Called after a commit that withdrew invitations (by the group's owner or an admin, or as their inviter
   * left, was removed, banned, made a plain member or deleted): the invitation.withdrawn frame to each invitee.
   */
  announceInvitationWithdrawn?: AnnounceInvitationWithdrawn
}

/** The data of the invitation frame (and an item of GET /v1/me/invitations, with memberCount). */
export interface InvitationData { conversationId: string, title: string | null, invitedBy: string, createdAt: string, expiresAt: string }

/** Owners and admins manage a group; a direct conversation has no managers. */
export const canManage = (role: Role) => role === 'owner' || role === 'admin'

/**
 * For the reads of a group's owner and admins (its bans, its invites): 404
 * for non-members, 403 for a direct conversation or a plain member, as
 * lockAsMember's writes answer, but read without locking the conversation
 * (a member looping such a read would hold up its posts).
 */
export async function assertManager (repos: Pick<Repositories, 'conversations'>, conversationId: string, userId: string, refusals: { direct: string, member: string }): Promise<void> {
  const found = await repos.conversations.memberAndType(conversationId, userId)
  if (found === null) throw notFound('Conversation')
  if (found.type === 'direct') throw forbidden(refusals.direct)
  if (!canManage(found.me.role)) throw forbidden(refusals.member)
}

export function createConversationService (deps: ChatDeps) {
  const { publisher } = deps
  const repos = createRepositories(deps)
  const repo = repos.conversations
  const reader = createConversationReader(repo, deps.membersPreview)

  /**
   * Creates a conversation whose first events are the creator's member.added
   * (seq 1), then the others' (member.added for one, one members.added for
   * several: seq 2). Every initial member sees the conversation from seq 1.
   * `invited` (GROUP_ADDS=invite) are invited in the same transaction. The
   * creator and everyone named are locked live first (live-accounts.ts): a
   * deleted creator 401, a deleted other 404.
   */
  async function create (creatorId: string, data: { type: 'direct' | 'group', title: string | null, directKey: string | null, isPublic?: boolean }, otherIds: string[], invited: string[] = []) {
    const id = newId()
    const at = new Date()
    const members: Array<{ userId: string, role: Role }> = [
      { userId: creatorId, role: data.type === 'group' ? 'owner' : 'member' },
      ...otherIds.map((userId) => ({ userId, role: 'member' as const }))
    ]
    const drafts = [membersAdded([creatorId], creatorId), ...(otherIds.length > 0 ? [membersAdded(otherIds, creatorId)] : [])]
    const events: ChatEvent[] = drafts.map((d, i) => toChatEvent({ conversationId: id, seq: i + 1, type: d.type, data: d.data, createdAt: at }))
    const invitedIds = await inTransaction(repos, async (tx) => {
      assertLive(await lockLive(tx, creatorId, [...otherIds, ...invited]), [...otherIds, ...invited])
      await tx.conversations.create({ id, ...data, lastSeq: events.length, at }, members)
      await tx.events.insert(events.map((e) => ({ ...e, createdAt: at })))
      return inviteToGroup(tx, id, members.length, invited, creatorId, at, deps)
    })
    publisher.publishEvents(events, members.map((m) => m.userId))
    return { id, at, invited: invitedIds }
  }

  return {
    get: reader.get,
    list: reader.list,
    listMembers: createMemberPages(repo).list,

    /** The direct conversation of the pair; `created` tells 201 from 200. */
    async openDirect (userId: string, otherId: string) {
      if (otherId === userId) throw badRequest('body/userId must be another user than the caller')
      if ((await repos.users.existing([otherId])).size === 0) throw notFound('User')
      const directKey = [userId, otherId].sort().join(':')
      const existing = await repo.findDirect(directKey)
      if (existing !== null) return { conversation: await reader.get(userId, existing.id), created: false }
      await assertNotBlockedBy(repos.safety, userId, [otherId])
      try {
        const { id } = await create(userId, { type: 'direct', title: null, directKey }, [otherId])
        return { conversation: await reader.get(userId, id), created: true }
      } catch (err) {
        // Both users opened it at once: the other request's row won.
        if (!isUniqueViolation(err)) throw err
        const winner = await repo.findDirect(directKey)
        if (winner === null) throw err
        return { conversation: await reader.get(userId, winner.id), created: false }
      }
    },

    async createGroup (userId: string, input: { title: string, memberIds: string[], public?: boolean | undefined }) {
      const others = [...new Set(input.memberIds)].filter((id) => id !== userId)
      if (others.length + 1 > deps.groupMaxMembers) throw badRequest(`A group has at most ${deps.groupMaxMembers} members`)
      const found = await repos.users.existing(others)
      if (found.size !== others.length) throw notFound('User')
      await assertNotBlockedBy(repos.safety, userId, others)
      const title = input.title.trim()
      if (deps.groupAdds !== 'invite') {
        const { id } = await create(userId, { type: 'group', title, directKey: null, isPublic: input.public === true }, others)
        return reader.get(userId, id)
      }
      // GROUP_ADDS=invite: the group starts with its creator; the others are invited.
      const { id, at, invited } = await create(userId, { type: 'group', title, directKey: null, isPublic: input.public === true }, [], others)
      if (invited.length > 0) deps.announceInvitation?.(invited, { conversationId: id, title, invitedBy: userId, createdAt: at.toISOString(), expiresAt: invitationExpiry(deps, at) })
      return reader.get(userId, id)
    },

    /**
     * Renames a group and/or sets its picture (owner or admin); writes
     * conversation.updated. pictureUploadId names a completed image upload of
     * the caller (null removes the picture); the replaced picture's files go.
     */
    async update (userId: string, conversationId: string, input: { title?: string | undefined, pictureUploadId?: string | null | undefined, public?: boolean | undefined }) {
      if (input.title === undefined && input.pictureUploadId === undefined && input.public === undefined) throw badRequest('body must have title, pictureUploadId or public')
      const result = await inConversationTransaction(repos, conversationId, async (tx) => {
        const { conversation, members, me } = await lockAsMember(tx, conversationId, userId)
        if (conversation.type === 'direct') throw forbidden('A direct conversation has no title or picture')
        if (!canManage(me.role)) throw forbidden('Only the owner or an admin can change the group')
        const title = input.title?.trim() ?? conversation.title
        const pictureUploadId = input.pictureUploadId === undefined ? conversation.pictureUploadId : input.pictureUploadId
        const isPublic = input.public ?? conversation.isPublic
        if (conversation.title === title && conversation.pictureUploadId === pictureUploadId && conversation.isPublic === isPublic) return null
        if (title !== conversation.title) await tx.conversations.setTitle(conversationId, title!)
        if (isPublic !== conversation.isPublic) await tx.conversations.setPublic(conversationId, isPublic)
        let released = false
        if (pictureUploadId !== conversation.pictureUploadId) {
          if (pictureUploadId !== null && !(await tx.uploads.claim(pictureUploadId, userId, 'picture'))) {
            throw new AppError(400, 'INVALID_ATTACHMENT', 'pictureUploadId must name a completed image upload of yours, not in use')
          }
          if (conversation.pictureUploadId !== null) {
            await tx.uploads.markDeleting({ ids: [conversation.pictureUploadId] })
            released = true
          }
          await tx.conversations.setPicture(conversationId, pictureUploadId)
        }
        const { events } = await appendEvents(tx, conversationId, [{
          type: 'conversation.updated',
          data: null,
          dataFor: (seq) => toConversationInfo({ ...conversation, title, pictureUploadId, isPublic }, seq)
        }])
        return { events, recipients: members.map((m) => m.userId), released }
      })
      if (result !== null) publisher.publishEvents(result.events, result.recipients)
      if (result?.released === true) deps.onFilesReleased?.()
      return reader.get(userId, conversationId)
    },

    /**
     * lastReadSeq becomes max(old, min(seq, lastSeq)); a move is published as a
     * read receipt to the members (not those the reader has blocked) read with
     * it, under the member list's lock (repositories/receipts.ts): a member
     * removed meanwhile is either not told, or told before their member.removed.
     */
    async markRead (userId: string, conversationId: string, seq: number) {
      const moved = await repo.advanceRead(conversationId, userId, seq)
      if (moved === null) {
        if ((await repo.findMember(conversationId, userId)) === null) throw notFound('Conversation')
        return
      }
      publisher.publishRead({ conversationId, userId, seq: moved.seq }, moved.recipients)
    }
  }
}

export type ConversationService = ReturnType<typeof createConversationService>
