// Data access for users. Plain async functions over a Prisma client or
// transaction; no HTTP here.
import type { PrismaClient, Prisma } from '../generated/prisma/client.js'

type Db = PrismaClient | Prisma.TransactionClient

export const publicUserSelect = {
  id: true, username: true, displayName: true, createdAt: true, lastSeenAt: true
} as const

export function createUsersRepository (db: Db) {
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
