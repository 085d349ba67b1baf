// Deleting an account (App Store guideline 5.1.1(v)). In order:
// 1. the account row loses its personal data (display name replaced, username
//    freed, email and password hash removed), every session and reset token
//    goes, and so do its blocks (both ways), its app roles, the notes of its
//    reports and (when messages are erased) the bodies reports kept of its
//    messages, in one transaction; then its sockets close (4001);
// 2. in every conversation where it has messages or is a member, one
//    transaction per conversation (chunked for long histories): its messages
//    are erased as deletes are (message.deleted, earlier events redacted to the
//    tombstone) and its reactions taken back (reaction.removed) unless
//    DELETED_ACCOUNT_MESSAGES=keep, and it leaves
//    (member.removed; an owner hands ownership on first, as on leaving).
// The row itself stays: messages keep their senderId, and that id now shows a
// deleted user. Step 1 starts by locking the account's row FOR UPDATE: every
// write that makes the account a member or stores something of it holds that
// row's lock in its transaction (live-accounts.ts), so it committed before the
// erasure (and step 2, which lists the conversations only after that, sees
// it) or it finds the account deleted and refuses. A crash between steps
// leaves a row marked deleted with work left; finishPending (run at start-up)
// completes it: every step is idempotent.
import type { ChatEvent, RealtimePublisher } from './events.js'
import { createRepositories, type Database } from '../repositories/index.js'
import { appendEvents, inConversationTransaction, type EventDraft, type Tx } from './event-log.js'
import { toMessage } from './views.js'
import { handOver, successor } from './members.js'
import { unpinDeleted } from './pins.js'
import { membersSeeing, type ReactionEventData } from './reactions.js'
import { withdrawnInvitees, type AnnounceInvitationWithdrawn, type InvitationLimits } from './invitations.js'

export const DELETED_DISPLAY_NAME = 'Deleted user'
/** Messages erased (or reactions taken back) per transaction, so a long history does not hold a conversation's lock for long. */
const ERASE_CHUNK = 500

export interface AccountDeletionDeps extends Database, Pick<InvitationLimits, 'invitationTtlDays'> {
  publisher: RealtimePublisher
  /** Called after the commit in which the account left a group: the invitations it had sent there are withdrawn. */
  announceInvitationWithdrawn?: AnnounceInvitationWithdrawn
  messages: 'erase' | 'keep'
  onSessionsRevoked (sessionIds: string[], userId: string): void
  /** Called after commits that marked files for removal (see uploads.ts). */
  onFilesReleased?: () => void
}

export function createAccountDeletionService (deps: AccountDeletionDeps) {
  const { publisher } = deps
  const repos = createRepositories(deps)
  const erase = deps.messages === 'erase'

  /** Step 1; null when the account is deleted already (a deletion in parallel took it first). */
  function eraseIdentity (userId: string, within?: (tx: Tx) => Promise<void>): Promise<string[] | null> {
    return repos.transaction(async (tx) => {
      if (!(await tx.accounts.lockLive([userId], 'update')).has(userId)) return null
      await within?.(tx)
      const sessions = await tx.accounts.eraseIdentity(userId, DELETED_DISPLAY_NAME, new Date())
      await tx.safety.eraseAccount(userId, erase)
      // Its avatar and uploads never posted go now; attached ones with their messages (below), or stay when messages are kept.
      await tx.uploads.markAccountDeleting(userId, true)
      await tx.accounts.clearAvatar(userId)
      return sessions
    })
  }

  /** One step in one conversation, under its lock; false once nothing is left to do there. */
  async function step (userId: string, conversationId: string): Promise<boolean> {
    const result = await inConversationTransaction(repos, conversationId, async (tx: Tx) => {
      const conversation = await tx.conversations.lock(conversationId)
      if (conversation === null) return null
      const repo = tx.conversations
      const members = await repo.members(conversationId)
      const me = members.find((m) => m.userId === userId)
      const recipients = members.map((m) => m.userId)
      const events: ChatEvent[] = []
      /** Recipients of the events that go to fewer than all members, by seq. */
      const narrowed = new Map<number, string[]>()
      // An event about a message goes to the members whose window holds it. Those
      // sets are nested (a later message is seen by at least the same members), so
      // one of a given size is one set: kept once, runs of events share it.
      const bySize = new Map<number, string[]>()
      const about = (seq: number, messageSeq: number) => {
        const seeing = membersSeeing(members, messageSeq)
        if (seeing.length === recipients.length) return
        if (!bySize.has(seeing.length)) bySize.set(seeing.length, seeing)
        narrowed.set(seq, bySize.get(seeing.length)!)
      }
      let more = false
      let withdrawn: string[] = []
      if (erase) {
        const rows = await tx.messages.liveBySender(conversationId, userId, ERASE_CHUNK + 1)
        more = rows.length > ERASE_CHUNK
        const chunk = rows.slice(0, ERASE_CHUNK)
        if (chunk.length > 0) {
          const written = await appendEvents(tx, conversationId, chunk.map((m) => ({
            type: 'message.deleted' as const,
            data: null,
            dataFor: (_seq: number, at: Date) => toMessage({ ...m, body: '', deletedAt: at, mentions: [], mentionsAll: false, attachments: [], metadata: null })
          })))
          await tx.messages.erase(chunk.map((m) => m.id), written.at)
          // Erased replies leave their threads' summaries (threads.ts).
          await tx.messages.refreshThreads([...new Set(chunk.flatMap((m) => m.threadRootId === null ? [] : [m.threadRootId]))])
          await tx.uploads.markDeleting({ messageIds: chunk.map((m) => m.id) })
          // Earlier events of these messages show the tombstone too: a replay brings no erased text back.
          await tx.events.redactMessages(conversationId, chunk[0]!.seq, chunk.map((m, i) => ({ id: m.id, data: written.events[i]!.data })))
          events.push(...written.events)
          chunk.forEach((m, i) => about(written.events[i]!.seq, m.seq))
          // Pinned ones are unpinned, each event to the members who see that message (pins.ts).
          for (const e of await unpinDeleted(tx, conversationId, chunk.map((m) => m.id), userId)) {
            events.push(e)
            about(e.seq, (e.data as { messageSeq: number }).messageSeq)
          }
        }
      }
      if (erase && !more) {
        // Its reactions are taken back (its own messages' went with them), each
        // reaction.removed to the members who see that message, as an unreact.
        const rows = await tx.reactions.ofUserIn(conversationId, userId, ERASE_CHUNK + 1)
        more = rows.length > ERASE_CHUNK
        const chunk = rows.slice(0, ERASE_CHUNK)
        if (chunk.length > 0) {
          await tx.reactions.removeAll(userId, chunk)
          const written = await appendEvents(tx, conversationId, chunk.map((r) => ({
            type: 'reaction.removed' as const,
            data: { messageId: r.messageId, messageSeq: r.messageSeq, userId, emoji: r.emoji } satisfies ReactionEventData
          })))
          for (const e of written.events) {
            events.push(e)
            about(e.seq, (e.data as ReactionEventData).messageSeq)
          }
        }
      }
      if (!more && me !== undefined) {
        const drafts: EventDraft[] = []
        const remaining = members.filter((m) => m.userId !== userId)
        // As when an owner leaves.
        const heir = me.role === 'owner' ? successor(remaining) : undefined
        if (heir !== undefined) drafts.push(...await handOver(tx, conversationId, heir.userId, userId))
        drafts.push({ type: 'member.removed', data: { userId, by: userId } })
        const written = await appendEvents(tx, conversationId, drafts)
        // The invitations it sent there end as it leaves.
        withdrawn = withdrawnInvitees(await repo.markLeft(conversationId, userId, written.at, written.lastSeq), deps)
        events.push(...written.events)
      }
      return { events, recipients, narrowed, more, withdrawn }
    })
    if (result === null) return false
    // In seq order, as runs of events with the same recipients.
    let run: ChatEvent[] = []
    let runRecipients = result.recipients
    for (const e of result.events) {
      const to = result.narrowed.get(e.seq) ?? result.recipients
      if (to !== runRecipients && run.length > 0) {
        publisher.publishEvents(run, runRecipients)
        run = []
      }
      runRecipients = to
      run.push(e)
    }
    if (run.length > 0) publisher.publishEvents(run, runRecipients)
    if (result.withdrawn.length > 0) deps.announceInvitationWithdrawn?.(result.withdrawn, conversationId)
    return result.more
  }

  /** Step 2. One listing is enough: once the erasure committed, no write can make the account a member again. */
  async function leaveAll (userId: string): Promise<void> {
    for (const conversationId of await repos.accounts.pendingConversations(userId, erase)) {
      while (await step(userId, conversationId));
    }
  }

  return {
    /**
     * Deletes the account (its password was checked by the caller, or an
     * operator asked for it). `within` runs in the transaction that erases
     * the identity, under the account's row lock (an operator's audit entry),
     * and can refuse by throwing. False, with nothing done (`within` not
     * run), when the account is unknown or deleted already: of deletions in
     * parallel, one does it.
     */
    async deleteAccount (userId: string, within?: (tx: Tx) => Promise<void>): Promise<boolean> {
      const sessions = await eraseIdentity(userId, within)
      if (sessions === null) return false
      if (sessions.length > 0) deps.onSessionsRevoked(sessions, userId)
      await leaveAll(userId)
      deps.onFilesReleased?.()
      return true
    },

    /** Finishes deletions that were interrupted (a crash between the steps); returns how many. */
    async finishPending (): Promise<number> {
      const pending = await repos.accounts.pendingDeletions(erase)
      for (const id of pending) await leaveAll(id)
      if (pending.length > 0) deps.onFilesReleased?.()
      return pending.length
    }
  }
}

export type AccountDeletionService = ReturnType<typeof createAccountDeletionService>
