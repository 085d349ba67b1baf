// Deleting an account (App Store guideline 5.1.1(v)). In order:
// 1. the account row loses its personal data (display name replaced, username
//    freed, email and password hash removed) and every session and reset token
//    goes, in one transaction; then its sockets close (4001);
// 2. in every conversation where it has messages or is a member, one
//    transaction per conversation (chunked for long histories): its messages
//    are erased as deletes are (message.deleted, earlier events redacted to the
//    tombstone) unless DELETED_ACCOUNT_MESSAGES=keep, and it leaves
//    (member.removed; an owner hands ownership on first, as on leaving).
// The row itself stays: messages keep their senderId, and that id now shows a
// deleted user. A crash between steps leaves a row marked deleted with work
// left; finishPending (run at start-up) completes it: every step is idempotent.
import type pg from 'pg'
import type { PrismaClient } from '../generated/prisma/client.js'
import type { ChatEvent, RealtimePublisher } from './events.js'
import { createConversationsRepository } from '../repositories/conversations.js'
import { createEventsRepository } from '../repositories/events.js'
import { appendEvents, inTransaction, type EventDraft, type Tx } from './event-log.js'
import type { MessageRow } from '../repositories/messages.js'
import { messageSelect } from '../repositories/messages.js'
import { toMessage } from './views.js'

export const DELETED_DISPLAY_NAME = 'Deleted user'
/** Messages erased per transaction, so a long history does not hold a conversation's lock for long. */
const ERASE_CHUNK = 500

/** A username no one can register or search for (`~` is outside the username alphabet), unique by the id. */
export const deletedUsername = (userId: string) => `~${userId.replace(/-/g, '').slice(1)}`

export interface AccountDeletionDeps {
  prisma: PrismaClient
  pool: pg.Pool
  publisher: RealtimePublisher
  messages: 'erase' | 'keep'
  onSessionsRevoked (sessionIds: string[], userId: string): void
}

export function createAccountDeletionService (deps: AccountDeletionDeps) {
  const { prisma, publisher } = deps

  async function eraseIdentity (userId: string): Promise<string[]> {
    return prisma.$transaction(async (tx) => {
      await tx.user.update({
        where: { id: userId },
        data: {
          username: deletedUsername(userId),
          displayName: DELETED_DISPLAY_NAME,
          passwordHash: '',
          email: null,
          emailVerifiedAt: null,
          pendingEmail: null,
          emailCodeHash: null,
          emailCodeExpiresAt: null,
          lastSeenAt: null,
          deletedAt: new Date()
        },
        select: { id: true }
      })
      const sessions = await tx.session.findMany({ where: { userId }, select: { id: true } })
      // Refresh tokens go with their sessions (cascade).
      await tx.session.deleteMany({ where: { userId } })
      await tx.passwordReset.deleteMany({ where: { userId } })
      return sessions.map((s) => s.id)
    })
  }

  /** Conversations where the user still has something to undo: a membership, or (erase) a live message. */
  async function pendingConversations (userId: string): Promise<string[]> {
    const { rows } = await deps.pool.query<{ id: string }>(
      `SELECT conversation_id AS id FROM memberships WHERE user_id = $1 AND left_at IS NULL
       UNION
       SELECT DISTINCT conversation_id FROM messages WHERE sender_id = $1 AND deleted_at IS NULL AND $2`,
      [userId, deps.messages === 'erase'])
    return rows.map((r) => r.id)
  }

  /** One step in one conversation, under its lock; false once nothing is left to do there. */
  async function step (userId: string, conversationId: string): Promise<boolean> {
    const result = await inTransaction(prisma, async (tx: Tx) => {
      const conversation = await createEventsRepository(tx).lock(conversationId)
      if (conversation === null) return null
      const repo = createConversationsRepository(tx)
      const members = await repo.members(conversationId)
      const me = members.find((m) => m.userId === userId)
      const recipients = members.map((m) => m.userId)
      const events: ChatEvent[] = []
      let more = false
      if (deps.messages === 'erase') {
        const rows: MessageRow[] = await tx.message.findMany({
          where: { conversationId, senderId: userId, deletedAt: null },
          orderBy: { seq: 'asc' },
          take: ERASE_CHUNK + 1,
          select: messageSelect
        })
        more = rows.length > ERASE_CHUNK
        const chunk = rows.slice(0, ERASE_CHUNK)
        if (chunk.length > 0) {
          const written = await appendEvents(tx, conversationId, chunk.map((m) => ({
            type: 'message.deleted' as const,
            data: null,
            dataFor: (_seq: number, at: Date) => toMessage({ ...m, body: '', deletedAt: at })
          })))
          const ids = chunk.map((m) => m.id)
          await tx.$executeRaw`UPDATE messages SET body = '', deleted_at = ${written.at} WHERE id = ANY(${ids}::uuid[])`
          // Earlier events of these messages show the tombstone too: a replay brings no erased text back.
          await tx.$executeRaw`
            UPDATE events e SET data = t.data
              FROM unnest(${ids}::text[], ${written.events.map((e) => JSON.stringify(e.data))}::jsonb[]) AS t(id, data)
             WHERE e.conversation_id = ${conversationId}::uuid AND e.seq >= ${chunk[0]!.seq}::int
               AND e.type IN ('message.created', 'message.updated') AND e.data->>'id' = t.id`
          events.push(...written.events)
        }
      }
      if (!more && me !== undefined) {
        const drafts: EventDraft[] = []
        const remaining = members.filter((m) => m.userId !== userId)
        // As when an owner leaves: the longest-standing admin, else the longest-standing member.
        const heir = me.role === 'owner' ? (remaining.find((m) => m.role === 'admin') ?? remaining[0]) : undefined
        if (heir !== undefined) {
          await repo.setRole(conversationId, heir.userId, 'owner')
          drafts.push({ type: 'member.updated', data: { userId: heir.userId, role: 'owner', by: userId } })
        }
        drafts.push({ type: 'member.removed', data: { userId, by: userId } })
        const written = await appendEvents(tx, conversationId, drafts)
        await repo.markLeft(conversationId, userId, written.at, written.lastSeq)
        events.push(...written.events)
      }
      return { events, recipients, more }
    })
    if (result === null) return false
    if (result.events.length > 0) publisher.publishEvents(result.events, result.recipients)
    return result.more
  }

  async function leaveAll (userId: string): Promise<void> {
    for (const conversationId of await pendingConversations(userId)) {
      while (await step(userId, conversationId));
    }
  }

  return {
    /** Deletes the account (its password was checked by the caller). */
    async deleteAccount (userId: string): Promise<void> {
      const sessions = await eraseIdentity(userId)
      if (sessions.length > 0) deps.onSessionsRevoked(sessions, userId)
      await leaveAll(userId)
    },

    /** Finishes deletions that were interrupted (a crash between the steps); returns how many. */
    async finishPending (): Promise<number> {
      const { rows } = await deps.pool.query<{ id: string }>(
        `SELECT u.id FROM users u WHERE u.deleted_at IS NOT NULL AND (
           EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.left_at IS NULL)
           OR ($1 AND EXISTS (SELECT 1 FROM messages g WHERE g.sender_id = u.id AND g.deleted_at IS NULL)))`,
        [deps.messages === 'erase'])
      for (const { id } of rows) await leaveAll(id)
      return rows.length
    }
  }
}

export type AccountDeletionService = ReturnType<typeof createAccountDeletionService>
