// Pinned messages: changed under the conversation's lock (inside the writing
// transaction); the list is one statement (through Prisma) that checks the
// caller's membership and window as history does.
import { Prisma } from '../generated/prisma/client.js'
import type { Client, Database } from './db.js'
import { MESSAGE_COLUMNS, type MessageRow } from './messages.js'

export interface PinRow { messageId: string, pinnedBy: string, pinnedAt: Date }

/** The statements that also run inside a transaction (see index.ts). */
export function pinStatements (db: Client) {
  return {
    async find (messageId: string): Promise<PinRow | null> {
      return db.pin.findUnique({ where: { messageId }, select: { messageId: true, pinnedBy: true, pinnedAt: true } })
    },

    count (conversationId: string): Promise<number> {
      return db.pin.count({ where: { conversationId } })
    },

    async add (conversationId: string, messageId: string, pinnedBy: string, pinnedAt: Date): Promise<PinRow> {
      return db.pin.create({ data: { conversationId, messageId, pinnedBy, pinnedAt }, select: { messageId: true, pinnedBy: true, pinnedAt: true } })
    },

    /** Unpins these messages; the ones that were pinned, with their seqs, in seq order. */
    async remove (messageIds: string[]): Promise<Array<{ messageId: string, seq: number }>> {
      if (messageIds.length === 0) return []
      return db.$queryRaw<Array<{ messageId: string, seq: number }>>`
        WITH gone AS (DELETE FROM pins WHERE message_id = ANY(${messageIds}::uuid[]) RETURNING message_id)
        SELECT m.id AS "messageId", m.seq FROM gone JOIN messages m ON m.id = gone.message_id ORDER BY m.seq`
    }
  }
}

type RawPinnedMessage = MessageRow & { pinnedBy: string | null, pinnedAt: Date | null }

export function createPinsRepository ({ prisma }: Database) {
  return {
    ...pinStatements(prisma),

    /**
     * The pinned messages of a conversation that `userId` can see (from their
     * joining on), newest pin first; null when they are not a current member.
     */
    async list (conversationId: string, userId: string): Promise<Array<{ message: MessageRow, pinnedBy: string, pinnedAt: Date }> | null> {
      const rows = await prisma.$queryRaw<RawPinnedMessage[]>`
        SELECT ${Prisma.raw(MESSAGE_COLUMNS)}, p.pinned_by AS "pinnedBy", p.pinned_at AS "pinnedAt"
          FROM memberships me
          LEFT JOIN pins p ON p.conversation_id = me.conversation_id
          LEFT JOIN messages m ON m.id = p.message_id AND m.seq >= me.joined_seq
         WHERE me.conversation_id = ${conversationId}::uuid AND me.user_id = ${userId}::uuid AND me.left_at IS NULL
         ORDER BY p.pinned_at DESC NULLS LAST, m.seq DESC`
      if (rows.length === 0) return null
      return rows.filter((r) => r.id !== null && r.pinnedBy !== null).map(({ pinnedBy, pinnedAt, ...message }) => ({ message, pinnedBy: pinnedBy!, pinnedAt: pinnedAt! }))
    }
  }
}

export type PinsRepository = ReturnType<typeof createPinsRepository>
