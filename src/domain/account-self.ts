// What a signed-in user does to their own account: change the password, list
// and end sessions, change the profile. Ending a session goes through the
// same signal as logout (sockets close with 4001 on every process).
import { createRepositories, type Database } from '../repositories/index.js'
import { AppError, badRequest, notFound, unauthorized } from './errors.js'
import { mediaUrl } from './views.js'
import { hashPassword, verifyPassword } from './passwords.js'
import { inTransaction, type Tx } from './event-log.js'
import { lockLive } from './live-accounts.js'

export interface UserProfile { id: string, username: string, displayName: string, createdAt: string, avatarUrl: string | null }

export interface AccountSelfDeps extends Database {
  /** Called after commit for every session that ended. */
  onSessionsRevoked (sessionIds: string[], userId: string): void
  /** Tells these users (contacts the user has not blocked) that a profile changed, after commit. */
  announceProfile (userIds: string[], profile: UserProfile): void
  /** Called after a commit that marked files for removal (a replaced avatar). */
  onFilesReleased?: () => void
  /** A session whose refresh token expired is listed until the access token issued with it has expired too. */
  accessTokenTtlSeconds: number
}

export const wrongPassword = () => new AppError(401, 'INVALID_CREDENTIALS', 'Wrong password')

/**
 * Inside the transaction that locked the account's row: the live account (401
 * when deleted), 401 INVALID_CREDENTIALS unless its password hash is still the
 * one the password was checked against.
 * A password checked, then changed by a request in parallel, no longer
 * authorises anything (changing it again, deleting the account, the email).
 */
export async function assertPasswordUnchanged (tx: Tx, userId: string, checkedHash: string) {
  const live = await tx.accounts.findLive(userId)
  if (live === null) throw unauthorized()
  if (live.passwordHash !== checkedHash) throw wrongPassword()
  return live
}

export function createAccountSelfService (deps: AccountSelfDeps) {
  const repos = createRepositories(deps)
  const repo = repos.accounts

  /** The live account, its password checked (401 INVALID_CREDENTIALS when wrong). */
  async function checkPassword (userId: string, password: string) {
    const user = await repo.findLive(userId)
    if (user === null) throw unauthorized()
    if (!(await verifyPassword(user.passwordHash, password))) throw wrongPassword()
    return user
  }

  async function endSessions (userId: string, opts: { except?: string, only?: string }): Promise<number> {
    const ended = await repo.revokeSessions(userId, opts, new Date())
    if (ended.length > 0) deps.onSessionsRevoked(ended, userId)
    return ended.length
  }

  return {
    checkPassword,

    /** Sets a new password; every other session of the user ends. */
    async changePassword (userId: string, sessionId: string, currentPassword: string, newPassword: string): Promise<void> {
      const checked = await checkPassword(userId, currentPassword)
      const passwordHash = await hashPassword(newPassword)
      const now = new Date()
      const ended = await repos.transaction(async (tx) => {
        // Deleted meanwhile: 401, and no password hash written back onto the erased row.
        await lockLive(tx, userId, [], 'update')
        // Changed meanwhile (two changes at once, the owner's and a thief's with the old password): only the first stands.
        await assertPasswordUnchanged(tx, userId, checked.passwordHash)
        const r = tx.accounts
        await r.setPassword(userId, passwordHash)
        await r.voidResets(userId, now)
        return r.revokeSessions(userId, { except: sessionId }, now)
      })
      if (ended.length > 0) deps.onSessionsRevoked(ended, userId)
    },

    async sessions (userId: string, currentSessionId: string) {
      const rows = await repo.liveSessions(userId, new Date(), deps.accessTokenTtlSeconds)
      return {
        sessions: rows.map((s) => ({
          id: s.id,
          userAgent: s.userAgent,
          createdAt: s.createdAt.toISOString(),
          lastUsedAt: s.lastUsedAt.toISOString(),
          current: s.id === currentSessionId
        }))
      }
    },

    /** Ends one session of the caller (the current one too: that is a logout); 404 for any other id. */
    async endSession (userId: string, sessionId: string): Promise<void> {
      if ((await endSessions(userId, { only: sessionId })) === 0) throw notFound('Session')
    },

    /** Ends every session of the caller but the current one; returns how many ended. */
    endOtherSessions: (userId: string, currentSessionId: string) => endSessions(userId, { except: currentSessionId }),

    /**
     * Changes the display name and/or the avatar: avatarUploadId names a
     * completed image upload of the caller (null removes the avatar); the
     * replaced avatar's files go. Under the account's row lock: parallel
     * changes take turns, each replacing the avatar the one before set (read
     * unlocked, two both replaced the same one and the other's stayed in state
     * avatar for good); a change racing the deletion lands before the erasure or
     * answers 401, never bringing the name back.
     */
    async updateProfile (userId: string, input: { displayName?: string | undefined, avatarUploadId?: string | null | undefined }): Promise<UserProfile> {
      if (input.displayName === undefined && input.avatarUploadId === undefined) throw badRequest('body must have displayName or avatarUploadId')
      const { row, released } = await inTransaction(repos, async (tx) => {
        await lockLive(tx, userId, [], 'update')
        let released = false
        const data: { displayName?: string, avatarUploadId?: string | null } = {}
        if (input.displayName !== undefined) data.displayName = input.displayName.trim()
        if (input.avatarUploadId !== undefined) {
          const current = await tx.accounts.avatarOf(userId)
          if (input.avatarUploadId !== current) {
            if (input.avatarUploadId !== null && !(await tx.uploads.claim(input.avatarUploadId, userId, 'avatar'))) {
              throw new AppError(400, 'INVALID_ATTACHMENT', 'avatarUploadId must name a completed image upload of yours, not in use')
            }
            if (current !== null) {
              await tx.uploads.markDeleting({ ids: [current] })
              released = true
            }
            data.avatarUploadId = input.avatarUploadId
          }
        }
        return { row: await tx.accounts.setProfile(userId, data), released }
      })
      if (released) deps.onFilesReleased?.()
      const profile = { id: row.id, username: row.username, displayName: row.displayName, createdAt: row.createdAt.toISOString(), avatarUrl: mediaUrl(row.avatarUploadId) }
      // Not to the users the caller has blocked (README "Accounts and safety").
      const contacts = await repo.contacts(userId)
      const blocked = await repos.safety.blockedBy(userId, contacts)
      const told = blocked.size === 0 ? contacts : contacts.filter((id) => !blocked.has(id))
      if (told.length > 0) deps.announceProfile(told, profile)
      return profile
    }
  }
}

export type AccountSelfService = ReturnType<typeof createAccountSelfService>
