// Uploads (src/domain/uploads.ts): their rows through Prisma and raw SQL.
// Posting attaches them inside post_messages (post-batch.ts); deletes mark
// them `deleting` in the same transaction as the change that frees them, and
// the files are removed after commit (purge), by the sweeper if need be.
import type { Client, Database } from './db.js'

export type UploadState = 'pending' | 'ready' | 'attached' | 'avatar' | 'picture' | 'deleting'
export type UploadKind = 'image' | 'video' | 'audio' | 'file'

export interface UploadRow {
  id: string
  ownerId: string
  conversationId: string | null
  messageId: string | null
  state: string
  kind: string
  filename: string
  contentType: string
  size: number
  width: number | null
  height: number | null
  placeholder: string | null
  storageKey: string
  thumbnailKey: string | null
  /** Bytes of the thumbnail (0 without one): counted against the quota with `size`. */
  thumbnailSize: number
  createdAt: Date
  completedAt: Date | null
}

/** What completing stores of an upload. */
export type ReadyFacts = Pick<UploadRow, 'kind' | 'contentType' | 'size' | 'width' | 'height' | 'placeholder' | 'thumbnailKey' | 'thumbnailSize' | 'storageKey'>

export interface DeletingRow { id: string, storageKey: string, thumbnailKey: string | null }

/** The statements that also run inside a transaction (see index.ts). */
export function uploadStatements (db: Client) {
  /**
   * Bytes the owner's uploads take with their thumbnails (not being deleted; pending ones by their declared size), but `except`'s,
   * with the owner's uploads serialized by an advisory lock until the transaction ends: two requests cannot
   * both take the last bytes.
   */
  async function lockedUsage (ownerId: string, except?: string): Promise<number> {
    await db.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('uploads:' || ${ownerId}))`
    const [used] = await db.$queryRaw<Array<{ bytes: bigint | null }>>`
      SELECT sum(size + thumbnail_size)::bigint AS bytes FROM uploads
       WHERE owner_id = ${ownerId}::uuid AND state <> 'deleting' AND id IS DISTINCT FROM ${except ?? null}::uuid`
    return Number(used?.bytes ?? 0)
  }

  /** Marks a pending upload ready with what completing found: the row as it now is, or null when it was no longer pending. */
  async function markReady (id: string, data: ReadyFacts): Promise<UploadRow | null> {
    const [row] = await db.upload.updateManyAndReturn({ where: { id, state: 'pending' }, data: { ...data, state: 'ready', completedAt: new Date() } })
    return row ?? null
  }

  return {
    find (id: string): Promise<UploadRow | null> {
      return db.upload.findUnique({ where: { id } })
    },

    /**
     * Inserts a pending upload unless it would take the owner past `quota`
     * bytes (see lockedUsage; in a transaction). Returns the new row, or null when refused.
     */
    async insertWithinQuota (row: Pick<UploadRow, 'id' | 'ownerId' | 'conversationId' | 'kind' | 'filename' | 'contentType' | 'size' | 'storageKey'>, quota: number): Promise<UploadRow | null> {
      if ((await lockedUsage(row.ownerId)) + row.size > quota) return null
      return db.upload.create({ data: { ...row, state: 'pending' } })
    },

    markReady,

    /**
     * markReady for a completion that stores more bytes than were declared (an image re-encoded without its
     * metadata, or with its thumbnail), which the quota counted so far: made ready only if the stored size keeps the owner within
     * `quota` (see lockedUsage; in a transaction). Past it the pending row is deleted: 'over'. null: no longer pending.
     */
    async markReadyWithinQuota (id: string, ownerId: string, data: ReadyFacts, quota: number): Promise<UploadRow | 'over' | null> {
      if ((await lockedUsage(ownerId, id)) + data.size + data.thumbnailSize <= quota) return markReady(id, data)
      const { count } = await db.upload.deleteMany({ where: { id, state: 'pending' } })
      return count === 1 ? 'over' : null
    },

    /** Uploads whose files are to go: state deleting (removed by purge). */
    async markDeleting (where: { ids?: string[], messageIds?: string[] }): Promise<void> {
      if (where.ids !== undefined && where.ids.length > 0) {
        await db.upload.updateMany({ where: { id: { in: where.ids } }, data: { state: 'deleting' } })
      }
      if (where.messageIds !== undefined && where.messageIds.length > 0) {
        await db.upload.updateMany({ where: { messageId: { in: where.messageIds } }, data: { state: 'deleting' } })
      }
    },

    /** A ready image of the owner becomes an avatar or picture; false when it is no such upload. */
    async claim (id: string, ownerId: string, state: 'avatar' | 'picture'): Promise<boolean> {
      const { count } = await db.upload.updateMany({ where: { id, ownerId, state: 'ready', kind: 'image' }, data: { state } })
      return count === 1
    },

    /**
     * An erased account's files: every upload of the owner but group pictures
     * (they belong to the group), and, when its messages are kept, but those
     * attached to them.
     */
    async markAccountDeleting (ownerId: string, keepAttached: boolean): Promise<void> {
      await db.upload.updateMany({
        where: { ownerId, state: { notIn: keepAttached ? ['picture', 'deleting', 'attached'] : ['picture', 'deleting'] } },
        data: { state: 'deleting' }
      })
    }
  }
}

export function createUploadsRepository ({ prisma }: Database) {
  return {
    ...uploadStatements(prisma),

    /**
     * The upload of an attachment with its message, when `userId` may see
     * that message: a current member whose window holds it (as history).
     */
    async visibleAttachment (id: string, userId: string): Promise<UploadRow | null> {
      const rows = await prisma.$queryRaw<UploadRow[]>`
        SELECT u.id, u.owner_id AS "ownerId", u.conversation_id AS "conversationId", u.message_id AS "messageId", u.state, u.kind,
               u.filename, u.content_type AS "contentType", u.size, u.width, u.height, u.placeholder, u.storage_key AS "storageKey",
               u.thumbnail_key AS "thumbnailKey", u.created_at AS "createdAt", u.completed_at AS "completedAt"
          FROM uploads u
          JOIN messages m ON m.id = u.message_id AND m.deleted_at IS NULL
          JOIN memberships me ON me.conversation_id = m.conversation_id AND me.user_id = ${userId}::uuid AND me.left_at IS NULL
         WHERE u.id = ${id}::uuid AND u.state = 'attached' AND m.seq >= me.joined_seq`
      return rows[0] ?? null
    },

    /** An upload shown as an avatar or group picture. */
    async media (id: string): Promise<UploadRow | null> {
      return prisma.upload.findFirst({ where: { id, state: { in: ['avatar', 'picture'] } } })
    },

    /**
     * Marks as deleting the uploads never attached (pending or ready) created
     * before `before`, skipping rows a post is attaching right now.
     */
    async expireUnattached (before: Date, limit: number): Promise<number> {
      return prisma.$executeRaw`
        UPDATE uploads SET state = 'deleting'
         WHERE id IN (SELECT id FROM uploads WHERE state IN ('pending', 'ready') AND created_at < ${before}
                       ORDER BY created_at LIMIT ${limit}::int FOR UPDATE SKIP LOCKED)`
    },

    deleting (limit: number): Promise<DeletingRow[]> {
      return prisma.upload.findMany({ where: { state: 'deleting' }, take: limit, orderBy: { createdAt: 'asc' }, select: { id: true, storageKey: true, thumbnailKey: true } })
    },

    /** Drops rows whose files are gone. */
    async dropDeleted (ids: string[]): Promise<void> {
      if (ids.length > 0) await prisma.upload.deleteMany({ where: { id: { in: ids }, state: 'deleting' } })
    },

    /** Removes a refused upload's row (its object is removed by the caller). */
    async drop (id: string): Promise<void> {
      await prisma.upload.deleteMany({ where: { id } })
    }
  }
}

export type UploadsRepository = ReturnType<typeof createUploadsRepository>
