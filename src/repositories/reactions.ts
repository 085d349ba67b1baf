// Reactions: one row per (message, user, emoji). Adding and removing run under
// the conversation's lock (Prisma, inside the writing transaction); the
// summaries that reads attach to messages are one statement on the pool. Counts
// are always counted from the rows, so concurrent reactions never lose one.
import type { Client, Database } from './db.js'

/** A message's reactions as its readers see them: one entry per emoji, in the order of each one's oldest reaction still there. */
export interface ReactionSummary { emoji: string, count: number, me: boolean }

const SUMMARIES = `
  SELECT message_id, emoji, count(*)::int AS count, bool_or(user_id = $2::uuid) AS me
    FROM message_reactions
   WHERE message_id = ANY($1::uuid[])
   GROUP BY message_id, emoji
   ORDER BY message_id, min(created_at), emoji`

/** The statements that also run inside a transaction (see index.ts). */
export function reactionStatements (db: Client) {
  return {
    /** Adds a reaction; false when the user already has it. */
    async add (messageId: string, userId: string, emoji: string, at: Date): Promise<boolean> {
      const n = await db.$executeRaw`
        INSERT INTO message_reactions (message_id, user_id, emoji, created_at)
        VALUES (${messageId}::uuid, ${userId}::uuid, ${emoji}, ${at}::timestamptz)
        ON CONFLICT DO NOTHING`
      return n > 0
    },

    /** Removes a reaction; false when the user did not have it. */
    async remove (messageId: string, userId: string, emoji: string): Promise<boolean> {
      const n = await db.$executeRaw`
        DELETE FROM message_reactions WHERE message_id = ${messageId}::uuid AND user_id = ${userId}::uuid AND emoji = ${emoji}`
      return n > 0
    },

    /** Up to `limit` of a user's reactions in one conversation, by message seq (a deleted account's, to take back). */
    ofUserIn (conversationId: string, userId: string, limit: number): Promise<Array<{ messageId: string, messageSeq: number, emoji: string }>> {
      return db.$queryRaw`
        SELECT r.message_id AS "messageId", m.seq AS "messageSeq", r.emoji
          FROM message_reactions r JOIN messages m ON m.id = r.message_id
         WHERE r.user_id = ${userId}::uuid AND m.conversation_id = ${conversationId}::uuid
         ORDER BY m.seq, r.created_at, r.emoji LIMIT ${limit}::int`
    },

    /** Removes these reactions of a user. */
    async removeAll (userId: string, reactions: Array<{ messageId: string, emoji: string }>): Promise<void> {
      await db.$executeRaw`
        DELETE FROM message_reactions r USING unnest(${reactions.map((x) => x.messageId)}::uuid[], ${reactions.map((x) => x.emoji)}::text[]) AS x(message_id, emoji)
         WHERE r.user_id = ${userId}::uuid AND r.message_id = x.message_id AND r.emoji = x.emoji`
    },

    /**
     * Whether a message already carries this emoji (from anyone), and how
     * many distinct emoji it carries: what the cap of distinct reactions per
     * message is judged on, under the conversation's lock.
     */
    async distinctOn (messageId: string, emoji: string): Promise<{ present: boolean, distinct: number }> {
      const rows = await db.$queryRaw<Array<{ present: boolean | null, n: number }>>`
        SELECT bool_or(emoji = ${emoji}) AS present, count(DISTINCT emoji)::int AS n
          FROM message_reactions WHERE message_id = ${messageId}::uuid`
      return { present: rows[0]?.present === true, distinct: rows[0]?.n ?? 0 }
    },

    /** The distinct emoji a user has put on a message. */
    async ofUser (messageId: string, userId: string): Promise<string[]> {
      const rows = await db.$queryRaw<Array<{ emoji: string }>>`
        SELECT emoji FROM message_reactions WHERE message_id = ${messageId}::uuid AND user_id = ${userId}::uuid`
      return rows.map((r) => r.emoji)
    }
  }
}

export function createReactionsRepository ({ prisma, pool }: Database) {
  return {
    ...reactionStatements(prisma),

    /** The reactions of these messages as `viewerId` sees them (`me`: theirs); messages without any are absent. */
    async summaries (messageIds: string[], viewerId: string): Promise<Map<string, ReactionSummary[]>> {
      const byMessage = new Map<string, ReactionSummary[]>()
      if (messageIds.length === 0) return byMessage
      const { rows } = await pool.query<{ message_id: string, emoji: string, count: number, me: boolean }>(
        { name: 'reaction-summaries', text: SUMMARIES, values: [messageIds, viewerId] })
      for (const r of rows) {
        const list = byMessage.get(r.message_id) ?? []
        list.push({ emoji: r.emoji, count: r.count, me: r.me })
        byMessage.set(r.message_id, list)
      }
      return byMessage
    }
  }
}

export type ReactionsRepository = ReturnType<typeof createReactionsRepository>
