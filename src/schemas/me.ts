// Schemas of the caller's own account (routes/me.ts, routes/password-reset.ts).
import { Type, type Static } from 'typebox'
import { Timestamp, Uuid } from './common.js'
import { CurrentPassword, DisplayName, Password } from './users.js'

export const ChangePasswordBody = Type.Object({ currentPassword: CurrentPassword, newPassword: Password }, { additionalProperties: false })
export type ChangePasswordBody = Static<typeof ChangePasswordBody>

export const UpdateMeBody = Type.Object({
  displayName: Type.Optional(DisplayName),
  avatarUploadId: Type.Optional(Type.Union([Uuid, Type.Null()], { description: 'A completed image upload of the caller (POST /v1/uploads without conversationId) becomes the avatar; null removes it' }))
}, { additionalProperties: false, minProperties: 1 })
export type UpdateMeBody = Static<typeof UpdateMeBody>

export const DeleteMeBody = Type.Object({ password: CurrentPassword }, { additionalProperties: false })
export type DeleteMeBody = Static<typeof DeleteMeBody>

export const SessionInfo = Type.Object({
  id: Uuid,
  userAgent: Type.Union([Type.String(), Type.Null()]),
  createdAt: Timestamp,
  lastUsedAt: Timestamp,
  current: Type.Boolean({ description: 'The session of the access token of this request' })
}, { $id: 'SessionInfo' })
export const SessionList = Type.Object({ sessions: Type.Array(Type.Ref('SessionInfo')) })

/**
 * The WHATWG HTML rule for a valid email address (what `<input type=email>`
 * accepts), with at least one dot in the domain. The looser `x@y.z` rule let
 * through `a@b.c:`, `a"b@c.d` or `victim@b.example>`, which the mailer reads as
 * no recipient (a 503) or as another address than the one stored (several
 * accounts verifying one mailbox under different spellings).
 */
const EMAIL_PATTERN = "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"

export const EmailBody = Type.Object({
  email: Type.String({ minLength: 3, maxLength: 254, pattern: EMAIL_PATTERN, description: 'An email address (the HTML form rule, with a dot in the domain; the local part a dot-atom: no leading, trailing or double dot)' }),
  password: { ...CurrentPassword, description: 'The current password: a stolen access token alone cannot move the account to another address' }
}, { additionalProperties: false })
export type EmailBody = Static<typeof EmailBody>
export const EmailCodeBody = Type.Object({ code: Type.String({ pattern: '^[0-9]{6}$', description: 'The 6 digits of the mail' }) }, { additionalProperties: false })
export type EmailCodeBody = Static<typeof EmailCodeBody>
export const EmailResult = Type.Object({ email: Type.String() })

export const ResetRequestBody = Type.Object({
  username: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  email: Type.Optional(Type.String({ minLength: 3, maxLength: 254 }))
}, { additionalProperties: false, minProperties: 1, maxProperties: 1, description: 'username or email, one of them' })
export type ResetRequestBody = Static<typeof ResetRequestBody>

export const ResetConfirmBody = Type.Object({ token: Type.String({ minLength: 1, maxLength: 256 }), newPassword: Password }, { additionalProperties: false })
export type ResetConfirmBody = Static<typeof ResetConfirmBody>

export const Accepted = Type.Object({ accepted: Type.Literal(true) })
export const EndedCount = Type.Object({ ended: Type.Integer({ description: 'Sessions ended' }) })
