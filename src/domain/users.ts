// Users as others see them: the caller's own profile, a public profile and
// prefix search. Presence (from the realtime layer's port) and last seen are
// shown only to users who share a conversation with the user (as the presence
// push is) and whom the user has not blocked; search shows none.
import { createAccountsRepository } from '../repositories/accounts.js'
import type { Database } from '../repositories/index.js'
import { createSafetyRepository } from '../repositories/safety.js'
import { createUsersRepository } from '../repositories/users.js'
import { notFound } from './errors.js'
import { mediaUrl } from './views.js'

/** Who is online, on any process (the realtime layer's presence). */
export interface PresencePort { online (userIds: string[]): Promise<Set<string>> }

interface UserRow { id: string, username: string, displayName: string, createdAt: Date, lastSeenAt: Date | null, avatarUploadId: string | null }

const withPresence = (online: Set<string>) => (u: UserRow) => ({
  id: u.id,
  username: u.username,
  displayName: u.displayName,
  createdAt: u.createdAt.toISOString(),
  avatarUrl: mediaUrl(u.avatarUploadId),
  online: online.has(u.id),
  lastSeenAt: u.lastSeenAt?.toISOString() ?? null
})

export function createUserService (deps: Database & { presence: PresencePort }) {
  const users = createUsersRepository(deps)
  const accounts = createAccountsRepository(deps)
  const safety = createSafetyRepository(deps)
  const hidden = (u: UserRow) => ({ ...withPresence(new Set())(u), lastSeenAt: null })
  return {
    async me (userId: string) {
      const me = await users.findById(userId)
      if (me === null) throw notFound('User')
      return { id: me.id, username: me.username, displayName: me.displayName, createdAt: me.createdAt.toISOString(), avatarUrl: mediaUrl(me.avatarUploadId) }
    },

    /**
     * A public profile; online and lastSeenAt are false and null unless the viewer
     * shares a conversation with the user and the user has not blocked the viewer.
     */
    async profile (viewerId: string, userId: string) {
      const user = await users.findById(userId)
      if (user === null) throw notFound('User')
      if (viewerId !== userId) {
        const [shared, blockers] = await Promise.all([accounts.shareConversation(viewerId, userId), safety.blockersOf(viewerId, [userId])])
        if (!shared || blockers.length > 0) return hidden(user)
      }
      return withPresence(await deps.presence.online([user.id]))(user)
    },

    /**
     * Presence of several users at once (a contact list), with the rule of
     * profile(): false and null for a user the caller may not see; unknown
     * or deleted users are left out.
     */
    async presence (viewerId: string, userIds: string[]) {
      const rows = await accounts.presenceVisibility(viewerId, [...new Set(userIds)])
      const online = await deps.presence.online(rows.filter((r) => r.visible).map((r) => r.id))
      return {
        presence: rows.map((r) => ({
          userId: r.id,
          online: r.visible && online.has(r.id),
          lastSeenAt: r.visible ? r.lastSeenAt?.toISOString() ?? null : null
        }))
      }
    },

    /** Username prefix search (3+ characters), without presence. */
    async search (prefix: string, limit: number) {
      const found = await users.searchByPrefix(prefix.toLowerCase(), limit)
      return { users: found.map((u) => ({ id: u.id, username: u.username, displayName: u.displayName, createdAt: u.createdAt.toISOString(), avatarUrl: mediaUrl(u.avatarUploadId) })) }
    }
  }
}

export type UserService = ReturnType<typeof createUserService>
