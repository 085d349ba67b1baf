// The SDK's types, derived from the server's own TypeBox schemas (type-only
// imports: nothing of the server is loaded at run time).
import type { Static, TSchema } from 'typebox'
import type { AuthResult as AuthResultSchema, LoginBody as LoginBodySchema, RegisterBody as RegisterBodySchema } from '../schemas/auth.js'
import type { ErrorBody as ErrorBodySchema } from '../schemas/common.js'
import type {
  ChangePasswordBody as ChangePasswordBodySchema, ResetConfirmBody as ResetConfirmBodySchema, ResetRequestBody as ResetRequestBodySchema,
  SessionInfo as SessionInfoSchema, SessionList as SessionListSchema
} from '../schemas/me.js'
import type {
  Conversation as ConversationSchema, ConversationListQuery as ConversationListQuerySchema,
  ConversationPage as ConversationPageSchema, Member as MemberSchema, MemberListQuery as MemberListQuerySchema,
  MemberPage as MemberPageSchema, conversationBodies, ConversationNotifications as ConversationNotificationsSchema,
  NotificationLevel as NotificationLevelSchema, ConversationNotificationLevel as ConversationNotificationLevelSchema,
  SetConversationNotificationsBody as SetConversationNotificationsBodySchema, UserNotifications as UserNotificationsSchema,
  UnreadTotals as UnreadTotalsSchema, UnreadQuery as UnreadQuerySchema
} from '../schemas/conversations.js'
import type {
  Event as EventSchema, EventPage as EventPageSchema, EventsQuery as EventsQuerySchema, HistoryQuery as HistoryQuerySchema,
  Message as MessageSchema, MessagePage as MessagePageSchema, messageBodies,
  FollowedThreadPage as FollowedThreadPageSchema, FollowedThreadQuery as FollowedThreadQuerySchema,
  Reaction as ReactionSchema, ReactionResult as ReactionResultSchema, Pin as PinSchema, PinList as PinListSchema
} from '../schemas/messages.js'
import type {
  ConversationInfo as ConversationInfoSchema, ErrorFrame as ErrorFrameSchema, MemberEventData as MemberEventDataSchema, MembersAddedData as MembersAddedDataSchema,
  MemberUpdatedData as MemberUpdatedDataSchema, ModerationData as ModerationDataSchema, ReactionEventData as ReactionEventDataSchema, PinEventData as PinEventDataSchema, SlowModeData as SlowModeDataSchema, PresenceFrame as PresenceFrameSchema, ReadFrame as ReadFrameSchema, DeliveredFrame as DeliveredFrameSchema,
  ReadyFrame as ReadyFrameSchema, ThreadReadFrame as ThreadReadFrameSchema, TypingServerFrame as TypingFrameSchema, UserUpdatedFrame as UserUpdatedFrameSchema,
  InvitationFrame as InvitationFrameSchema, InvitationWithdrawnFrame as InvitationWithdrawnFrameSchema
} from '../schemas/realtime.js'
import type {
  AdminUserPage as AdminUserPageSchema, AuditPage as AuditPageSchema, BanList as BanListSchema, BanListQuery as BanListQuerySchema,
  BlockList as BlockListSchema, BlockListQuery as BlockListQuerySchema, CreateReportBody as CreateReportBodySchema, Report as ReportSchema, ReportCreated as ReportCreatedSchema, ReportPage as ReportPageSchema
} from '../schemas/safety.js'
import type {
  Delivery as DeliverySchema, DeliveryList as DeliveryListSchema, Device as DeviceSchema, DeviceList as DeviceListSchema,
  PushConfigInfo as PushConfigInfoSchema, PutDeviceBody as PutDeviceBodySchema, TestPushResult as TestPushResultSchema
} from '../schemas/devices.js'
import type {
  PresenceList as PresenceListSchema, PublicUser as PublicUserSchema, User as UserSchema, UserList as UserListSchema, UserSearchQuery as UserSearchQuerySchema
} from '../schemas/users.js'
import type {
  AttachmentUrls as AttachmentUrlsSchema, CreatedUpload as CreatedUploadSchema, CreateUploadBody as CreateUploadBodySchema, Upload as UploadSchema
} from '../schemas/uploads.js'
import type { Attachment as AttachmentSchema, ThreadSummary as ThreadSummarySchema } from '../schemas/messages.js'
import type {
  SearchHit as SearchHitSchema, SearchMessagesQuery as SearchMessagesQuerySchema, SearchPage as SearchPageSchema, Snippet as SnippetSchema
} from '../schemas/search.js'
import type {
  CreatedInvite as CreatedInviteSchema, CreateInviteBody as CreateInviteBodySchema, Invite as InviteSchema, InviteList as InviteListSchema,
  Invitation as InvitationSchema, InvitationList as InvitationListSchema,
  GroupInvitationList as GroupInvitationListSchema, GroupInvitationListQuery as GroupInvitationListQuerySchema
} from '../schemas/invites.js'
import type { Channel as ChannelSchema, ChannelListQuery as ChannelListQuerySchema, ChannelPage as ChannelPageSchema } from '../schemas/channels.js'
import type { SyncChange as SyncChangeSchema, SyncPage as SyncPageSchema, SyncQuery as SyncQuerySchema } from '../schemas/sync.js'

/** The schemas that others reference by $id, so Static can resolve Type.Ref. */
type Refs = {
  User: typeof UserSchema
  PublicUser: typeof PublicUserSchema
  Message: typeof MessageSchema
  Member: typeof MemberSchema
  Conversation: typeof ConversationSchema
  Event: typeof EventSchema
  SessionInfo: typeof SessionInfoSchema
  Report: typeof ReportSchema
  Device: typeof DeviceSchema
  Delivery: typeof DeliverySchema
  Attachment: typeof AttachmentSchema
  ThreadSummary: typeof ThreadSummarySchema
  Reaction: typeof ReactionSchema
  Pin: typeof PinSchema
  Upload: typeof UploadSchema
  SearchSnippet: typeof SnippetSchema
  SearchHit: typeof SearchHitSchema
  Channel: typeof ChannelSchema
  Invite: typeof InviteSchema
  Invitation: typeof InvitationSchema
}
type S<T extends TSchema> = Static<T, Refs>

export type User = S<typeof UserSchema>
export type PublicUser = S<typeof PublicUserSchema>
/** App-defined data of a message (README "Threads and custom message data"): a JSON object of at most 4 KiB. */
export type MessageMetadata = Record<string, unknown>
export type Message = Omit<S<typeof MessageSchema>, 'metadata'> & { metadata: MessageMetadata | null }
export type Attachment = S<typeof AttachmentSchema>
export type ThreadSummary = S<typeof ThreadSummarySchema>
/** One emoji on a message: how many reacted so, and whether you did. */
export type Reaction = S<typeof ReactionSchema>
/** The answer to react / unreact: the message's reactions after the change. */
export type ReactionResult = S<typeof ReactionResultSchema>
/** A pinned message, who pinned it and when. */
export type Pin = S<typeof PinSchema>
export type PinList = S<typeof PinListSchema>
export type Upload = S<typeof UploadSchema>
export type CreatedUpload = S<typeof CreatedUploadSchema>
export type CreateUploadBody = S<typeof CreateUploadBodySchema>
export type AttachmentUrls = S<typeof AttachmentUrlsSchema>
export type Member = S<typeof MemberSchema>
export type Conversation = S<typeof ConversationSchema>
export type ConversationPage = S<typeof ConversationPageSchema>
/** all | mentions | none */
export type NotificationLevel = S<typeof NotificationLevelSchema>
/** A conversation's level: as NotificationLevel, or default (the user's). */
export type ConversationNotificationLevel = S<typeof ConversationNotificationLevelSchema>
export type ConversationNotifications = S<typeof ConversationNotificationsSchema>
export type UserNotifications = S<typeof UserNotificationsSchema>
/**
 * GET /v1/me/unread: the badge total, unread mentions and thread replies (of every conversation), and a page of
 * the conversations with something unread (by id; nextCursor null on the last page).
 */
export type UnreadTotals = S<typeof UnreadTotalsSchema>
/** GET /v1/me/unread's page of conversations: limit 1-100 (default 50), cursor = the previous page's nextCursor. */
export type UnreadQuery = S<typeof UnreadQuerySchema>
export type SetConversationNotificationsBody = S<typeof SetConversationNotificationsBodySchema>
export type ConversationListQuery = S<typeof ConversationListQuerySchema>
export type MemberPage = S<typeof MemberPageSchema>
export type MemberListQuery = S<typeof MemberListQuerySchema>
export type MessagePage = S<typeof MessagePageSchema>
/** GET /v1/me/threads: the threads you follow, newest activity first. */
export type FollowedThreadPage = Omit<S<typeof FollowedThreadPageSchema>, 'threads'> & {
  threads: Array<Omit<S<typeof FollowedThreadPageSchema>['threads'][number], 'root'> & { root: Message }>
}
export type FollowedThreadQuery = S<typeof FollowedThreadQuerySchema>
/** Message search (README "Search, channels and invitations"). */
export type SearchMessagesQuery = S<typeof SearchMessagesQuerySchema>
export type SearchPage = S<typeof SearchPageSchema>
export type SearchHit = S<typeof SearchHitSchema>
/** Plain text (not HTML): show it as text; highlights are UTF-16 offsets into it. */
export type SearchSnippet = S<typeof SnippetSchema>
/** Public channels (README "Search, channels and invitations"). */
export type Channel = S<typeof ChannelSchema>
export type ChannelListQuery = S<typeof ChannelListQuerySchema>
export type ChannelPage = S<typeof ChannelPageSchema>
/** Invite links (README "Search, channels and invitations"). */
export type Invite = S<typeof InviteSchema>
export type CreatedInvite = S<typeof CreatedInviteSchema>
export type CreateInviteBody = S<typeof CreateInviteBodySchema>
export type InviteList = S<typeof InviteListSchema>
/** Pending invitations (GROUP_ADDS=invite). */
export type Invitation = S<typeof InvitationSchema>
export type InvitationList = S<typeof InvitationListSchema>
/** A page of a group's pending invitations (its owner and admins), newest first. */
export type GroupInvitationList = S<typeof GroupInvitationListSchema>
export type GroupInvitationListQuery = S<typeof GroupInvitationListQuerySchema>
export type HistoryQuery = S<typeof HistoryQuerySchema>
export type EventsQuery = S<typeof EventsQuerySchema>
export type EventPage = S<typeof EventPageSchema>
export type UserList = S<typeof UserListSchema>
export type PresenceList = S<typeof PresenceListSchema>
export type UserSearchQuery = S<typeof UserSearchQuerySchema>
export type AuthResult = S<typeof AuthResultSchema>
export type RegisterBody = S<typeof RegisterBodySchema>
export type LoginBody = S<typeof LoginBodySchema>
export type ErrorBody = S<typeof ErrorBodySchema>
export type SessionInfo = S<typeof SessionInfoSchema>
export type SessionList = S<typeof SessionListSchema>
export type ChangePasswordBody = S<typeof ChangePasswordBodySchema>
export type PasswordResetRequest = S<typeof ResetRequestBodySchema>
export type PasswordResetConfirm = S<typeof ResetConfirmBodySchema>
/** GET /v1/me/export: everything stored about the caller. */
export interface AccountExport {
  exportedAt: string
  profile: User & { lastSeenAt: string | null, email: string | null, emailVerifiedAt: string | null, pendingEmail: string | null, appRoles: string[], notificationLevel: NotificationLevel }
  sessions: Array<{ id: string, userAgent: string | null, createdAt: string, revokedAt: string | null }>
  memberships: Array<{
    conversationId: string, type: 'direct' | 'group', title: string | null, role: string, joinedAt: string, leftAt: string | null, lastReadSeq: number,
    /** As stored: a mute whose time has passed is still shown. */
    notifications: { level: ConversationNotificationLevel, muteUntil: string | null }
  }>
  /** Everyone the caller has blocked. */
  blocks: Array<{ userId: string, blockedAt: string }>
  /** The reports the caller made (without the message body a report kept). */
  reports: Array<{ id: string, userId: string, messageId: string | null, conversationId: string | null, reason: string, note: string | null, status: 'open' | 'resolved', createdAt: string }>
  reactions: Array<{ messageId: string, conversationId: string, emoji: string, createdAt: string }>
  /** Devices registered for push, without their push tokens and keys. */
  devices: Array<{ deviceId: string, platform: string, appId: string | null, locale: string | null, createdAt: string, updatedAt: string }>
  /** The files the caller uploaded that are still stored. */
  uploads: Array<{
    id: string, kind: string, filename: string, contentType: string, size: number, width: number | null, height: number | null, state: string,
    conversationId: string | null, messageId: string | null, createdAt: string, completedAt: string | null
  }>
  threads: Array<{ rootId: string, conversationId: string, following: boolean, lastReadSeq: number }>
  /** Pending group invitations, received (userId is the caller) and sent (invitedBy is the caller). */
  invitations: Array<{ conversationId: string, userId: string, invitedBy: string, createdAt: string }>
  /** Invite links the caller made, without their codes. */
  inviteLinks: Array<{ id: string, conversationId: string, createdAt: string, expiresAt: string | null, maxUses: number | null, uses: number, revokedAt: string | null }>
  messages: Array<Omit<Message, 'senderId'>>
}
type MessageBodies = ReturnType<typeof messageBodies>
export type PostMessageBody = Omit<S<MessageBodies['PostMessageBody']>, 'metadata'> & { metadata?: MessageMetadata | null }
export type EditMessageBody = Omit<S<MessageBodies['EditMessageBody']>, 'metadata'> & { metadata?: MessageMetadata | null }
type ConversationBodies = ReturnType<typeof conversationBodies>
export type CreateConversationBody = S<ConversationBodies['CreateConversationBody']>
export type AddMembersBody = S<ConversationBodies['AddMembersBody']>

export type MemberEventData = S<typeof MemberEventDataSchema>
export type MembersAddedData = S<typeof MembersAddedDataSchema>
export type MemberUpdatedData = S<typeof MemberUpdatedDataSchema>
export type ConversationInfo = S<typeof ConversationInfoSchema>
export type ModerationData = S<typeof ModerationDataSchema>
export type SlowModeData = S<typeof SlowModeDataSchema>
export type ReactionEventData = S<typeof ReactionEventDataSchema>
export type PinEventData = S<typeof PinEventDataSchema>
/** GET /v1/me/blocks: a page, most recent first; pass nextCursor as cursor. */
export type BlockList = S<typeof BlockListSchema>
export type BlockListQuery = S<typeof BlockListQuerySchema>
export type CreateReportBody = S<typeof CreateReportBodySchema>
export type ReportCreated = S<typeof ReportCreatedSchema>
export type Report = S<typeof ReportSchema>
export type ReportPage = S<typeof ReportPageSchema>
/** GET /v1/conversations/:id/bans: a page, newest first; pass nextCursor as cursor. */
export type BanList = S<typeof BanListSchema>
export type BanListQuery = S<typeof BanListQuerySchema>
export type AdminUserPage = S<typeof AdminUserPageSchema>
export type AuditPage = S<typeof AuditPageSchema>
export type Device = S<typeof DeviceSchema>
export type DeviceList = S<typeof DeviceListSchema>
export type Delivery = S<typeof DeliverySchema>
export type DeliveryList = S<typeof DeliveryListSchema>
export type PutDeviceBody = S<typeof PutDeviceBodySchema>
export type PushConfigInfo = S<typeof PushConfigInfoSchema>
export type TestPushResult = S<typeof TestPushResultSchema>
export type ReadyFrame = S<typeof ReadyFrameSchema>
export type PresenceFrame = S<typeof PresenceFrameSchema>
export type TypingFrame = S<typeof TypingFrameSchema>
export type ReadFrame = S<typeof ReadFrameSchema>
export type ThreadReadFrame = S<typeof ThreadReadFrameSchema>
/** Another member's devices received the conversation up to data.seq. */
export type DeliveredFrame = S<typeof DeliveredFrameSchema>
export type ErrorFrame = S<typeof ErrorFrameSchema>
export type UserUpdatedFrame = S<typeof UserUpdatedFrameSchema>
/** You were invited to a group (GROUP_ADDS=invite): accept or decline with client.invitations. */
export type InvitationFrame = S<typeof InvitationFrameSchema>
/** Your pending invitation to a group was withdrawn (by its owner or an admin, or as its inviter left, was removed, banned, demoted or deleted): drop it from your list. */
export type InvitationWithdrawnFrame = S<typeof InvitationWithdrawnFrameSchema>

/** The Event object with its data typed by event type. */
type EventBase = Omit<S<typeof EventSchema>, 'type' | 'data'>
interface EventData {
  'message.created': Message
  'message.updated': Message
  'message.deleted': Message
  'member.added': MemberEventData
  'members.added': MembersAddedData
  'member.removed': MemberEventData
  'member.updated': MemberUpdatedData
  'conversation.updated': ConversationInfo
  'member.banned': MemberEventData
  'member.unbanned': MemberEventData
  'member.muted': MemberEventData
  'member.unmuted': MemberEventData
  'conversation.frozen': ModerationData
  'conversation.unfrozen': ModerationData
  'conversation.slow_mode': SlowModeData
  'reaction.added': ReactionEventData
  'reaction.removed': ReactionEventData
  'message.pinned': PinEventData
  'message.unpinned': PinEventData
}
export type ChatEventType = S<typeof EventSchema>['type']
export type ChatEvent = { [K in ChatEventType]: EventBase & { type: K, data: K extends keyof EventData ? EventData[K] : unknown } }[ChatEventType]

/** GET /v1/sync (README "Client SDK"): every parameter may be left out (limit 200, mode events; no since: only a cursor that starts now). */
export type SyncQuery = Partial<S<typeof SyncQuerySchema>>
/** One conversation that changed for the caller since the cursor: joined, left, new events, or its read position moved elsewhere. */
export type SyncChange = Omit<S<typeof SyncChangeSchema>, 'events'> & { events?: ChatEvent[] }
/** A page of GET /v1/sync: follow `cursor` while `hasMore`, then keep the last `cursor` for the next sync. */
export type SyncPage = Omit<S<typeof SyncPageSchema>, 'changes'> & { changes: SyncChange[] }
