// Conversations, their members and pages. The member-count limit comes from
// configuration, so those schemas are built per app.
import { Type, type Static } from 'typebox'
import { PageLimit, Timestamp, Uuid } from './common.js'

export const Role = Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('member')])
export const Title = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S', description: '1-100 characters; stored trimmed' })

export const Member = Type.Object({
  user: Type.Ref('User'),
  role: Role,
  lastReadSeq: Type.Integer({ description: '0 when this member has blocked the caller' }),
  lastDeliveredSeq: Type.Integer({
    description: 'Their devices received everything up to this seq (at least lastReadSeq: reading implies delivery); 0 when this member has blocked the caller ' +
      '(an extension of API.md)'
  }),
  joinedAt: Timestamp
}, { $id: 'Member' })

export const NotificationLevel = Type.Union([Type.Literal('all'), Type.Literal('mentions'), Type.Literal('none')], {
  description: 'all: every message; mentions: messages that mention the user (by @username, or @all from a group owner or admin); none: nothing'
})
export const ConversationNotificationLevel = Type.Union([Type.Literal('all'), Type.Literal('mentions'), Type.Literal('none'), Type.Literal('default')], {
  description: 'As NotificationLevel; default: the user\'s level (GET /v1/me/notifications)'
})

/** The caller's notification settings in one conversation. */
export const ConversationNotifications = Type.Object({
  level: ConversationNotificationLevel,
  muteUntil: Type.Union([Timestamp, Type.Null()], { description: 'No notifications of this conversation before this time; null when not muted (a time that has passed shows as null)' })
})

export const UserNotifications = Type.Object({ level: NotificationLevel })

export const SetUserNotificationsBody = Type.Object({ level: NotificationLevel }, { additionalProperties: false })
export type SetUserNotificationsBody = Static<typeof SetUserNotificationsBody>

export const SetConversationNotificationsBody = Type.Object({
  level: ConversationNotificationLevel,
  muteUntil: Type.Optional(Type.Union([Timestamp, Type.Null()], { description: 'Mute until this time; null: unmute; omitted: left as it is' }))
}, { additionalProperties: false })
export type SetConversationNotificationsBody = Static<typeof SetConversationNotificationsBody>

export const Conversation = Type.Object({
  id: Uuid,
  type: Type.Union([Type.Literal('direct'), Type.Literal('group')]),
  title: Type.Union([Type.String(), Type.Null()], { description: 'null for direct conversations' }),
  createdAt: Timestamp,
  lastSeq: Type.Integer({ description: 'Seq of the newest event' }),
  pictureUrl: Type.Union([Type.String(), Type.Null()], { description: 'The group picture (GET it: 302 to the image; no token needed), or null (README "Attachments")' }),
  public: Type.Boolean({ description: 'A public group (channel): listed by GET /v1/channels, joinable with POST /v1/conversations/{id}/join; false for private groups and direct conversations (an extension of API.md)' }),
  lastMessage: Type.Union([Type.Ref('Message'), Type.Null()], { description: 'The newest message the caller can see (a tombstone if deleted)' }),
  unreadCount: Type.Integer({ description: "Others' non-deleted messages after the caller's lastReadSeq" }),
  memberCount: Type.Integer({ description: 'Number of current members (an extension of API.md)' }),
  frozen: Type.Boolean({ description: 'Frozen: read-only for all but the owner and admins (an extension of API.md)' }),
  slowModeSeconds: Type.Integer({ description: 'Slow mode: one post per this many seconds per plain member; 0 when off (an extension of API.md)' }),
  muted: Type.Boolean({ description: 'Whether the caller is muted here: their posts and edits answer 403 MUTED (an extension of API.md)' }),
  mentionCount: Type.Integer({
    description: 'Of the unread messages (those unreadCount counts), the ones that mention the caller by name or by @all, but for ' +
      'senders the caller has blocked; reset by reading (an extension of API.md)'
  }),
  threadUnreadCount: Type.Integer({
    description: 'Unread replies (by others, within the caller\'s window) in the threads the caller follows here; not part of unreadCount; ' +
      'lowered by POST .../messages/{messageId}/thread/read (README "Threads and custom message data")'
  }),
  notifications: { ...ConversationNotifications, description: 'The caller\'s notification settings here (an extension of API.md)' },
  lastDeliveredSeq: Type.Integer({ description: 'The caller\'s delivery position: at least lastReadSeq, never down (an extension of API.md)' }),
  members: Type.Array(Type.Ref('Member'), {
    description: 'Current members, in joining order (then user id). All of them, except in GET /v1/conversations: there only the first ' +
      'CONVERSATION_MEMBERS_PREVIEW (default 10; both members of a direct conversation, always). When it holds fewer than memberCount, ' +
      'GET /v1/conversations/{id}/members pages through all of them.'
  })
}, { $id: 'Conversation' })

export function conversationBodies (groupMaxMembers: number) {
  const UserIds = Type.Array(Uuid, { maxItems: groupMaxMembers, description: `At most ${groupMaxMembers}; duplicates are ignored` })
  return {
    CreateConversationBody: Type.Object({
      type: Type.Union([Type.Literal('direct'), Type.Literal('group')]),
      userId: Type.Optional({ ...Uuid, description: 'direct: the other user' }),
      title: Type.Optional({ ...Title, description: 'group: its title, 1-100 characters' }),
      memberIds: Type.Optional({ ...UserIds, description: `group: the other members (the caller is added as owner); at most ${groupMaxMembers - 1}` }),
      public: Type.Optional(Type.Boolean({ description: 'group: a public group (channel), listed and joinable by anyone not banned; default false. A direct conversation: 400' }))
    }, {
      additionalProperties: false,
      // The `properties` entries add no constraint; they name the required
      // property where OpenAPI linters look for it (they do not follow if/then).
      if: { properties: { type: { const: 'direct' } } },
      then: { properties: { userId: true }, required: ['userId'] },
      else: { properties: { title: true }, required: ['title'] }
    }),
    AddMembersBody: Type.Object({ userIds: { ...UserIds, minItems: 1 } }, { additionalProperties: false })
  }
}

export const UpdateConversationBody = Type.Object({
  title: Type.Optional(Title),
  pictureUploadId: Type.Optional(Type.Union([Uuid, Type.Null()], { description: 'A completed image upload of the caller becomes the group picture; null removes it' })),
  public: Type.Optional(Type.Boolean({ description: 'Make the group public (a channel) or private again' }))
}, { additionalProperties: false, minProperties: 1 })

export const MemberParams = Type.Object({ id: Uuid, userId: Uuid })

export const SetRoleBody = Type.Object({
  role: Type.Union([Type.Literal('admin'), Type.Literal('member')])
}, { additionalProperties: false })

export const ConversationListQuery = Type.Object({
  limit: Type.Optional(PageLimit),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'nextCursor of the previous page' }))
})
export type ConversationListQuery = Static<typeof ConversationListQuery>

export const MemberListQuery = Type.Object({
  limit: Type.Optional(PageLimit),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'nextCursor of the previous page' }))
})
export type MemberListQuery = Static<typeof MemberListQuery>

export const MemberPage = Type.Object({
  members: Type.Array(Type.Ref('Member'), { description: 'Current members, in joining order (then user id)' }),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'null on the last page' })
})

export const ConversationPage = Type.Object({
  conversations: Type.Array(Type.Ref('Conversation')),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'null on the last page' })
})

export const DeliveredBody = Type.Object({
  seq: Type.Integer({ minimum: 0, maximum: 2_147_483_647, description: 'The newest seq the caller\'s device has received; clamped to lastSeq, never moves back' })
}, { additionalProperties: false })

export const UnreadTotals = Type.Object({
  total: Type.Integer({ description: 'The badge: the sum of each conversation\'s badge (device pushes show the same figure)' }),
  mentions: Type.Integer({ description: 'Unread mentions of the caller, in conversations neither muted nor at level none' }),
  threads: Type.Integer({ description: 'Unread replies of the threads the caller follows, in every conversation (the sum of threadUnreadCount)' }),
  conversations: Type.Array(Type.Object({
    id: Uuid,
    unreadCount: Type.Integer({ minimum: 0, description: 'As the Conversation\'s unreadCount' }),
    mentionCount: Type.Integer({ description: 'As the Conversation\'s mentionCount' }),
    threadUnreadCount: Type.Integer({ description: 'As the Conversation\'s threadUnreadCount' }),
    badge: Type.Integer({ description: 'What it adds to total: unreadCount + threadUnreadCount at notification level all, mentionCount at level mentions, 0 at level none or while muted' })
  }), { description: 'The conversations with something unread, in their own timeline or in a followed thread (muted ones too, with badge 0), by id, ' +
    'a page at a time (the totals count them all)' }),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as cursor for the next page of conversations; null on the last page' })
})

export const UnreadQuery = Type.Object({
  limit: Type.Optional(PageLimit),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'nextCursor of the previous page' }))
})
