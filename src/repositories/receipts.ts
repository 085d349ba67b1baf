// Receipts (a read, a delivery, a thread read): a member's position moves and
// the users told of it are read in one transaction on the pool, after taking
// the conversation's row FOR KEY SHARE. Every change of the member list
// (adding, removing, leaving, banning, an account's deletion) locks that row
// FOR UPDATE first, so it either committed before the lock was granted (then
// the statements after it see the change: a removed reader's position does
// not move, a removed member is not told) or waits for this commit: the
// receipt is published as soon as this commits, while the removal still has
// its own statements and commit to run before it publishes its member.removed.
// KEY SHARE waits only for the writers that lock the row FOR UPDATE (through
// lockAsMember: membership changes, but also edits, reactions, pins,
// moderation), and never for posts (FOR NO KEY UPDATE) nor other receipts.
//
// While such a writer holds the row, the receipts of its conversation wait
// for it, each with a connection: a burst of them (the read and delivered
// receipts of a busy group) took every connection of the pool, and every
// other request of the process answered 503. So at most RECEIPT_TURNS receipt
// transactions per conversation hold a connection at once in each process;
// the others wait in memory, in turn, at most as long as a request waits for
// a connection (then 503, as when none came).
import type pg from 'pg'
import { queueOf, TurnTimeout } from '../db/keyed-queue.js'
import { inTransaction } from '../db/pool.js'

/** A position that moved, and the users whose sockets are told of it. */
export interface Receipt { seq: number, recipients: string[] }

/** Receipt transactions of one conversation holding a connection at once, per process. */
export const RECEIPT_TURNS = 2
/**
 * Runs `fn` in one transaction on a connection of `pool`, in turn with the
 * other receipts of the conversation (see above); it commits when `fn`
 * resolves and rolls back when it throws. `fn` takes lockMemberList before it
 * reads who is told.
 */
export function inReceiptTransaction<T> (pool: pg.Pool, conversationId: string, fn: (db: pg.PoolClient) => Promise<T>): Promise<T> {
  const queue = queueOf(pool, 'receipts', RECEIPT_TURNS)
  // As long as a request waits for a connection (0: the pool's "no limit"; a turn still has one).
  return queue(conversationId, pool.options.connectionTimeoutMillis || 10_000, () => inTransaction(pool, fn),
    () => new TurnTimeout('Timed out waiting for a turn of the conversation\'s receipts'))
}

/**
 * Holds the conversation's member list as it is until the transaction ends
 * (see above), when `userId` is a current member: false (and no lock) for
 * anyone else, so a stranger's loop of receipts holds up nothing. Whether
 * they are still a member once the lock is granted is for the next statement.
 */
export async function lockMemberList (db: pg.PoolClient, conversationId: string, userId: string): Promise<boolean> {
  const { rowCount } = await db.query({
    name: 'receipt-lock-members',
    text: `SELECT 1 FROM conversations c
            WHERE c.id = $1::uuid
              AND EXISTS (SELECT 1 FROM memberships m WHERE m.conversation_id = $1::uuid AND m.user_id = $2::uuid AND m.left_at IS NULL)
              FOR KEY SHARE OF c`,
    values: [conversationId, userId]
  })
  return rowCount === 1
}

/**
 * A member's position moved by `update` (an UPDATE of memberships for
 * conversation $1 and user $2, to $3 at most, RETURNING the new position as
 * `seq`), and who is told of it, in one receipt transaction: null when it did
 * not move or the user is no current member. `excludeSelf`: the mover's own
 * devices are not told.
 */
export function advanceReceipt (pool: pg.Pool, move: { name: string, update: string, excludeSelf: boolean }, conversationId: string, userId: string, seq: number): Promise<Receipt | null> {
  return inReceiptTransaction(pool, conversationId, async (tx) => {
    if (!(await lockMemberList(tx, conversationId, userId))) return null
    const { rows } = await tx.query<Receipt>({
      name: move.name,
      text: `WITH moved AS (${move.update}) SELECT seq, ${receiptAudience(move.excludeSelf)} AS recipients FROM moved`,
      values: [conversationId, userId, seq]
    })
    return rows[0] ?? null
  })
}

/**
 * The SQL of who is told of `$2`'s receipt in conversation `$1`: its current
 * members, but those `$2` has blocked (who see none of their ephemeral frames).
 */
export const receiptAudience = (excludeSelf: boolean) => `
  ARRAY(SELECT o.user_id FROM memberships o
         WHERE o.conversation_id = $1::uuid AND o.left_at IS NULL${excludeSelf ? ' AND o.user_id <> $2::uuid' : ''}
           AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $2::uuid AND b.blocked_id = o.user_id))`
