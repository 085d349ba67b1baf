// Blocking: a user blocks another. The blocked user cannot open or post into
// a direct conversation with the blocker (403 BLOCKED; posting is judged in
// post_messages under the conversation lock), cannot add the blocker to a
// group, and no longer sees the blocker's presence, typing or read receipts;
// the blocker gets no offline notification of their messages. In a shared
// group the messages stay in the log (replay stays exact): the client hides
// them with the list from GET /v1/me/blocks.
import type { PrismaClient } from '../generated/prisma/client.js'
import { AppError, badRequest, notFound } from './errors.js'

export interface BlockView { userId: string, username: string, displayName: string, blockedAt: string }

type Db = Pick<PrismaClient, 'block' | 'user'>

/** Of `candidates`, those who have blocked `userId`. */
export async function blockersOf (db: Pick<PrismaClient, 'block'>, userId: string, candidates: string[]): Promise<string[]> {
  if (candidates.length === 0) return []
  const rows = await db.block.findMany({ where: { blockedId: userId, blockerId: { in: candidates } }, select: { blockerId: true } })
  return rows.map((r) => r.blockerId)
}

/** Refuses with 403 BLOCKED when any of `others` has blocked `userId`. */
export async function assertNotBlockedBy (db: Pick<PrismaClient, 'block'>, userId: string, others: string[]): Promise<void> {
  if ((await blockersOf(db, userId, others)).length > 0) throw new AppError(403, 'BLOCKED', 'A user you named has blocked you')
}

/** `userIds` without those `userId` has blocked: who may see `userId`'s ephemeral frames (read receipts). */
export async function withoutBlockedBy (db: Pick<PrismaClient, 'block'>, userId: string, userIds: string[]): Promise<string[]> {
  if (userIds.length === 0) return userIds
  const rows = await db.block.findMany({ where: { blockerId: userId, blockedId: { in: userIds } }, select: { blockedId: true } })
  if (rows.length === 0) return userIds
  const hidden = new Set(rows.map((r) => r.blockedId))
  return userIds.filter((id) => !hidden.has(id))
}

export function createBlockService (db: Db) {
  return {
    /** Blocks a user; blocking again changes nothing. */
    async block (userId: string, targetId: string): Promise<void> {
      if (targetId === userId) throw badRequest('params/userId must be another user than the caller')
      if ((await db.user.count({ where: { id: targetId } })) === 0) throw notFound('User')
      await db.block.upsert({
        where: { blockerId_blockedId: { blockerId: userId, blockedId: targetId } },
        create: { blockerId: userId, blockedId: targetId },
        update: {}
      })
    },

    /** Unblocks; unblocking a user not blocked changes nothing. */
    async unblock (userId: string, targetId: string): Promise<void> {
      await db.block.deleteMany({ where: { blockerId: userId, blockedId: targetId } })
    },

    /** Everyone the caller has blocked, most recent first. */
    async list (userId: string): Promise<{ blocks: BlockView[] }> {
      const rows = await db.block.findMany({
        where: { blockerId: userId },
        orderBy: { createdAt: 'desc' },
        include: { blocked: { select: { username: true, displayName: true } } }
      })
      return {
        blocks: rows.map((r) => ({ userId: r.blockedId, username: r.blocked.username, displayName: r.blocked.displayName, blockedAt: r.createdAt.toISOString() }))
      }
    }
  }
}

export type BlockService = ReturnType<typeof createBlockService>
