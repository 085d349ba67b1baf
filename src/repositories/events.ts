// Data access for the per-conversation event log and the seq counter on the
// conversation row. Every writer takes the conversation's row lock (lock or
// allocate) before it writes, so seqs are handed out one transaction at a time.
import { Prisma, type PrismaClient } from '../generated/prisma/client.js'

type Db = PrismaClient | Prisma.TransactionClient

export interface LockedConversation {
  id: string
  type: 'direct' | 'group'
  title: string | null
  createdAt: Date
  lastSeq: number
}

export interface EventRow { conversationId: string, seq: number, type: string, data: unknown, createdAt: Date }

export function createEventsRepository (db: Db) {
  return {
    /** Locks the conversation row until the transaction ends. */
    async lock (conversationId: string): Promise<LockedConversation | null> {
      const rows = await db.$queryRaw<Array<{ id: string, type: 'direct' | 'group', title: string | null, created_at: Date, last_seq: number }>>`
        SELECT id, type::text AS type, title, created_at, last_seq FROM conversations WHERE id = ${conversationId}::uuid FOR UPDATE`
      const row = rows[0]
      return row === undefined ? null : { id: row.id, type: row.type, title: row.title, createdAt: row.created_at, lastSeq: row.last_seq }
    },

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
    }
  }
}
