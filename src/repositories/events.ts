// The per-conversation event log: the seq counter on the conversation row and
// the events themselves. Every writer takes the conversation's row lock
// (conversations.lock, or allocate here) before it writes, so seqs are handed
// out one transaction at a time. Writes go through Prisma inside the writing
// transaction; the replay page and the gap fill read on the pool (see db.ts).
import type { Client, Database } from './db.js'
import { memberWindowPage, readMemberWindowFrom } from './member-window.js'
import { Prisma } from '../generated/prisma/client.js'

export interface EventRow { conversationId: string, seq: number, type: string, data: unknown, createdAt: Date }

/**
 * The seq of the message an event is about, when it is about an earlier one:
 * an edit or deletion (data is the Message: its seq), a reaction or a pin
 * (data.messageSeq); else the event's own seq. `e` is the events row.
 */
export const subjectSeq = (e: string) =>
  `CASE WHEN ${e}.type IN ('message.updated', 'message.deleted') THEN (${e}.data->>'seq')::int
        WHEN ${e}.type IN ('reaction.added', 'reaction.removed', 'message.pinned', 'message.unpinned') THEN (${e}.data->>'messageSeq')::int
        ELSE ${e}.seq END`

/** The users whose membership window [joined_seq, left_seq] holds the event `e` (for an event about a message: holds the message). */
export const windowRecipients = (e: string) =>
  `ARRAY(SELECT m.user_id FROM memberships m
          WHERE m.conversation_id = ${e}.conversation_id
            AND m.joined_seq <= ${subjectSeq(e)}
            AND (m.left_seq IS NULL OR m.left_seq >= ${e}.seq))`

// What happens to a message from before the member's window is not theirs to
// see (as the message itself is not): judged by the message's seq.
const REPLAY = memberWindowPage('events', 'm.conversation_id AS "conversationId", m.seq, m.type, m.data, m.created_at AS "createdAt"',
  ` AND seq > $3::int AND ${subjectSeq('events')} >= me.joined_seq`, 'ASC')

/** The statements that also run inside a transaction (see index.ts). */
/**
 * What a redacted event keeps of its own: the thread summary and edit time it
 * had when written. The tombstone's are of the moment of deletion, which a
 * reader whose window ended earlier (a member who left) must not learn.
 */
const keepOwn = (row: string) => Prisma.raw(`jsonb_build_object('thread', ${row}.data->'thread', 'editedAt', ${row}.data->'editedAt')`)

export function eventStatements (db: Client) {
  return {
    /**
     * Takes the next `count` seqs (locking the row if not yet locked) and marks
     * the activity. Returns the last seq taken and the time of the change,
     * which never goes back as seqs go up.
     */
    async allocate (conversationId: string, count: number): Promise<{ lastSeq: number, at: Date } | null> {
      const rows = await db.$queryRaw<Array<{ last_seq: number, last_activity_at: Date }>>`
        UPDATE conversations
           SET last_seq = last_seq + ${count}::int,
               last_activity_at = GREATEST(last_activity_at, clock_timestamp())
         WHERE id = ${conversationId}::uuid
        RETURNING last_seq, last_activity_at`
      const row = rows[0]
      return row === undefined ? null : { lastSeq: row.last_seq, at: row.last_activity_at }
    },

    async insert (events: EventRow[]): Promise<void> {
      if (events.length === 0) return
      await db.event.createMany({
        data: events.map((e) => ({ ...e, data: e.data as Prisma.InputJsonValue }))
      })
    },

    /**
     * Replaces the data of a message's earlier created/updated events with its
     * tombstone, so a replay does not bring deleted text back.
     */
    async redactMessage (conversationId: string, messageId: string, fromSeq: number, tombstone: unknown): Promise<void> {
      await db.$executeRaw`
        UPDATE events SET data = ${JSON.stringify(tombstone)}::jsonb || ${keepOwn('events')}
         WHERE conversation_id = ${conversationId}::uuid AND seq >= ${fromSeq}::int
           AND type IN ('message.created', 'message.updated') AND data->>'id' = ${messageId}`
    },

    /** As redactMessage, for many messages at once (from the first's seq on), each with its own tombstone. */
    async redactMessages (conversationId: string, fromSeq: number, tombstones: Array<{ id: string, data: unknown }>): Promise<void> {
      await db.$executeRaw`
        UPDATE events e SET data = t.data || ${keepOwn('e')}
          FROM unnest(${tombstones.map((t) => t.id)}::text[], ${tombstones.map((t) => JSON.stringify(t.data))}::jsonb[]) AS t(id, data)
         WHERE e.conversation_id = ${conversationId}::uuid AND e.seq >= ${fromSeq}::int
           AND e.type IN ('message.created', 'message.updated') AND e.data->>'id' = t.id`
    }
  }
}

export function createEventsRepository ({ prisma, pool, replica }: Database) {
  return {
    ...eventStatements(prisma),

    /** `rows` events after `afterSeq`, ascending, from the user's joining on; null when they are not a member. */
    replay (conversationId: string, userId: string, afterSeq: number, rows: number, knownSeq = 0): Promise<EventRow[] | null> {
      return readMemberWindowFrom({ pool, replica }, conversationId, Math.max(knownSeq, afterSeq), REPLAY, [conversationId, userId, afterSeq, rows])
    },

    /**
     * Events between two seqs, each with its own recipients: the users whose
     * membership window [joined_seq, left_seq] holds it (for the edit or
     * deletion of a message: holds the message), as replay decides. The gap
     * fill of the push channel reads it.
     */
    async eventsBetween (conversationId: string, afterSeq: number, beforeSeq: number): Promise<Array<{ event: EventRow, userIds: string[] }>> {
      const { rows } = await pool.query<{ seq: number, type: string, data: unknown, created_at: Date, recipients: string[] }>(
        `SELECT e.seq, e.type, e.data, e.created_at, ${windowRecipients('e')} AS recipients
           FROM events e
          WHERE e.conversation_id = $1 AND e.seq > $2 AND e.seq < $3 ORDER BY e.seq`,
        [conversationId, afterSeq, beforeSeq])
      return rows.map((r) => ({
        event: { conversationId, seq: r.seq, type: r.type, createdAt: r.created_at, data: r.data },
        userIds: r.recipients
      }))
    }
  }
}

export type EventsRepository = ReturnType<typeof createEventsRepository>
