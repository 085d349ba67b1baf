// The statements of one group commit of posts (see domain/post-batcher.ts):
// a fixed number of statements per batch, whatever its size.
import type pg from 'pg'
import type { MessageRow } from './messages.js'

export interface MemberOf { conversationId: string, userId: string, joinedSeq: number }

const MESSAGE_COLUMNS = `id, conversation_id AS "conversationId", seq, sender_id AS "senderId", body,
  client_message_id AS "clientMessageId", reply_to_id AS "replyToId", created_at AS "createdAt",
  edited_at AS "editedAt", deleted_at AS "deletedAt"`

export function createPostBatchRepository (client: pg.PoolClient) {
  return {
    /** Locks the conversations, in id order so concurrent batches cannot deadlock. */
    async lock (conversationIds: string[]): Promise<Set<string>> {
      const { rows } = await client.query<{ id: string }>(
        'SELECT id FROM conversations WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [conversationIds])
      return new Set(rows.map((r) => r.id))
    },

    async activeMembers (conversationIds: string[]): Promise<MemberOf[]> {
      const { rows } = await client.query<{ conversation_id: string, user_id: string, joined_seq: number }>(
        'SELECT conversation_id, user_id, joined_seq FROM memberships WHERE conversation_id = ANY($1::uuid[]) AND left_at IS NULL',
        [conversationIds])
      return rows.map((r) => ({ conversationId: r.conversation_id, userId: r.user_id, joinedSeq: r.joined_seq }))
    },

    async existingByClientId (keys: Array<{ conversationId: string, senderId: string, clientMessageId: string }>): Promise<MessageRow[]> {
      if (keys.length === 0) return []
      const { rows } = await client.query<MessageRow>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages
          WHERE (conversation_id, sender_id, client_message_id) IN
                (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[]))`,
        [keys.map((k) => k.conversationId), keys.map((k) => k.senderId), keys.map((k) => k.clientMessageId)])
      return rows
    },

    async seqsOf (messageIds: string[]): Promise<Map<string, { conversationId: string, seq: number }>> {
      if (messageIds.length === 0) return new Map()
      const { rows } = await client.query<{ id: string, conversation_id: string, seq: number }>(
        'SELECT id, conversation_id, seq FROM messages WHERE id = ANY($1::uuid[])', [messageIds])
      return new Map(rows.map((r) => [r.id, { conversationId: r.conversation_id, seq: r.seq }]))
    },

    /** Takes `count` seqs per conversation; returns the last seq taken and the time of the change. */
    async allocate (counts: Map<string, number>): Promise<Map<string, { lastSeq: number, at: Date }>> {
      const ids = [...counts.keys()]
      const { rows } = await client.query<{ id: string, last_seq: number, last_activity_at: Date }>(
        `UPDATE conversations c
            SET last_seq = c.last_seq + v.n,
                last_activity_at = GREATEST(c.last_activity_at, clock_timestamp())
           FROM unnest($1::uuid[], $2::int[]) AS v(id, n)
          WHERE c.id = v.id
      RETURNING c.id, c.last_seq, c.last_activity_at`,
        [ids, ids.map((id) => counts.get(id))])
      return new Map(rows.map((r) => [r.id, { lastSeq: r.last_seq, at: r.last_activity_at }]))
    },

    /** The messages and their message.created events, in one statement. */
    async insert (messages: MessageRow[], eventData: string[]): Promise<void> {
      await client.query(
        `WITH inserted AS (
           INSERT INTO messages (id, conversation_id, seq, sender_id, body, client_message_id, reply_to_id, created_at)
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::uuid[], $5::text[], $6::text[], $7::uuid[], $8::timestamptz[])
         )
         INSERT INTO events (conversation_id, seq, type, data, created_at)
         SELECT c, s, 'message.created', d, t FROM unnest($2::uuid[], $3::int[], $9::jsonb[], $8::timestamptz[]) AS e(c, s, d, t)`,
        [
          messages.map((m) => m.id), messages.map((m) => m.conversationId), messages.map((m) => m.seq),
          messages.map((m) => m.senderId), messages.map((m) => m.body), messages.map((m) => m.clientMessageId),
          messages.map((m) => m.replyToId), messages.map((m) => m.createdAt), eventData
        ])
    }
  }
}
