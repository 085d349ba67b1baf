// Invite links of groups (README "Search, channels and invitations"). The
// owner and admins create them, optionally expiring and limited in uses, list
// and revoke them; anyone with the code joins. The code (24 random bytes) is
// shown once and stored as its SHA-256, so the table gives no code away; a
// wrong, revoked, expired or used-up code all answer one 404, so codes cannot
// be probed (and accepting is rate-limited per user).
import { createHash, randomBytes } from 'node:crypto'
import type { ChatEvent } from './events.js'
import type { InviteRow } from '../repositories/invites.js'
import { createRepositories } from '../repositories/index.js'
import { createConversationReader } from './conversation-reader.js'
import { assertManager, canManage, type ChatDeps } from './conversations.js'
import { addOneMember } from './members.js'
import { AppError, forbidden, notFound } from './errors.js'
import { inConversationTransaction, lockAsMember, type Tx } from './event-log.js'
import { isUuid, newId } from './ids.js'
import { lockLive } from './live-accounts.js'
import { DEFAULT_INVITATIONS_MAX_PENDING, invitationCutoff, invitationExpiry } from './invitations.js'
import { decodeTimeIdCursor, encodeTimeIdCursor } from './cursors.js'
import { mediaUrl } from './views.js'

/** Active (not revoked, not expired) invites a group may have at once. */
export const MAX_ACTIVE_INVITES = 100

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
const invalidInvite = () => new AppError(404, 'INVALID_INVITE', 'No such invite, or it was revoked, has expired or is used up')

export interface InviteView {
  id: string
  conversationId: string
  createdBy: string
  createdAt: string
  expiresAt: string | null
  maxUses: number | null
  uses: number
  /** Its maker is suspended: it admits nobody until the suspension is lifted. */
  paused: boolean
}

const toInvite = (r: InviteRow): InviteView => ({
  id: r.id,
  conversationId: r.conversationId,
  createdBy: r.createdBy,
  createdAt: r.createdAt.toISOString(),
  expiresAt: r.expiresAt?.toISOString() ?? null,
  maxUses: r.maxUses,
  uses: r.uses,
  paused: r.paused ?? false
})

/** Whether a user is suspended (or gone): their invite links and invitations let nobody in meanwhile. */
async function suspended (tx: Tx, userId: string): Promise<boolean> {
  const user = await tx.safety.userModeration(userId)
  return user === null || user.suspendedAt !== null || user.deletedAt !== null
}

const MANAGER_REFUSALS = { direct: 'A direct conversation has no invites', member: 'Only the owner or an admin can manage invites' }
const INVITATION_MANAGERS = { direct: 'A direct conversation has no invitations', member: 'Only the owner or an admin can manage invitations' }

const usable = (r: InviteRow, now: Date) => r.revokedAt === null && (r.expiresAt === null || r.expiresAt > now) && (r.maxUses === null || r.uses < r.maxUses)

export function createInviteService (deps: ChatDeps) {
  const repos = createRepositories(deps)
  const reader = createConversationReader(repos.conversations, deps.membersPreview)

  /** Locks the group as one of its managers: 404 for non-members, 403 for a direct conversation or a plain member. */
  async function asManager (tx: Tx, conversationId: string, userId: string, refusals = MANAGER_REFUSALS) {
    const locked = await lockAsMember(tx, conversationId, userId)
    if (locked.conversation.type === 'direct') throw forbidden(refusals.direct)
    if (!canManage(locked.me.role)) throw forbidden(refusals.member)
    return locked
  }

  return {
    /** The caller's pending invitations (GROUP_ADDS=invite), newest first: all of them, as a user has at most INVITATIONS_MAX_PENDING. */
    async invitations (userId: string) {
      const rows = await repos.invites.invitations.pending(userId, deps.invitationsMaxPending ?? DEFAULT_INVITATIONS_MAX_PENDING, invitationCutoff(deps))
      return {
        invitations: rows.map((r) => ({
          conversationId: r.conversationId,
          title: r.title,
          invitedBy: r.invitedBy,
          createdAt: r.createdAt.toISOString(),
          expiresAt: invitationExpiry(deps, r.createdAt),
          memberCount: r.memberCount
        }))
      }
    },

    /**
     * Accepts an invitation: member.added with by = who invited, under the
     * conversation's lock; the invitation goes. None pending: 404. Banned
     * since: 403 BANNED (the invitation stays, for declining).
     */
    async acceptInvitation (userId: string, conversationId: string) {
      const result = await inConversationTransaction(repos, conversationId, async (tx): Promise<{ events: ChatEvent[], recipients: string[] } | null> => {
        // The joiner's row before the conversation's (live-accounts.ts): a deleted account does not join.
        await lockLive(tx, userId)
        // No invitation, no lock of the group (an indexed read first, as lockAsMember does): else anyone
        // could loop this on any group and hold up its posts.
        const cutoff = invitationCutoff(deps)
        if (!(await tx.invites.invitations.has(conversationId, userId, cutoff))) throw notFound('Invitation')
        const conversation = await tx.conversations.lock(conversationId)
        if (conversation === null) throw notFound('Invitation')
        const members = await tx.conversations.members(conversationId)
        const invitedBy = await tx.invites.invitations.take(conversationId, userId, cutoff)
        // An invitation stands only while its sender may add members: not while they are suspended
        // (rolled back, so it is there again once the suspension is lifted).
        if (invitedBy === null || await suspended(tx, invitedBy)) throw notFound('Invitation')
        return addOneMember(tx, conversationId, members, userId, invitedBy, deps)
      })
      if (result !== null) deps.publisher.publishEvents(result.events, result.recipients)
      return reader.get(userId, conversationId)
    },

    /** Declines (removes) an invitation; 404 when none is pending. */
    async declineInvitation (userId: string, conversationId: string): Promise<void> {
      if ((await repos.invites.invitations.take(conversationId, userId, invitationCutoff(deps))) === null) throw notFound('Invitation')
    },

    /**
     * Up to `limit` pending invitations of a group, newest first (then the
     * invitee's id), after `cursor` (owner and admins, read without locking
     * the group, as its bans and invites are); 400 VALIDATION_FAILED for a
     * cursor this API did not write.
     */
    async groupInvitations (userId: string, conversationId: string, opts: { limit: number, cursor?: string | undefined }) {
      const after = opts.cursor === undefined ? undefined : decodeTimeIdCursor(opts.cursor)
      await assertManager(repos, conversationId, userId, INVITATION_MANAGERS)
      const rows = await repos.invites.invitations.groupPage(conversationId, invitationCutoff(deps), after, opts.limit + 1)
      const page = rows.slice(0, opts.limit)
      const last = page[page.length - 1]
      return {
        invitations: page.map((r) => ({
          user: { id: r.user.id, username: r.user.username, displayName: r.user.displayName, createdAt: r.user.createdAt.toISOString(), avatarUrl: mediaUrl(r.user.avatarUploadId) },
          invitedBy: r.invitedBy,
          createdAt: r.createdAt.toISOString(),
          expiresAt: invitationExpiry(deps, r.createdAt)
        })),
        nextCursor: rows.length > opts.limit && last !== undefined ? encodeTimeIdCursor({ at: last.createdAt, id: last.user.id }) : null
      }
    },

    /**
     * Withdraws a pending invitation (owner or admins), under the group's
     * lock: its place is free, accepting it answers 404, and the invitee's
     * sockets get invitation.withdrawn after the commit. None pending:
     * nothing happens (204, as unbanning one not banned).
     */
    async withdrawInvitation (userId: string, conversationId: string, inviteeId: string): Promise<void> {
      const withdrawn = await inConversationTransaction(repos, conversationId, async (tx) => {
        await asManager(tx, conversationId, userId, INVITATION_MANAGERS)
        return tx.invites.invitations.withdraw(conversationId, inviteeId, invitationCutoff(deps))
      })
      if (withdrawn) deps.announceInvitationWithdrawn?.([inviteeId], conversationId)
    },

    /** A new invite; its code is in this answer only. */
    async create (userId: string, conversationId: string, input: { expiresInSeconds?: number | undefined, maxUses?: number | undefined }): Promise<InviteView & { code: string }> {
      const code = randomBytes(24).toString('base64url')
      const row = await inConversationTransaction(repos, conversationId, async (tx) => {
        await asManager(tx, conversationId, userId)
        const now = new Date()
        if ((await tx.invites.countActive(conversationId, now)) >= MAX_ACTIVE_INVITES) {
          throw new AppError(409, 'CONFLICT', `A group has at most ${MAX_ACTIVE_INVITES} active invites; revoke one first`)
        }
        return tx.invites.create({
          id: newId(),
          conversationId,
          codeHash: sha256(code),
          createdBy: userId,
          expiresAt: input.expiresInSeconds === undefined ? null : new Date(now.getTime() + input.expiresInSeconds * 1000),
          maxUses: input.maxUses ?? null
        })
      })
      return { ...toInvite(row), code }
    },

    /** The invites not revoked, expired or used up, newest first (without their codes, which are not stored); a suspended maker's are `paused`. */
    async list (userId: string, conversationId: string): Promise<{ invites: InviteView[] }> {
      await assertManager(repos, conversationId, userId, MANAGER_REFUSALS)
      const rows = await repos.invites.active(conversationId, new Date(), MAX_ACTIVE_INVITES)
      return { invites: rows.map(toInvite) }
    },

    /** Revokes an invite named by its code or its id; 404 when the group has no such usable invite. */
    async revoke (userId: string, conversationId: string, codeOrId: string): Promise<void> {
      await inConversationTransaction(repos, conversationId, async (tx) => {
        await asManager(tx, conversationId, userId)
        const match = isUuid(codeOrId) ? { id: codeOrId } : { codeHash: sha256(codeOrId) }
        if (!(await tx.invites.revoke(conversationId, match, new Date()))) throw notFound('Invite')
      })
    },

    /**
     * Joins the invite's group: member.added with by = the joiner, one use
     * counted. A member already: answered again, no use counted. Banned:
     * 403 BANNED. The joiner's row is locked first (live-accounts.ts), then the
     * conversation's, then the invite's (as revoking does), so none of them
     * wait on each other in a cycle.
     */
    async accept (userId: string, code: string) {
      const codeHash = sha256(code)
      const found = await repos.invites.lockByHash(codeHash)
      if (found === null) throw invalidInvite()
      const conversationId = found.conversationId
      const result = await inConversationTransaction(repos, conversationId, async (tx): Promise<{ events: ChatEvent[], recipients: string[] } | null> => {
        await lockLive(tx, userId)
        const conversation = await tx.conversations.lock(conversationId)
        const invite = await tx.invites.lockByHash(codeHash)
        if (conversation === null || invite === null || !usable(invite, new Date()) || await suspended(tx, invite.createdBy)) throw invalidInvite()
        const added = await addOneMember(tx, conversationId, await tx.conversations.members(conversationId), userId, userId, deps)
        if (added !== null) await tx.invites.countUse(invite.id)
        return added
      })
      if (result !== null) deps.publisher.publishEvents(result.events, result.recipients)
      return reader.get(userId, conversationId)
    }
  }
}

export type InviteService = ReturnType<typeof createInviteService>
