// Transactions that write to a conversation, and the events they append.
// Seqs are taken inside the writing transaction (see the events repository);
// callers publish the returned events only once the transaction has committed.
import type { ChatEvent, ChatEventType } from './events.js'
import type { LockedConversation, MemberRow } from '../repositories/conversations.js'
import type { Repositories, Transaction } from '../repositories/index.js'
import { notFound } from './errors.js'

export type Tx = Transaction

// Writers of one conversation queue on its row lock (and those of one account
// on the account's: live-accounts.ts); give them time to get a connection and
// to finish, within the statement timeout.
const TX_OPTIONS = { maxWaitMs: 10_000, timeoutMs: 15_000 }

export function inTransaction<T> (repos: Repositories, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return repos.transaction(fn, TX_OPTIONS)
}

/**
 * `inTransaction` for a write that locks one conversation (lockAsMember, or its
 * lock): such writes of one conversation take turns for a connection, so that
 * a burst of them holds one of the pool's connections, not all of them.
 */
export function inConversationTransaction<T> (repos: Repositories, conversationId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return repos.conversationTransaction(conversationId, fn, TX_OPTIONS)
}

export interface EventDraft {
  type: ChatEventType
  /** The event's data, or a function of its seq and time (for data that names them, or a change made at that time). */
  data: unknown
  dataFor?: (seq: number, at: Date) => unknown
}

/**
 * Locks a conversation (until the transaction ends) and loads its members:
 * the one way every write checks that the caller is a member, so the member
 * list it checks is the one it changes (read again under the lock). A
 * stranger and a removed member get the same 404 as a conversation that does
 * not exist.
 */
export async function lockAsMember (tx: Tx, conversationId: string, userId: string): Promise<{ conversation: LockedConversation, members: MemberRow[], me: MemberRow }> {
  // A stranger's request never takes the lock (an indexed read first): else
  // anyone could loop a write on a public channel and hold up its posts.
  if ((await tx.conversations.findMember(conversationId, userId)) === null) throw notFound('Conversation')
  const conversation = await tx.conversations.lock(conversationId)
  const members = conversation === null ? [] : await tx.conversations.members(conversationId)
  const me = members.find((m) => m.userId === userId)
  if (conversation === null || me === undefined) throw notFound('Conversation')
  return { conversation, members, me }
}

/** member.added for one user; members.added (one event for all) when a request adds several. */
export function membersAdded (userIds: string[], by: string): EventDraft {
  return userIds.length === 1
    ? { type: 'member.added', data: { userId: userIds[0]!, by } }
    : { type: 'members.added', data: { userIds, by } }
}

/** Takes the next seqs of a (locked) conversation and writes one event per draft. */
export async function appendEvents (tx: Tx, conversationId: string, drafts: EventDraft[]): Promise<{ events: ChatEvent[], at: Date, lastSeq: number }> {
  const taken = await tx.events.allocate(conversationId, drafts.length)
  if (taken === null) throw notFound('Conversation')
  const first = taken.lastSeq - drafts.length + 1
  const rows = []
  for (const [i, d] of drafts.entries()) {
    const seq = first + i
    rows.push({ conversationId, seq, type: d.type, data: d.dataFor === undefined ? d.data : await d.dataFor(seq, taken.at), createdAt: taken.at })
  }
  await tx.events.insert(rows)
  return { events: rows.map((r) => toChatEvent(r)), at: taken.at, lastSeq: taken.lastSeq }
}

export const toChatEvent = (e: { conversationId: string, seq: number, type: string, data: unknown, createdAt: Date }): ChatEvent => ({
  conversationId: e.conversationId,
  seq: e.seq,
  type: e.type as ChatEventType,
  createdAt: e.createdAt.toISOString(),
  data: e.data
})
