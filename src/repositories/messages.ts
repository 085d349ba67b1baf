// Data access for messages (writes and lookups; pages are in pages.ts).
import { Prisma, type PrismaClient } from '../generated/prisma/client.js'

type Db = PrismaClient | Prisma.TransactionClient

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
  deletedAt: true
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
}

export type HistoryCursor = { before: number } | { after: number } | { latest: true }

export function createMessagesRepository (db: Db) {
  return {
    find (conversationId: string, id: string): Promise<MessageRow | null> {
      return db.message.findFirst({ where: { id, conversationId }, select: messageSelect })
    },

    update (id: string, data: { body: string, editedAt?: Date, deletedAt?: Date }): Promise<MessageRow> {
      return db.message.update({ where: { id }, data, select: messageSelect })
    },

    /**
     * Replaces the data of a message's earlier created/updated events with its
     * tombstone, so a replay does not bring deleted text back.
     */
    async redactEvents (conversationId: string, messageId: string, fromSeq: number, tombstone: unknown): Promise<void> {
      await db.$executeRaw`
        UPDATE events SET data = ${JSON.stringify(tombstone)}::jsonb
         WHERE conversation_id = ${conversationId}::uuid AND seq >= ${fromSeq}::int
           AND type IN ('message.created', 'message.updated') AND data->>'id' = ${messageId}`
    }
  }
}
