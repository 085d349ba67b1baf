// Users: accounts, profiles and prefix search, through Prisma. Their last-seen
// time is written with presence changes (presence.ts).
import type { Client, Database } from './db.js'

export const publicUserSelect = {
  id: true, username: true, displayName: true, createdAt: true, lastSeenAt: true, avatarUploadId: true
} as const

/** The statements that also run inside a transaction (see index.ts). */
export function userStatements (db: Client) {
  return {
    create (data: { id: string, username: string, displayName: string, passwordHash: string }) {
      return db.user.create({ data, select: publicUserSelect })
    },
    findCredentials (username: string) {
      return db.user.findUnique({ where: { username }, select: { ...publicUserSelect, passwordHash: true } })
    },
    findById (id: string) {
      return db.user.findUnique({ where: { id }, select: publicUserSelect })
    },
    /** Which of these user ids exist (deleted accounts do not). */
    async existing (userIds: string[]): Promise<Set<string>> {
      if (userIds.length === 0) return new Set()
      const found = await db.user.findMany({ where: { id: { in: userIds }, deletedAt: null }, select: { id: true } })
      return new Set(found.map((u) => u.id))
    },
    /** Username prefix search, in username order, with keyset paging. */
    searchByPrefix (prefix: string, limit: number) {
      return db.user.findMany({
        // LIKE wildcards in the prefix are literal characters here.
        where: { username: { startsWith: prefix.replace(/[\\%_]/g, '\\$&') } },
        orderBy: { username: 'asc' },
        take: limit,
        select: publicUserSelect
      })
    }
  }
}

export function createUsersRepository ({ prisma }: Database) {
  return userStatements(prisma)
}

export type UsersRepository = ReturnType<typeof createUsersRepository>
