// Messages, events and their pages. Limits that come from configuration are
// built per app (messageBodies), so OpenAPI shows the limits in force.
import { Type, type Static } from 'typebox'
import { PageLimit, Timestamp, Uuid } from './common.js'

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

/** PostgreSQL `integer`: seqs fit in it, and larger numbers must not reach a query. */
export const MAX_SEQ = 2_147_483_647
export const Seq = Type.Integer({ minimum: 0, maximum: MAX_SEQ })

export const Message = Type.Object({
  id: Uuid,
  conversationId: Uuid,
  seq: Type.Integer({ description: 'Seq of its message.created event' }),
  senderId: Uuid,
  body: Type.String({ description: 'Empty when deleted' }),
  clientMessageId: Nullable(Type.String()),
  replyToId: Nullable(Uuid),
  createdAt: Timestamp,
  editedAt: Nullable(Timestamp),
  deletedAt: Nullable(Timestamp),
  mentions: Type.Array(Uuid, {
    maxItems: 50,
    description: 'Users mentioned by @username: current members other than the sender when it was posted or last edited, in order of first mention; ' +
      'empty when deleted (an extension of API.md)'
  }),
  mentionsAll: Type.Boolean({ description: 'An @all by the owner or an admin of a group: it mentions every member (an extension of API.md)' }),
  attachments: Type.Array(Type.Ref('Attachment'), { description: 'Files posted with the message, in order; [] when deleted' }),
  type: Type.String({ description: 'An app-defined kind: text (the default) or e.g. poll, location, sticker (README "Threads and custom message data")' }),
  metadata: Nullable(Type.Object({}, { additionalProperties: true, description: 'App-defined data of the message (a JSON object of at most 4 KiB); null when none or deleted' })),
  threadRootId: Nullable({ ...Uuid, description: 'A thread reply: the top-level message it answers; null for a message of the conversation\'s own timeline' }),
  thread: Nullable(Type.Ref('ThreadSummary')),
  reactions: Type.Optional(Type.Array(Type.Ref('Reaction'), {
    description: 'In reads (history, pins): the reactions, one entry per emoji, ordered by the oldest reaction still there of each; absent when there are none, ' +
      'and absent in answers to writes and in event data, where reaction.added / reaction.removed carry the changes (README "Reactions, pins and receipts"; an extension of API.md)'
  }))
}, { $id: 'Message', description: 'A message; a deleted one is a tombstone: deletedAt set, body empty' })
export type Message = Static<typeof Message>

export const Reaction = Type.Object({
  emoji: Type.String({ description: 'One Unicode emoji, or :name: of a configured custom reaction' }),
  count: Type.Integer({ minimum: 1, description: 'Users who reacted so' }),
  me: Type.Boolean({ description: 'Whether the caller is one of them' })
}, { $id: 'Reaction', description: 'One emoji on a message, counted from the reactions stored' })

// Spelled out (not mapped from a list) so that Static gives the literal union.
export const EventType = Type.Union([
  Type.Literal('message.created'), Type.Literal('message.updated'), Type.Literal('message.deleted'),
  Type.Literal('member.added'), Type.Literal('members.added'), Type.Literal('member.removed'), Type.Literal('member.updated'), Type.Literal('conversation.updated'),
  // Moderation (src/domain/safety-moderation.ts)
  Type.Literal('member.banned'), Type.Literal('member.unbanned'), Type.Literal('member.muted'), Type.Literal('member.unmuted'),
  Type.Literal('conversation.frozen'), Type.Literal('conversation.unfrozen'), Type.Literal('conversation.slow_mode'),
  // Reactions (src/domain/reactions.ts)
  Type.Literal('reaction.added'), Type.Literal('reaction.removed'),
  // Pins (src/domain/pins.ts)
  Type.Literal('message.pinned'), Type.Literal('message.unpinned')
])

export const Event = Type.Object({
  conversationId: Uuid,
  seq: Type.Integer(),
  type: EventType,
  createdAt: Timestamp,
  data: Type.Unknown({
    description: 'message.*: Message (message.deleted: the tombstone); member.added / member.removed: { userId, by }; members.added: { userIds, by }; ' +
      'member.updated: { userId, role, by }; conversation.updated: { id, type, title, createdAt, lastSeq }; ' +
      'member.banned / member.unbanned / member.muted / member.unmuted: { userId, by }; conversation.frozen / conversation.unfrozen: { by }; ' +
      'conversation.slow_mode: { seconds, by }; reaction.added / reaction.removed: { messageId, messageSeq, userId, emoji }; ' +
      'message.pinned / message.unpinned: { messageId, messageSeq, by }'
  })
}, { $id: 'Event', description: 'One entry of a conversation\'s event stream' })

export const ThreadSummary = Type.Object({
  replyCount: Type.Integer({ minimum: 1, description: 'Replies not deleted' }),
  lastReplyAt: Timestamp,
  participants: Type.Array(Uuid, { maxItems: 5, description: 'The first 5 distinct senders of replies, in order of first reply' })
}, {
  $id: 'ThreadSummary',
  description: 'A thread root\'s summary (null when it has no live replies); exact when read over REST. In event data it is a snapshot: clients ' +
    'keep it from the replies they receive (the SDK\'s threadSummary)'
})

export const Attachment = Type.Object({
  id: Uuid,
  kind: Type.Union([Type.Literal('image'), Type.Literal('video'), Type.Literal('audio'), Type.Literal('file')]),
  contentType: Type.String({ description: 'The type read from the bytes (not the one declared)' }),
  size: Type.Integer({ description: 'Bytes stored (an image whose metadata was stripped: the stripped size)' }),
  filename: Type.String(),
  width: Nullable(Type.Integer({ description: 'Images: pixels, as displayed (orientation applied)' })),
  height: Nullable(Type.Integer()),
  placeholder: Nullable(Type.String({ description: 'Images: a ThumbHash (base64) to show, blurred, while the thumbnail loads' })),
  url: Type.String({ description: 'API path of the bytes: GET with the access token answers 302 to a short-lived signed URL (GET /v1/attachments/{id} answers it as JSON)' }),
  thumbnailUrl: Nullable(Type.String({ description: 'Images: API path of the WebP thumbnail, as url' }))
}, { $id: 'Attachment', description: 'A file of a message (README "Attachments")' })

export const ClientMessageId = Type.String({ minLength: 1, maxLength: 64, description: 'Client-chosen idempotency key' })

const MessageType = Type.String({
  description: 'An app-defined kind: 1-32 characters, lowercase letters, digits, _, . or -, starting with a letter (text is the default); ' +
    'else 400 INVALID_MESSAGE_TYPE'
})
const MessageMetadata = Type.Unknown({
  description: 'A JSON object of at most 4096 bytes serialized and 8 levels deep, or null: else 400 INVALID_METADATA (not an object, too deep) or ' +
    'METADATA_TOO_LARGE'
})

/** Body schemas that carry the configured length limit. */
export function messageBodies (maxLength: number) {
  const bodyText = `1-${maxLength} characters after trimming surrounding whitespace; stored trimmed`
  const Body = Type.String({ minLength: 1, maxLength, pattern: '\\S', description: bodyText })
  return {
    PostMessageBody: Type.Object({
      body: Type.Optional({ ...Body, description: `${bodyText}; may be left out when attachments are given, or a type other than text with metadata` }),
      attachments: Type.Optional(Type.Array(Uuid, {
        minItems: 1, maxItems: 10, uniqueItems: true,
        description: 'Ids of completed uploads of the caller for this conversation (POST /v1/uploads), at most 10; else 400 INVALID_ATTACHMENT'
      })),
      clientMessageId: Type.Optional(Nullable(ClientMessageId)),
      replyToId: Type.Optional(Nullable(Uuid)),
      type: Type.Optional(MessageType),
      metadata: Type.Optional(MessageMetadata),
      threadRootId: Type.Optional(Nullable({
        ...Uuid,
        description: 'Reply in the thread of this top-level message of the conversation: one the caller can see (else 404 NOT_FOUND), ' +
          'not deleted and not itself a reply (else 400 INVALID_THREAD_ROOT)'
      }))
    }, { additionalProperties: false }),
    EditMessageBody: Type.Object({
      body: Type.Optional(Body),
      type: Type.Optional(MessageType),
      metadata: Type.Optional(MessageMetadata)
    }, { additionalProperties: false, minProperties: 1, description: 'What to change: body, type, metadata (at least one)' })
  }
}

export const MessageParams = Type.Object({ id: Uuid, messageId: Uuid })

export const HistoryQuery = Type.Object({
  before: Type.Optional({ ...Seq, description: 'Messages older than this seq, newest first' }),
  after: Type.Optional({ ...Seq, description: 'Messages newer than this seq, oldest first' }),
  minSeq: Type.Optional({ ...Seq, description: 'The highest seq of this conversation the client knows of (say, of the message it just posted): with a read replica (DATABASE_REPLICA_URL), the page is read where that seq is already visible. An extension of API.md' }),
  limit: Type.Optional(PageLimit)
})
export type HistoryQuery = Static<typeof HistoryQuery>

export const MessagePage = Type.Object({
  messages: Type.Array(Type.Ref('Message')),
  hasMore: Type.Boolean()
})

export const EventsQuery = Type.Object({
  after: Type.Optional({ ...Seq, default: 0, description: 'The last seq the client has; events after it' }),
  minSeq: Type.Optional({ ...Seq, description: 'The highest seq of this conversation the client knows of (say, of the message it just posted): with a read replica (DATABASE_REPLICA_URL), the page is read where that seq is already visible. An extension of API.md' }),
  limit: Type.Optional(PageLimit)
})

export const EventPage = Type.Object({
  events: Type.Array(Type.Ref('Event')),
  hasMore: Type.Boolean()
})

export const ReadBody = Type.Object({
  seq: { ...Seq, description: 'The newest seq the caller has read; clamped to lastSeq, never moves back' }
}, { additionalProperties: false })

export const ThreadReadBody = Type.Object({
  seq: { ...Seq, description: 'The seq of the newest reply the caller has read; clamped to lastSeq, never moves back' }
}, { additionalProperties: false })

export const FollowedThreadQuery = Type.Object({
  limit: Type.Optional(PageLimit),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'nextCursor of the previous page' }))
})

export const FollowedThreadPage = Type.Object({
  threads: Type.Array(Type.Object({
    conversationId: Uuid,
    root: Type.Ref('Message'),
    unreadCount: Type.Integer({ minimum: 0, description: 'Replies by others after lastReadSeq, within the caller\'s window' }),
    lastReadSeq: Type.Integer({ minimum: 0, description: 'The caller\'s read position in the thread' })
  })),
  nextCursor: Nullable(Type.String({ description: 'Pass as cursor for the next page; null on the last page' }))
})

export const ReactionParams = Type.Object({
  id: Uuid,
  messageId: Uuid,
  emoji: Type.String({ minLength: 1, maxLength: 64, description: 'One Unicode emoji (URL-encoded), or :name: of a configured custom reaction (REACTIONS_CUSTOM)' })
})

export const ReactionResult = Type.Object({
  messageId: Uuid,
  emoji: Type.String({ description: 'The reaction as stored (an emoji written without its presentation selector gets it)' }),
  reactions: Type.Array(Type.Ref('Reaction'), { description: 'The message\'s reactions after the change, as in history' })
}, { description: 'The reactions of the message after the change' })

export const Pin = Type.Object({
  message: Type.Ref('Message', { description: 'The pinned message, with its reactions' }),
  pinnedBy: Uuid,
  pinnedAt: Timestamp
}, { $id: 'Pin', description: 'A pinned message, who pinned it and when' })

export const PinList = Type.Object({
  pins: Type.Array(Type.Ref('Pin'), { description: 'Newest pin first; only messages the caller can see; at most PINS_PER_CONVERSATION, so no pages' })
})
