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
  mentions: true,
  mentionsAll: true,
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
  /** Mentioned user ids (see domain/mentions.ts); empty when deleted. */
  mentions: string[]
  mentionsAll: boolean
  attachments: AttachmentView[]
}

/** What an upload and an attachment both say of their file. */
export interface FileFacts {
  id: string
  kind: 'image' | 'video' | 'audio' | 'file'
  contentType: string
  size: number
  filename: string
  width: number | null
  height: number | null
  placeholder: string | null
}

/** An attachment as the API shows it (stored as such in messages.attachments, see post_messages). */
export interface AttachmentView extends FileFacts {
  /** Stable API paths; they answer with a short-lived signed URL (302). */
  url: string
  thumbnailUrl: string | null
}

// The column is a nullable array (Prisma's lists are): a row written before it existed reads as none.
const withMentions = <T extends { mentions: string[] | null }>(row: T): T & { mentions: string[] } => ({ ...row, mentions: row.mentions ?? [] })

export type HistoryCursor = { before: number } | { after: number } | { latest: true }

export const MESSAGE_COLUMNS = `m.id, m.conversation_id AS "conversationId", m.seq, m.sender_id AS "senderId", m.body,
  m.client_message_id AS "clientMessageId", m.reply_to_id AS "replyToId", m.created_at AS "createdAt",
  m.edited_at AS "editedAt", m.deleted_at AS "deletedAt", COALESCE(m.mentions, '{}') AS mentions, m.mentions_all AS "mentionsAll", m.attachments`

const HISTORY = {
  before: memberWindowPage('messages', MESSAGE_COLUMNS, ' AND seq < $3::int', 'DESC'),
  after: memberWindowPage('messages', MESSAGE_COLUMNS, ' AND seq > $3::int', 'ASC'),
  // No cursor: $3 is only typed, so that every variant takes the same parameters.
  latest: memberWindowPage('messages', MESSAGE_COLUMNS, ' AND $3::int IS NOT NULL', 'DESC')
}

/** The statements that also run inside a transaction (see index.ts). */
export function messageStatements (db: Client) {
  return {
    async find (conversationId: string, id: string): Promise<MessageRow | null> {
      const row = await db.message.findFirst({ where: { id, conversationId }, select: messageSelect })
      return row === null ? null : withMentions(row) as unknown as MessageRow
    },

    /** Changes a message; a deletion (deletedAt) also clears its mentions (and, as the caller passes, its attachments). */
    async update (id: string, data: { body: string, editedAt?: Date, deletedAt?: Date, mentions?: string[], mentionsAll?: boolean, attachments?: [] }): Promise<MessageRow> {
      const cleared = data.deletedAt === undefined ? {} : { mentions: [], mentionsAll: false }
      return withMentions(await db.message.update({ where: { id }, data: { ...data, ...cleared }, select: messageSelect })) as unknown as MessageRow
    },

    /**
     * Of these lower-case usernames, the current members of the conversation
     * other than `senderId`, as user ids in the order of the names.
     */
    async resolveMentions (conversationId: string, senderId: string, names: string[]): Promise<string[]> {
      if (names.length === 0) return []
      const rows = await db.$queryRaw<Array<{ id: string }>>`
        SELECT u.id FROM unnest(${names}::text[]) WITH ORDINALITY AS n(name, ord)
          JOIN users u ON u.username = n.name
          JOIN memberships m ON m.conversation_id = ${conversationId}::uuid AND m.user_id = u.id AND m.left_at IS NULL
         WHERE u.id <> ${senderId}::uuid
         ORDER BY n.ord`
      return rows.map((r) => r.id)
    },

    /** A sender's live (not deleted) messages in a conversation, oldest first. */
    async liveBySender (conversationId: string, senderId: string, limit: number): Promise<MessageRow[]> {
      return (await db.message.findMany({
        where: { conversationId, senderId, deletedAt: null },
        orderBy: { seq: 'asc' },
        take: limit,
        select: messageSelect
      })).map(withMentions) as unknown as MessageRow[]
    },

    /** Erases these messages as a delete does: empty body, deleted at `at`. */
    async erase (ids: string[], at: Date): Promise<void> {
      await db.$executeRaw`UPDATE messages SET body = '', deleted_at = ${at}, mentions = '{}', mentions_all = false, attachments = '[]' WHERE id = ANY(${ids}::uuid[])`
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
