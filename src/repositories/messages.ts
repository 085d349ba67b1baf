// Messages: lookups and changes under the conversation's lock (Prisma), and
// pages of history (one statement on the pool, see member-window.ts). Posting
// is the group commit of post-batch.ts.
import { memberWindowPage, readMemberWindow } from './member-window.js'
import type { Client, Database } from './db.js'

export const messageSelect = {
  id: true,
  conversationId: true,
  seq: true,
  senderId: true,
  body: true,
  clientMessageId: true,
  replyToId: true,
  createdAt: true,
  editedAt: true,
  deletedAt: true,
  attachments: true
} as const

export interface MessageRow {
  id: string
  conversationId: string
  seq: number
  senderId: string
  body: string
  clientMessageId: string | null
  replyToId: string | null
  createdAt: Date
  editedAt: Date | null
  deletedAt: Date | null
  attachments: AttachmentView[]
}

/** An attachment as the API shows it (stored as such in messages.attachments, see post_messages). */
export interface AttachmentView {
  id: string
  kind: 'image' | 'video' | 'audio' | 'file'
  contentType: string
  size: number
  filename: string
  width: number | null
  height: number | null
  placeholder: string | null
  /** Stable API paths; they answer with a short-lived signed URL (302). */
  url: string
  thumbnailUrl: string | null
}

export type HistoryCursor = { before: number } | { after: number } | { latest: true }

const MESSAGE_COLUMNS = `m.id, m.conversation_id AS "conversationId", m.seq, m.sender_id AS "senderId", m.body,
  m.client_message_id AS "clientMessageId", m.reply_to_id AS "replyToId", m.created_at AS "createdAt",
  m.edited_at AS "editedAt", m.deleted_at AS "deletedAt", m.attachments`

const HISTORY = {
  before: memberWindowPage('messages', MESSAGE_COLUMNS, ' AND seq < $3::int', 'DESC'),
  after: memberWindowPage('messages', MESSAGE_COLUMNS, ' AND seq > $3::int', 'ASC'),
  // No cursor: $3 is only typed, so that every variant takes the same parameters.
  latest: memberWindowPage('messages', MESSAGE_COLUMNS, ' AND $3::int IS NOT NULL', 'DESC')
}

/** The statements that also run inside a transaction (see index.ts). */
export function messageStatements (db: Client) {
  return {
    find (conversationId: string, id: string): Promise<MessageRow | null> {
      return db.message.findFirst({ where: { id, conversationId }, select: messageSelect }) as unknown as Promise<MessageRow | null>
    },

    update (id: string, data: { body: string, editedAt?: Date, deletedAt?: Date, attachments?: [] }): Promise<MessageRow> {
      return db.message.update({ where: { id }, data, select: messageSelect }) as unknown as Promise<MessageRow>
    },

    /** A sender's live (not deleted) messages in a conversation, oldest first. */
    liveBySender (conversationId: string, senderId: string, limit: number): Promise<MessageRow[]> {
      return db.message.findMany({
        where: { conversationId, senderId, deletedAt: null },
        orderBy: { seq: 'asc' },
        take: limit,
        select: messageSelect
      }) as unknown as Promise<MessageRow[]>
    },

    /** Erases these messages as a delete does: empty body, deleted at `at`. */
    async erase (ids: string[], at: Date): Promise<void> {
      await db.$executeRaw`UPDATE messages SET body = '', attachments = '[]', deleted_at = ${at} WHERE id = ANY(${ids}::uuid[])`
    }
  }
}

export function createMessagesRepository ({ prisma, pool }: Database) {
  return {
    ...messageStatements(prisma),

    /** `rows` messages of the conversation from the user's joining on, or null when they are not a member. */
    history (conversationId: string, userId: string, cursor: HistoryCursor, rows: number): Promise<MessageRow[] | null> {
      if ('before' in cursor) return readMemberWindow(pool, HISTORY.before, [conversationId, userId, cursor.before, rows])
      if ('after' in cursor) return readMemberWindow(pool, HISTORY.after, [conversationId, userId, cursor.after, rows])
      return readMemberWindow(pool, HISTORY.latest, [conversationId, userId, 0, rows])
    }
  }
}

export type MessagesRepository = ReturnType<typeof createMessagesRepository>
