// Users as others see them: the caller's own profile, a public profile and
// prefix search, with presence from the realtime layer's port.
import type { Database } from '../repositories/index.js'
import { createUsersRepository } from '../repositories/users.js'
import { notFound } from './errors.js'

/** Who is online, on any process (the realtime layer's presence). */
export interface PresencePort { online (userIds: string[]): Promise<Set<string>> }

interface UserRow { id: string, username: string, displayName: string, createdAt: Date, lastSeenAt: Date | null }

const withPresence = (online: Set<string>) => (u: UserRow) => ({
  id: u.id,
  username: u.username,
  displayName: u.displayName,
  createdAt: u.createdAt.toISOString(),
  online: online.has(u.id),
  lastSeenAt: u.lastSeenAt?.toISOString() ?? null
})

export function createUserService (deps: Database & { presence: PresencePort }) {
  const users = createUsersRepository(deps)
  return {
    async me (userId: string) {
      const me = await users.findById(userId)
      if (me === null) throw notFound('User')
      return { id: me.id, username: me.username, displayName: me.displayName, createdAt: me.createdAt.toISOString() }
    },

    async profile (userId: string) {
      const user = await users.findById(userId)
      if (user === null) throw notFound('User')
      return withPresence(await deps.presence.online([user.id]))(user)
    },

    async search (prefix: string, limit: number) {
      const found = await users.searchByPrefix(prefix.toLowerCase(), limit)
      return { users: found.map(withPresence(await deps.presence.online(found.map((u) => u.id)))) }
    }
  }
}

export type UserService = ReturnType<typeof createUserService>
