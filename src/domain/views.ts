// Stored rows to API.md's objects: timestamps as ISO strings, nulls kept.
import type { MemberWithUser } from '../repositories/conversations.js'
import type { AttachmentView, MessageRow } from '../repositories/messages.js'
import type { Metadata } from './custom-data.js'
import type { ReactionSummary } from '../repositories/reactions.js'

export interface MessageView {
  id: string
  conversationId: string
  seq: number
  senderId: string
  body: string
  clientMessageId: string | null
  replyToId: string | null
  createdAt: string
  editedAt: string | null
  deletedAt: string | null
  mentions: string[]
  mentionsAll: boolean
  attachments: AttachmentView[]
  type: string
  metadata: Metadata | null
  /** A thread reply: the root it answers; null for a top-level message. */
  threadRootId: string | null
  /** A thread root: the summary of its live replies; null when it has none. */
  thread: ThreadSummary | null
  /** In reads only, when there are some (see withReactions). */
  reactions?: ReactionSummary[]
}

export interface ThreadSummary { replyCount: number, lastReplyAt: string, participants: string[] }

export interface ConversationInfo {
  id: string
  type: 'direct' | 'group'
  title: string | null
  createdAt: string
  lastSeq: number
  /** The group picture (GET it: 302 to the image), or null. */
  pictureUrl: string | null
  /** A public group (channel): listed and joinable by anyone not banned. */
  public: boolean
}

export interface MemberView {
  user: { id: string, username: string, displayName: string, createdAt: string, avatarUrl: string | null }
  role: 'owner' | 'admin' | 'member'
  lastReadSeq: number
  lastDeliveredSeq: number
  joinedAt: string
}

export interface ConversationView extends ConversationInfo {
  lastMessage: MessageView | null
  unreadCount: number
  /** All current members; `members` may hold only the first of them (the list). */
  memberCount: number
  /** Read-only for all but the owner and admins. */
  frozen: boolean
  /** One post per this many seconds per plain member; 0 when off. */
  slowModeSeconds: number
  /** Whether the caller is muted here. */
  muted: boolean
  /** Unread messages that mention the caller. */
  mentionCount: number
  /** Unread replies in the threads the caller follows here (not in unreadCount). */
  threadUnreadCount: number
  /** The caller's notification settings here; muteUntil only while it is ahead. */
  notifications: { level: 'all' | 'mentions' | 'none' | 'default', muteUntil: string | null }
  /** The caller's delivery position (at least their read position). */
  lastDeliveredSeq: number
  members: MemberView[]
}

export const toMessage = (m: MessageRow): MessageView => ({
  id: m.id,
  conversationId: m.conversationId,
  seq: m.seq,
  senderId: m.senderId,
  body: m.body,
  clientMessageId: m.clientMessageId,
  replyToId: m.replyToId,
  createdAt: m.createdAt.toISOString(),
  editedAt: m.editedAt?.toISOString() ?? null,
  deletedAt: m.deletedAt?.toISOString() ?? null,
  mentions: m.mentions,
  mentionsAll: m.mentionsAll,
  attachments: m.attachments,
  type: m.type,
  metadata: m.metadata,
  threadRootId: m.threadRootId,
  thread: m.threadReplyCount > 0 && m.threadLastReplyAt !== null
    ? { replyCount: m.threadReplyCount, lastReplyAt: m.threadLastReplyAt.toISOString(), participants: m.threadParticipants }
    : null
})

export const toMember = (m: MemberWithUser): MemberView => ({
  user: { id: m.user.id, username: m.user.username, displayName: m.user.displayName, createdAt: m.user.createdAt.toISOString(), avatarUrl: mediaUrl(m.user.avatarUploadId) },
  role: m.role,
  lastReadSeq: m.lastReadSeq,
  lastDeliveredSeq: m.lastDeliveredSeq,
  joinedAt: m.joinedAt.toISOString()
})

/** The data of conversation.updated: the Conversation without members and without the per-member fields. */
export const toConversationInfo = (c: { id: string, type: 'direct' | 'group', title: string | null, createdAt: Date, pictureUploadId: string | null, isPublic: boolean }, lastSeq: number): ConversationInfo => ({
  id: c.id,
  type: c.type,
  title: c.title,
  createdAt: c.createdAt.toISOString(),
  lastSeq,
  pictureUrl: mediaUrl(c.pictureUploadId),
  public: c.isPublic
})

/** The API path of an avatar or group picture (GET /v1/media/{id}), or null. */
export const mediaUrl = (uploadId: string | null) => uploadId === null ? null : `/v1/media/${uploadId}`

/** Messages as a reader sees them: each with its reactions, when it has some (an extension of API.md's Message). */
export const withReactions = <T extends MessageView>(messages: T[], reactions: Map<string, ReactionSummary[]>): T[] =>
  messages.map((m) => {
    const list = reactions.get(m.id)
    return list === undefined ? m : { ...m, reactions: list }
  })
