// Blocking: a user blocks another. The blocked user cannot open or post into
// a direct conversation with the blocker (403 BLOCKED; posting is judged in
// post_messages under the conversation lock), cannot add the blocker to a
// group, and no longer sees the blocker's presence, typing or read receipts;
// the blocker gets no offline notification of their messages. In a shared
// group the messages stay in the log (replay stays exact): the client hides
// them with the list from GET /v1/me/blocks (keyset pages, most recent first).
import { createRepositories, type Database } from '../repositories/index.js'
import type { SafetyRepository } from '../repositories/safety.js'
import { decodeTimeIdCursor, encodeTimeIdCursor } from './cursors.js'
import { AppError, badRequest } from './errors.js'
import { inTransaction, type Tx } from './event-log.js'
import { assertLive, lockLive } from './live-accounts.js'

export interface BlockView { userId: string, username: string, displayName: string, blockedAt: string }

/** The block statements, on the pool or inside a transaction. */
type Blocks = Pick<Tx['safety'], 'blockersOf'>

/** Of `candidates`, those who have blocked `userId`. */
export function blockersOf (db: Blocks, userId: string, candidates: string[]): Promise<string[]> {
  return db.blockersOf(userId, candidates)
}

/** Refuses with 403 BLOCKED when any of `others` has blocked `userId`. */
export async function assertNotBlockedBy (db: Blocks, userId: string, others: string[]): Promise<void> {
  if ((await db.blockersOf(userId, others)).length > 0) throw new AppError(403, 'BLOCKED', 'A user you named has blocked you')
}

export function createBlockService (deps: Database) {
  const repos = createRepositories(deps)
  const safety: SafetyRepository = repos.safety
  return {
    /**
     * Blocks a user; blocking again changes nothing. Both accounts are locked
     * live (live-accounts.ts): a deletion of either erases its blocks both
     * ways, and a block racing it lands before that or is refused (the caller
     * deleted: 401; the user to block: 404).
     */
    async block (userId: string, targetId: string): Promise<void> {
      if (targetId === userId) throw badRequest('params/userId must be another user than the caller')
      await inTransaction(repos, async (tx) => {
        assertLive(await lockLive(tx, userId, [targetId]), [targetId])
        await tx.safety.block(userId, targetId)
      })
    },

    /** Unblocks; unblocking a user not blocked changes nothing. */
    async unblock (userId: string, targetId: string): Promise<void> {
      await safety.unblock(userId, targetId)
    },

    /**
     * Up to `limit` of the users the caller has blocked, most recent first
     * (then user id), after `cursor`; 400 VALIDATION_FAILED for a cursor this
     * API did not write.
     */
    async list (userId: string, opts: { limit: number, cursor?: string | undefined }): Promise<{ blocks: BlockView[], nextCursor: string | null }> {
      const after = opts.cursor === undefined ? undefined : decodeTimeIdCursor(opts.cursor)
      const rows = await safety.blocks(userId, after, opts.limit + 1)
      const page = rows.slice(0, opts.limit)
      const last = page[page.length - 1]
      return {
        blocks: page.map((r) => ({ userId: r.blockedId, username: r.username, displayName: r.displayName, blockedAt: r.createdAt.toISOString() })),
        nextCursor: rows.length > opts.limit && last !== undefined ? encodeTimeIdCursor({ at: last.createdAt, id: last.blockedId }) : null
      }
    },

    /** Of `candidates`, those who have blocked `userId` (a profile hides its presence from them). */
    blockersOf: (userId: string, candidates: string[]) => safety.blockersOf(userId, candidates)
  }
}

export type BlockService = ReturnType<typeof createBlockService>
