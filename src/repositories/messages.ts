// Messages: lookups and changes under the conversation's lock (Prisma), and
// pages of history (one statement on the pool, see member-window.ts). Posting
// is the group commit of post-batch.ts.
import { memberWindowPage, readMemberWindow, readMemberWindowFrom } from './member-window.js'
import { Prisma } from '../generated/prisma/client.js'
import type { Client, Database } from './db.js'

/** App-defined data of a message: a JSON object (checked in src/domain/custom-data.ts). */
export type Metadata = Record<string, unknown>

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
  attachments: true,
  type: true,
  metadata: true,
  threadRootId: true,
  threadReplyCount: true,
  threadLastReplyAt: true,
  threadParticipants: true
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
  /** App-defined kind (text by default) and data (src/domain/custom-data.ts); metadata null when deleted. */
  type: string
  metadata: Metadata | null
  /** A thread reply: its root (src/domain/threads.ts). */
  threadRootId: string | null
  /** A thread root: its live replies, the newest one's time, the first 5 distinct senders. */
  threadReplyCount: number
  threadLastReplyAt: Date | null
  threadParticipants: string[]
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
const withMentions = <T extends { mentions: string[] | null, threadParticipants?: string[] | null }>(row: T): T & { mentions: string[] } =>
  ({ ...row, mentions: row.mentions ?? [], threadParticipants: row.threadParticipants ?? [] })

/** What an edit or a deletion changes. */
export interface MessageChange {
  body: string, editedAt?: Date, deletedAt?: Date, mentions?: string[], mentionsAll?: boolean, attachments?: []
  type?: string, metadata?: Metadata | null
}

export type HistoryCursor = { before: number } | { after: number } | { latest: true }

export const MESSAGE_COLUMNS = `m.id, m.conversation_id AS "conversationId", m.seq, m.sender_id AS "senderId", m.body,
  m.client_message_id AS "clientMessageId", m.reply_to_id AS "replyToId", m.created_at AS "createdAt",
  m.edited_at AS "editedAt", m.deleted_at AS "deletedAt", COALESCE(m.mentions, '{}') AS mentions, m.mentions_all AS "mentionsAll", m.attachments,
  m.type, m.metadata, m.thread_root_id AS "threadRootId", m.thread_reply_count AS "threadReplyCount",
  m.thread_last_reply_at AS "threadLastReplyAt", COALESCE(m.thread_participants, '{}') AS "threadParticipants"`

// The conversation's own timeline: thread replies are read by thread (threads.ts).
const HISTORY = {
  before: memberWindowPage('messages', MESSAGE_COLUMNS, ' AND seq < $3::int AND thread_root_id IS NULL', 'DESC'),
  after: memberWindowPage('messages', MESSAGE_COLUMNS, ' AND seq > $3::int AND thread_root_id IS NULL', 'ASC'),
  // No cursor: $3 is only typed, so that every variant takes the same parameters.
  latest: memberWindowPage('messages', MESSAGE_COLUMNS, ' AND $3::int IS NOT NULL AND thread_root_id IS NULL', 'DESC')
}

/**
 * A page of a thread's replies as a member may read it: $1 conversation, $2
 * user, $3 cursor seq, $4 rows, $5 root. Reads the (thread_root_id, seq) index
 * from the member's joining on; no row when the user is not a member.
 */
const threadPage = (where: string, order: 'ASC' | 'DESC') => `
  SELECT ${MESSAGE_COLUMNS}
    FROM memberships me
    LEFT JOIN LATERAL (
      SELECT * FROM messages
       WHERE thread_root_id = $5::uuid AND conversation_id = me.conversation_id AND seq >= me.joined_seq${where}
       ORDER BY seq ${order}
       LIMIT $4::int) m ON true
   WHERE me.conversation_id = $1::uuid AND me.user_id = $2::uuid AND me.left_at IS NULL
   ORDER BY m.seq ${order}`
const THREAD = {
  before: threadPage(' AND seq < $3::int', 'DESC'),
  after: threadPage(' AND seq > $3::int', 'ASC'),
  latest: threadPage(' AND $3::int IS NOT NULL', 'DESC')
}

/** The statements that also run inside a transaction (see index.ts). */
export function messageStatements (db: Client) {
  return {
    /** Whether the message exists and is not deleted (a notification queued for it may still go). */
    async isLive (id: string): Promise<boolean> {
      return (await db.message.count({ where: { id, deletedAt: null } })) > 0
    },

    async find (conversationId: string, id: string): Promise<MessageRow | null> {
      const row = await db.message.findFirst({ where: { id, conversationId }, select: messageSelect })
      return row === null ? null : withMentions(row) as unknown as MessageRow
    },

    /** Changes a message; a deletion (deletedAt) also clears its mentions and metadata (and, as the caller passes, its attachments). */
    async update (id: string, data: MessageChange): Promise<MessageRow> {
      // A tombstone keeps nothing of what the message said or carried, whoever deletes it.
      const cleared = data.deletedAt === undefined ? {} : { mentions: [], mentionsAll: false, metadata: null, attachments: [] as [] }
      const { metadata, ...rest } = { ...data, ...cleared }
      const json = metadata === undefined ? {} : { metadata: metadata === null ? Prisma.DbNull : metadata as Prisma.InputJsonObject }
      return withMentions(await db.message.update({ where: { id }, data: { ...rest, ...json }, select: messageSelect })) as unknown as MessageRow
    },

    /**
     * Of these lower-case usernames, the current members of the conversation
     * other than `senderId` whose window holds the message of `messageSeq`
     * (one who joined after it can never see it, so it mentions them not), as
     * user ids in the order of the names.
     */
    async resolveMentions (conversationId: string, senderId: string, names: string[], messageSeq: number): Promise<string[]> {
      if (names.length === 0) return []
      const rows = await db.$queryRaw<Array<{ id: string }>>`
        SELECT u.id FROM unnest(${names}::text[]) WITH ORDINALITY AS n(name, ord)
          JOIN users u ON u.username = n.name
          JOIN memberships m ON m.conversation_id = ${conversationId}::uuid AND m.user_id = u.id AND m.left_at IS NULL
                            AND m.joined_seq <= ${messageSeq}::int
         WHERE u.id <> ${senderId}::uuid
         ORDER BY n.ord`
      return rows.map((r) => r.id)
    },

    /**
     * Sets the summaries of these thread roots from their live replies (after
     * a reply was deleted): the same rule post_messages keeps as replies come.
     */
    async refreshThreads (rootIds: string[]): Promise<void> {
      if (rootIds.length === 0) return
      await db.$executeRaw`
        UPDATE messages rt
           SET thread_reply_count = s.n, thread_last_reply_at = s.at, thread_participants = s.participants
          FROM unnest(${rootIds}::uuid[]) AS r(id)
          CROSS JOIN LATERAL (
            SELECT count(*)::int AS n, max(x.created_at) AS at,
                   ARRAY(SELECT y.sender_id FROM messages y WHERE y.thread_root_id = r.id AND y.deleted_at IS NULL
                          GROUP BY y.sender_id ORDER BY min(y.seq) LIMIT 5) AS participants
              FROM messages x WHERE x.thread_root_id = r.id AND x.deleted_at IS NULL
          ) s
         WHERE rt.id = r.id`
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
      await db.$executeRaw`UPDATE messages SET body = '', deleted_at = ${at}, mentions = '{}', mentions_all = false, attachments = '[]', metadata = NULL WHERE id = ANY(${ids}::uuid[])`
    }
  }
}

export function createMessagesRepository ({ prisma, pool, replica }: Database) {
  const sources = { pool, replica }
  return {
    ...messageStatements(prisma),

    /** `rows` messages of the conversation from the user's joining on, or null when they are not a member. */
    history (conversationId: string, userId: string, cursor: HistoryCursor, rows: number, knownSeq = 0): Promise<MessageRow[] | null> {
      if ('before' in cursor) return readMemberWindowFrom(sources, conversationId, knownSeq, HISTORY.before, [conversationId, userId, cursor.before, rows])
      if ('after' in cursor) return readMemberWindowFrom(sources, conversationId, Math.max(knownSeq, cursor.after), HISTORY.after, [conversationId, userId, cursor.after, rows])
      return readMemberWindowFrom(sources, conversationId, knownSeq, HISTORY.latest, [conversationId, userId, 0, rows])
    },

    /** `rows` replies of a thread from the user's joining on, or null when they are not a member. */
    thread (conversationId: string, userId: string, rootId: string, cursor: HistoryCursor, rows: number): Promise<MessageRow[] | null> {
      if ('before' in cursor) return readMemberWindow(pool, THREAD.before, [conversationId, userId, cursor.before, rows, rootId])
      if ('after' in cursor) return readMemberWindow(pool, THREAD.after, [conversationId, userId, cursor.after, rows, rootId])
      return readMemberWindow(pool, THREAD.latest, [conversationId, userId, 0, rows, rootId])
    }
  }
}

export type MessagesRepository = ReturnType<typeof createMessagesRepository>
