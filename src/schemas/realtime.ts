// The WebSocket protocol as TypeBox schemas, its one definition: the AsyncAPI
// document, the client SDK's types, and the server's frame types, client frame
// parser and close codes (src/realtime/protocol.ts) all come from these.
import { Type } from 'typebox'
import { Timestamp, Uuid } from './common.js'
import { EventType } from './messages.js'

const Role = Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('member')])

/** data of member.added / member.removed. */
export const MemberEventData = Type.Object({ userId: Uuid, by: Uuid }, { $id: 'MemberEventData' })
/** data of members.added: several users added by one request (group creation, adding many), one event for all. */
export const MembersAddedData = Type.Object({ userIds: Type.Array(Uuid, { minItems: 2 }), by: Uuid }, { $id: 'MembersAddedData' })
/** data of member.updated (a role change). */
export const MemberUpdatedData = Type.Object({ userId: Uuid, role: Role, by: Uuid }, { $id: 'MemberUpdatedData' })
/** data of conversation.frozen / conversation.unfrozen: who did it. */
export const ModerationData = Type.Object({ by: Uuid }, { $id: 'ModerationData' })
/** data of conversation.slow_mode: one post per `seconds` per plain member (0: off). */
export const SlowModeData = Type.Object({ seconds: Type.Integer({ minimum: 0 }), by: Uuid }, { $id: 'SlowModeData' })
/** data of reaction.added / reaction.removed: who put (or took back) which emoji on which message. */
export const ReactionEventData = Type.Object({
  messageId: Uuid,
  messageSeq: Type.Integer({ description: 'The seq of the message: members whose window starts after it do not get the event' }),
  userId: Uuid,
  emoji: Type.String()
}, { $id: 'ReactionEventData' })
/** data of message.pinned / message.unpinned: which message, and who pinned or unpinned it (or deleted it: unpinned). */
export const PinEventData = Type.Object({
  messageId: Uuid,
  messageSeq: Type.Integer({ description: 'The seq of the message: members whose window starts after it do not get the event' }),
  by: Uuid
}, { $id: 'PinEventData' })
/** data of conversation.updated: the Conversation without members and per-member fields. */
export const ConversationInfo = Type.Object({
  id: Uuid,
  type: Type.Union([Type.Literal('direct'), Type.Literal('group')]),
  title: Type.Union([Type.String(), Type.Null()]),
  createdAt: Timestamp,
  lastSeq: Type.Integer(),
  pictureUrl: Type.Union([Type.String(), Type.Null()], { description: 'The group picture (GET it: 302 to the image), or null' }),
  public: Type.Boolean({ description: 'A public group (channel): listed by GET /v1/channels and joinable (README "Search, channels and invitations")' })
}, { $id: 'ConversationInfo' })

export const ReadyFrame = Type.Object({
  type: Type.Literal('ready'),
  userId: Uuid,
  connectionId: Type.String(),
  heartbeatMs: Type.Integer(),
  cursor: Type.Union([Type.String(), Type.Null()], {
    description: 'A sync cursor taken after this connection joined the push: every change after it is pushed here, every change before it ' +
      'is returned by a sync up to it (GET /v1/sync?since=<kept>&until=<this>; some by both, with the same seq). null when the server could not ' +
      'read the database'
  })
}, { $id: 'ReadyFrame', description: 'The first frame on every connection' })

export const EventFrame = Type.Object({
  type: EventType,
  conversationId: Uuid,
  seq: Type.Integer({ description: 'Per-conversation sequence number: 1, 2, 3... no gaps' }),
  createdAt: Timestamp,
  data: Type.Unknown({ description: 'As the data of the Event object of GET /v1/conversations/:id/events' })
}, { $id: 'EventFrame', description: 'One event of a conversation, exactly as replayed over REST, with type on the top level' })

export const PresenceFrame = Type.Object({
  type: Type.Literal('presence'),
  data: Type.Object({ userId: Uuid, online: Type.Boolean(), lastSeenAt: Type.Union([Timestamp, Type.Null()]) })
}, { $id: 'PresenceFrame' })

export const TypingServerFrame = Type.Object({
  type: Type.Literal('typing'),
  conversationId: Uuid,
  data: Type.Object({ userId: Uuid })
}, { $id: 'TypingServerFrame' })

export const ReadFrame = Type.Object({
  type: Type.Literal('read'),
  conversationId: Uuid,
  data: Type.Object({ userId: Uuid, seq: Type.Integer() })
}, { $id: 'ReadFrame' })

export const ThreadReadFrame = Type.Object({
  type: Type.Literal('thread.read'),
  conversationId: Uuid,
  data: Type.Object({
    rootId: Uuid,
    seq: Type.Integer({ description: 'The reader\'s new read position in the thread' }),
    unreadCount: Type.Integer({ minimum: 0, description: 'The reader\'s unread replies left in this thread' }),
    threadUnreadCount: Type.Integer({ minimum: 0, description: 'The reader\'s threadUnreadCount of the conversation after the read' })
  })
}, { $id: 'ThreadReadFrame', description: 'The receiver read a thread (POST .../thread/read) on one of their devices: sent to all their connections only' })

export const DeliveredFrame = Type.Object({
  type: Type.Literal('delivered'),
  conversationId: Uuid,
  data: Type.Object({ userId: Uuid, seq: Type.Integer({ description: 'The member\'s lastDeliveredSeq: their devices received everything up to it' }) })
}, { $id: 'DeliveredFrame', description: 'Another member\'s devices received the conversation up to seq (README "Reactions, pins and receipts")' })

export const UserUpdatedFrame = Type.Object({
  type: Type.Literal('user.updated'),
  data: Type.Object({ id: Uuid, username: Type.String(), displayName: Type.String(), createdAt: Timestamp, avatarUrl: Type.Union([Type.String(), Type.Null()]) })
}, { $id: 'UserUpdatedFrame', description: 'A user who shares a conversation with the receiver changed their profile (PATCH /v1/me)' })

export const InvitationFrame = Type.Object({
  type: Type.Literal('invitation'),
  data: Type.Object({
    conversationId: Uuid,
    title: Type.Union([Type.String(), Type.Null()]),
    invitedBy: Uuid,
    createdAt: Timestamp,
    expiresAt: Type.String({ format: 'date-time', description: 'ISO 8601, UTC: past it the invitation is gone (INVITATION_TTL_DAYS after createdAt)' })
  })
}, { $id: 'InvitationFrame', description: 'The receiver was invited to a group (GROUP_ADDS=invite): accept or decline at /v1/me/invitations' })

export const InvitationWithdrawnFrame = Type.Object({
  type: Type.Literal('invitation.withdrawn'),
  data: Type.Object({ conversationId: Uuid })
}, { $id: 'InvitationWithdrawnFrame', description: 'The receiver\'s pending invitation (GROUP_ADDS=invite) was withdrawn, by the group\'s owner or an admin or because its inviter left, was removed, banned, made a plain member or deleted their account; it is gone from /v1/me/invitations, accepting it answers 404' })

export const PongFrame = Type.Object({ type: Type.Literal('pong') }, { $id: 'PongFrame' })

export const ErrorFrame = Type.Object({
  type: Type.Literal('error'),
  code: Type.String({ description: 'MALFORMED_FRAME, UNKNOWN_FRAME, VALIDATION_FAILED, RATE_LIMITED, NOT_FOUND, UNAVAILABLE' }),
  message: Type.String()
}, { $id: 'ErrorFrame' })

export const TypingClientFrame = Type.Object({ type: Type.Literal('typing'), conversationId: Uuid }, { $id: 'TypingClientFrame' })
export const PingClientFrame = Type.Object({ type: Type.Literal('ping') }, { $id: 'PingClientFrame' })
export const DeliveredClientFrame = Type.Object({
  type: Type.Literal('delivered'),
  conversationId: Uuid,
  seq: Type.Integer({ minimum: 0, maximum: 2_147_483_647, description: 'The newest seq this device has received; clamped to lastSeq, never moves back' })
}, { $id: 'DeliveredClientFrame', description: 'Acknowledge receipt of a conversation up to seq (as POST /v1/conversations/:id/delivered)' })

export const ServerFrames = [ReadyFrame, EventFrame, PresenceFrame, TypingServerFrame, ReadFrame, ThreadReadFrame, DeliveredFrame, UserUpdatedFrame, InvitationFrame, InvitationWithdrawnFrame, PongFrame, ErrorFrame] as const
export const ClientFrames = [TypingClientFrame, PingClientFrame, DeliveredClientFrame] as const

/**
 * Close codes with what a client does about them (README "Close codes"). Those
 * the server sends have a `name` (CloseCode in realtime/protocol.ts); 1006 is
 * never sent, it is what a client sees when no close frame came.
 */
export const CLOSE_CODES = [
  { code: 1000, name: 'normal', meaning: 'normal closure', client: 'nothing' },
  { code: 1001, name: 'goingAway', meaning: 'the server is shutting down', client: 'reconnect with backoff and replay' },
  { code: 1006, meaning: 'no close frame: network loss, or a dead peer cut by the heartbeat', client: 'reconnect with backoff and replay' },
  { code: 1008, name: 'policyViolation', meaning: 'policy violation: too many refused frames (invalid, or over the frame budget)', client: 'fix the client' },
  { code: 1007, meaning: 'a text frame was not valid UTF-8', client: 'fix the client' },
  { code: 1009, name: 'tooBig', meaning: 'a frame was too big', client: 'fix the client' },
  { code: 1011, name: 'internalError', meaning: 'the server failed handling a frame of this socket (a defect; it is logged)', client: 'reconnect with backoff and replay' },
  { code: 4001, name: 'sessionEnded', meaning: 'the session was logged out or revoked', client: 'log in again' },
  { code: 4008, name: 'slowConsumer', meaning: 'slow consumer: too much unsent data', client: 'reconnect and replay' }
] as const
