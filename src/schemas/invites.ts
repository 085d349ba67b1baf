// Invite links (README "Search, channels and invitations").
import { Type } from 'typebox'
import { PageLimit, Timestamp, Uuid } from './common.js'

export const CreateInviteBody = Type.Object({
  expiresInSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 30 * 86400, description: 'The invite expires this long after creation (60 s to 30 days); omitted: never' })),
  maxUses: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, description: 'Joins it allows; omitted: no limit' }))
}, { additionalProperties: false })

const inviteFields = {
  id: Uuid,
  conversationId: Uuid,
  createdBy: Uuid,
  createdAt: Timestamp,
  expiresAt: Type.Union([Timestamp, Type.Null()], { description: 'null: never expires' }),
  maxUses: Type.Union([Type.Integer(), Type.Null()], { description: 'null: no limit' }),
  uses: Type.Integer({ description: 'Joins so far' }),
  paused: Type.Boolean({ description: 'true while its maker\'s account is suspended: it admits nobody (404 INVALID_INVITE) until the suspension is lifted, and still counts toward the 100; revoke it to free its place' })
}

export const Invite = Type.Object(inviteFields, { $id: 'Invite', description: 'An invite link of a group, without its code (stored hashed only)' })

export const CreatedInvite = Type.Object({
  ...inviteFields,
  code: Type.String({ description: 'The secret of the link, shown only in this answer: POST /v1/invites/{code}/accept joins' })
})

export const InviteList = Type.Object({
  invites: Type.Array(Type.Ref('Invite'), { description: 'Invites not revoked, expired or used up, newest first; those of a suspended maker are paused' })
})

export const InviteCodeParams = Type.Object({ code: Type.String({ minLength: 1, maxLength: 64 }) })
export const RevokeInviteParams = Type.Object({ id: Uuid, code: Type.String({ minLength: 1, maxLength: 64, description: 'The invite\'s code, or its id' }) })

const ExpiresAt = Type.String({ format: 'date-time', description: 'ISO 8601, UTC: past it the invitation is gone (INVITATION_TTL_DAYS after createdAt, 30 days by default)' })

export const Invitation = Type.Object({
  conversationId: Uuid,
  title: Type.Union([Type.String(), Type.Null()]),
  invitedBy: Uuid,
  createdAt: Timestamp,
  expiresAt: ExpiresAt,
  memberCount: Type.Integer({ description: 'Current members of the group' })
}, { $id: 'Invitation', description: 'A pending invitation to a group (GROUP_ADDS=invite)' })

export const InvitationList = Type.Object({
  invitations: Type.Array(Type.Ref('Invitation'), { description: 'Newest first: all of them (a user has at most INVITATIONS_MAX_PENDING pending, 100 by default)' })
})

// The group's side: its owner and admins page its pending invitations and withdraw them.
export const GroupInvitationListQuery = Type.Object({
  limit: Type.Optional(PageLimit),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'nextCursor of the previous page' }))
})

export const GroupInvitationList = Type.Object({
  invitations: Type.Array(Type.Object({
    user: Type.Ref('User', { description: 'The invitee' }),
    invitedBy: Uuid,
    createdAt: Timestamp,
    expiresAt: ExpiresAt
  }), { description: 'Pending (not expired) invitations, newest first (then the invitee\'s id, descending)' }),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as cursor for the next page; null on the last page' })
}, { description: 'A page of the pending invitations of a group' })

export const InvitationParams = Type.Object({ id: Uuid, userId: Uuid })
