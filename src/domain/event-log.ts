// Transactions that write to a conversation, and the events they append.
// Seqs are taken inside the writing transaction (see the events repository);
// callers publish the returned events only once the transaction has committed.
import type { PrismaClient, Prisma } from '../generated/prisma/client.js'
import type { ChatEvent, ChatEventType } from './events.js'
import { createEventsRepository } from '../repositories/events.js'
import { notFound } from './errors.js'

export type Tx = Prisma.TransactionClient

// Writers of one conversation queue on its row lock; give them time to get a
// connection and to finish, within the statement timeout.
const TX_OPTIONS = { maxWait: 10_000, timeout: 15_000 }

export function inTransaction<T> (prisma: PrismaClient, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return prisma.$transaction(fn, TX_OPTIONS)
}

export interface EventDraft {
  type: ChatEventType
  /** The event's data, or a function of its seq (for data that names it). */
  data: unknown
  dataForSeq?: (seq: number) => unknown
}

/** member.added for one user; members.added (one event for all) when a request adds several. */
export function membersAdded (userIds: string[], by: string): EventDraft {
  return userIds.length === 1
    ? { type: 'member.added', data: { userId: userIds[0]!, by } }
    : { type: 'members.added', data: { userIds, by } }
}

/** Takes the next seqs of a (locked) conversation and writes one event per draft. */
export async function appendEvents (tx: Tx, conversationId: string, drafts: EventDraft[]): Promise<{ events: ChatEvent[], at: Date, lastSeq: number }> {
  const repo = createEventsRepository(tx)
  const taken = await repo.allocate(conversationId, drafts.length)
  if (taken === null) throw notFound('Conversation')
  const first = taken.lastSeq - drafts.length + 1
  const rows = drafts.map((d, i) => ({
    conversationId,
    seq: first + i,
    type: d.type,
    data: d.dataForSeq?.(first + i) ?? d.data,
    createdAt: taken.at
  }))
  await repo.insert(rows)
  return { events: rows.map((r) => toChatEvent(r)), at: taken.at, lastSeq: taken.lastSeq }
}

export const toChatEvent = (e: { conversationId: string, seq: number, type: string, data: unknown, createdAt: Date }): ChatEvent => ({
  conversationId: e.conversationId,
  seq: e.seq,
  type: e.type as ChatEventType,
  createdAt: e.createdAt.toISOString(),
  data: e.data
})
