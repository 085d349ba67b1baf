// Fast fixtures written straight to the database, for tests that need many rows.
import type { TestServer } from './server.js'

/**
 * Appends `count` messages from `senderId` (bodies "m<seq>") with their
 * message.created events in two multi-row statements, and moves last_seq.
 * Returns the first and last seq written.
 */
export async function seedMessages (server: TestServer, conversationId: string, senderId: string, count: number) {
  const [conv] = await server.sql<{ last_seq: number, timeline_count: number }>('SELECT last_seq, timeline_count FROM conversations WHERE id = $1', [conversationId])
  const first = conv!.last_seq + 1
  const last = conv!.last_seq + count
  // Each numbered in the conversation's timeline, as post_messages does (migration timeline_ord).
  await server.sql(`
    INSERT INTO messages (id, conversation_id, seq, sender_id, body, created_at, timeline_ord)
    SELECT gen_random_uuid(), $1, s, $2, 'm' || s, now(), $5::int + s - $3::int + 1 FROM generate_series($3::int, $4::int) AS s`,
  [conversationId, senderId, first, last, conv!.timeline_count])
  await server.sql(`
    INSERT INTO events (conversation_id, seq, type, data, created_at)
    SELECT conversation_id, seq, 'message.created',
           jsonb_build_object('id', id, 'conversationId', conversation_id, 'seq', seq, 'senderId', sender_id, 'body', body,
                              'clientMessageId', NULL, 'replyToId', NULL, 'createdAt', created_at, 'editedAt', NULL, 'deletedAt', NULL),
           created_at
      FROM messages WHERE conversation_id = $1 AND seq BETWEEN $2 AND $3`,
  [conversationId, first, last])
  await server.sql('UPDATE conversations SET last_seq = $2, timeline_count = timeline_count + $3, last_activity_at = now() WHERE id = $1',
    [conversationId, last, count])
  return { first, last }
}
