// Blocks, reports, conversation moderation and the admin API (README
// "Accounts and safety").
import { Type, type Static } from 'typebox'
import { PageLimit, Timestamp, Uuid } from './common.js'

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

export const UserIdParams = Type.Object({ userId: Uuid })
export const ConversationUserParams = Type.Object({ id: Uuid, userId: Uuid })
export const MessageIdParams = Type.Object({ messageId: Uuid })

// The cursor of the blocks and bans pages (src/domain/cursors.ts): base64url of a time and an id, 82 characters.
const PageCursor = Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'nextCursor of the previous page' }))
const NextCursor = Nullable(Type.String({ description: 'Pass as cursor for the next page; null on the last page' }))

export const BlockListQuery = Type.Object({ limit: Type.Optional(PageLimit), cursor: PageCursor })
export type BlockListQuery = Static<typeof BlockListQuery>

export const BlockList = Type.Object({
  blocks: Type.Array(Type.Object({ userId: Uuid, username: Type.String(), displayName: Type.String(), blockedAt: Timestamp }),
    { description: 'Most recent first (then user id, descending)' }),
  nextCursor: NextCursor
}, { description: 'A page of the users the caller has blocked, most recent first' })

export const REPORT_REASONS = ['spam', 'harassment', 'hate', 'sexual', 'violence', 'self_harm', 'impersonation', 'other'] as const
export const ReportReason = Type.Union([
  Type.Literal('spam'), Type.Literal('harassment'), Type.Literal('hate'), Type.Literal('sexual'), Type.Literal('violence'),
  Type.Literal('self_harm'), Type.Literal('impersonation'), Type.Literal('other')
])

export const CreateReportBody = Type.Object({
  messageId: Type.Optional(Uuid),
  userId: Type.Optional(Uuid),
  reason: ReportReason,
  note: Type.Optional(Type.String({ maxLength: 1000 }))
}, { additionalProperties: false, description: 'Exactly one of messageId and userId' })
export type CreateReportBody = Static<typeof CreateReportBody>

export const ReportCreated = Type.Object({ id: Uuid, status: Type.Literal('open'), createdAt: Timestamp })

export const Report = Type.Object({
  id: Uuid,
  reporterId: Uuid,
  userId: Type.String({ format: 'uuid', description: 'The reported user (the sender, for a message)' }),
  messageId: Nullable(Uuid),
  conversationId: Nullable(Uuid),
  reason: Type.String(),
  note: Nullable(Type.String()),
  messageBody: Nullable(Type.String({ description: 'The message body when it was reported' })),
  status: Type.Union([Type.Literal('open'), Type.Literal('resolved')]),
  resolution: Nullable(Type.String()),
  resolvedBy: Nullable(Uuid),
  resolvedAt: Nullable(Timestamp),
  createdAt: Timestamp
}, { $id: 'Report' })

// Report and audit pages resume after an id; the users page after a username.
const Cursor = Type.Optional(Type.String({ format: 'uuid', description: 'nextCursor of the previous page' }))
// (A deleted account's username is `~` and hex, repositories/accounts.ts: a page may end on one.)
const UsernameCursor = Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^~?[A-Za-z0-9_.]+$', description: 'nextCursor of the previous page' }))

export const ReportListQuery = Type.Object({
  status: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('resolved')], { default: 'open' })),
  limit: Type.Optional(PageLimit),
  cursor: Cursor
})
export const ReportPage = Type.Object({ reports: Type.Array(Type.Ref('Report')), nextCursor: Nullable(Type.String()) })

export const ResolveReportBody = Type.Object({
  resolution: Type.String({ minLength: 1, maxLength: 1000, pattern: '\\S', description: 'What was done, for example dismissed or user suspended' })
}, { additionalProperties: false })

export const SuspendBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false })

export const AdminUserQuery = Type.Object({
  query: Type.Optional(Type.String({ minLength: 1, maxLength: 32, pattern: '^[A-Za-z0-9_.]+$', description: 'Username prefix' })),
  limit: Type.Optional(PageLimit),
  cursor: UsernameCursor
})
export const AdminUserPage = Type.Object({
  users: Type.Array(Type.Object({
    id: Uuid, username: Type.String(), displayName: Type.String(), createdAt: Timestamp,
    appRoles: Type.Array(Type.String()), suspendedAt: Nullable(Timestamp)
  })),
  nextCursor: Nullable(Type.String())
})

export const AuditQuery = Type.Object({ limit: Type.Optional(PageLimit), cursor: Cursor })
export const AuditPage = Type.Object({
  entries: Type.Array(Type.Object({
    id: Uuid, actorId: Uuid, action: Type.String(), targetType: Type.String(), targetId: Uuid, data: Type.Unknown(), createdAt: Timestamp
  })),
  nextCursor: Nullable(Type.String())
})

export const BanListQuery = Type.Object({ limit: Type.Optional(PageLimit), cursor: PageCursor })
export type BanListQuery = Static<typeof BanListQuery>

export const BanList = Type.Object({
  bans: Type.Array(Type.Object({ userId: Uuid, by: Uuid, createdAt: Timestamp }), { description: 'Newest first (then user id, descending)' }),
  nextCursor: NextCursor
}, { description: 'A page of the users banned from a group, newest first' })

export const SlowModeBody = Type.Object({
  seconds: Type.Integer({ minimum: 0, maximum: 86_400, description: 'One post per this many seconds per plain member; 0 turns slow mode off' })
}, { additionalProperties: false })
