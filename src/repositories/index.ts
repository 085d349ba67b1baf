// The repositories of one database, by aggregate, and its transactions: a
// transaction hands its callback the same repositories bound to it (only
// their statements that can run inside one: what reads on the pool cannot).
// Presence (presence.ts) serves the realtime layer, and the group commit of
// posts (post-batch.ts) is a transaction of its own in one function call.
import { accountStatements, createAccountsRepository } from './accounts.js'
import { conversationStatements, createConversationsRepository } from './conversations.js'
import type { Database } from './db.js'
import { queueOf, TurnTimeout } from '../db/keyed-queue.js'
import { createEventsRepository, eventStatements } from './events.js'
import { createInvitesRepository, inviteStatements } from './invites.js'
import { createMessagesRepository, messageStatements } from './messages.js'
import { createPinsRepository, pinStatements } from './pins.js'
import { createReactionsRepository, reactionStatements } from './reactions.js'
import { createSafetyRepository, safetyStatements } from './safety.js'
import { createThreadsRepository } from './threads.js'
import { createSessionsRepository, sessionStatements } from './sessions.js'
import { createUploadsRepository, uploadStatements } from './uploads.js'
import { createUsersRepository, userStatements } from './users.js'

export type { Database } from './db.js'

export interface TransactionOptions {
  /** Longest wait for a connection. */
  maxWaitMs: number
  /** Longest the transaction may stay open. */
  timeoutMs: number
}

// The writers of one conversation queue on its row lock (FOR UPDATE). Each of them waiting there would hold a
// connection of the pool the while: a burst of reactions to one message took every connection, and the
// requests of every other conversation timed out waiting for one (503). So the transactions that lock one
// conversation take a connection one at a time in each process: the others wait in memory, in turn, at most as
// long as a transaction waits for a connection. One queue per pool (per app).
export function createRepositories (db: Database) {
  const conversationQueue = queueOf(db.pool, 'conversation-writes')
  const repositories = {
    accounts: createAccountsRepository(db),
    conversations: createConversationsRepository(db),
    events: createEventsRepository(db),
    invites: createInvitesRepository(db),
    messages: createMessagesRepository(db),
    threads: createThreadsRepository(db),
    reactions: createReactionsRepository(db),
    pins: createPinsRepository(db),
    safety: createSafetyRepository(db),
    sessions: createSessionsRepository(db),
    uploads: createUploadsRepository(db),
    users: createUsersRepository(db),

    /** Runs `fn` in one transaction; it commits when `fn` resolves and rolls back when it throws. */
    transaction<T> (fn: (tx: Transaction) => Promise<T>, opts?: TransactionOptions): Promise<T> {
      return db.prisma.$transaction((client) => fn({
        accounts: accountStatements(client),
        conversations: conversationStatements(client),
        events: eventStatements(client),
        invites: inviteStatements(client),
        messages: messageStatements(client),
        reactions: reactionStatements(client),
        pins: pinStatements(client),
        safety: safetyStatements(client),
        sessions: sessionStatements(client),
        uploads: uploadStatements(client),
        users: userStatements(client)
      }), opts === undefined ? undefined : { maxWait: opts.maxWaitMs, timeout: opts.timeoutMs })
    },

    /**
     * `transaction` for a write that locks conversation `conversationId` (and no other): in this process, one
     * such transaction per conversation at a time holds a connection, the next one starting when it has ended.
     */
    conversationTransaction<T> (conversationId: string, fn: (tx: Transaction) => Promise<T>, opts: TransactionOptions): Promise<T> {
      const started = Date.now()
      return conversationQueue(conversationId, opts.maxWaitMs, () =>
        repositories.transaction(fn, { ...opts, maxWaitMs: Math.max(1, opts.maxWaitMs - (Date.now() - started)) }), () => new TurnTimeout('Timed out waiting for a turn to write to the conversation'))
    }
  }
  return repositories
}

export type Repositories = ReturnType<typeof createRepositories>

/** The repositories inside one transaction. */
export interface Transaction {
  accounts: ReturnType<typeof accountStatements>
  conversations: ReturnType<typeof conversationStatements>
  events: ReturnType<typeof eventStatements>
  invites: ReturnType<typeof inviteStatements>
  messages: ReturnType<typeof messageStatements>
  reactions: ReturnType<typeof reactionStatements>
  pins: ReturnType<typeof pinStatements>
  safety: ReturnType<typeof safetyStatements>
  sessions: ReturnType<typeof sessionStatements>
  uploads: ReturnType<typeof uploadStatements>
  users: ReturnType<typeof userStatements>
}
