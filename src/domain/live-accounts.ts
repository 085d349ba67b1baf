// Writes racing an account's deletion. A write that makes an account a member,
// or stores something of it, locks the account's row inside its transaction
// (accounts.lockLive) and finds it live there: then the deletion, which locks
// the row to erase it, waits for the write's commit, and its later steps
// (leaving every conversation) see what the write did; or the write waits for
// the erasure and refuses. Checked before the transaction only, a deleted
// account came back as a member of conversations the deletion had already
// listed, or got its name, email, blocks or report notes back.
//
// Lock order: accounts' rows first (in id order, in one statement), then a
// conversation's row. The deletion never holds both: it erases under the
// account's row lock and commits, then leaves each conversation under that
// conversation's lock alone.
import type { Tx } from './event-log.js'
import { notFound, unauthorized } from './errors.js'

/**
 * Locks the acting user's row and those of `others` (the users the write is
 * about) until the transaction ends, in one statement. The acting user
 * deleted meanwhile: 401, as its deleted session's token gets. Returns which
 * of `others` are live: see assertLive.
 */
export async function lockLive (tx: Tx, actorId: string, others: string[] = [], mode: 'share' | 'update' = 'share'): Promise<Set<string>> {
  const live = await tx.accounts.lockLive([actorId, ...others], mode)
  if (!live.has(actorId)) throw unauthorized()
  return live
}

/** 404 NOT_FOUND (User) unless every one of `userIds` is among the `live` ones lockLive returned: a deleted account is no one. */
export function assertLive (live: Set<string>, userIds: string[]): void {
  if (userIds.some((id) => !live.has(id))) throw notFound('User')
}
