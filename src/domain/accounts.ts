// Accounts and sessions: register, login, refresh-token rotation with reuse
// detection, logout. Refresh tokens are random and stored only as SHA-256
// hashes (their entropy makes a slow hash unnecessary); passwords use argon2id.
// The token exchanged last may come back for a few seconds (two tabs, a
// retried request): it gets the pair it was exchanged for, kept sealed with a
// key only that token yields (successor-seal.ts); after that it is a reuse.
import { createHash, randomBytes } from 'node:crypto'
import { createRepositories, type Database } from '../repositories/index.js'
import { AppError, unauthorized } from './errors.js'
import { mediaUrl } from './views.js'
import { createBatchLoader } from './batch-loader.js'
import { isUuid, newId } from './ids.js'
import { hashPassword, verifyPassword } from './passwords.js'
import { isUniqueViolation } from './prisma-errors.js'
import { assertNotSuspended } from './safety-admin.js'
import { openSuccessor, sealSuccessor, type TokenPair } from './successor-seal.js'

export interface AccessClaims { sub: string, sid: string }

export interface AccountServiceDeps extends Database {
  signAccessToken (claims: AccessClaims): string
  accessTokenTtlSeconds: number
  refreshTokenTtlSeconds: number
  /** How long a just-exchanged refresh token still gets the pair it was exchanged for. */
  refreshReuseGraceSeconds: number
  /** Called after a session is revoked (logout, token reuse, or one login too many). */
  onSessionRevoked (sessionId: string, userId: string): void
  /** Live sessions a user keeps: a login past them ends the one used longest ago. */
  sessionsPerUser: number
}

export interface ClientInfo { userAgent?: string | undefined }

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex')

export function createAccountService (deps: AccountServiceDeps) {
  const repos = createRepositories(deps)
  const { users, sessions } = repos
  // One statement at a time: the checks that arrive meanwhile go together in the next.
  const sessionActive = createBatchLoader((ids: string[]) => sessions.active(ids), { maxInFlight: 1 })

  /**
   * A new session, once the account is checked again under its row lock: a
   * login whose password check raced a password change, a deletion or a
   * suspension gets no session that would outlive them. `verifiedHash` is the
   * hash the password was checked against (absent for a new account).
   */
  async function startSession (user: { id: string, username: string, displayName: string, createdAt: Date, avatarUploadId?: string | null }, client: ClientInfo, verifiedHash?: string) {
    const refreshToken = randomBytes(32).toString('base64url')
    const sessionId = newId()
    const ended = await repos.transaction(async (tx) => {
      const now = await tx.accounts.lockForSession(user.id)
      if (now === null || now.deletedAt !== null || (verifiedHash !== undefined && now.passwordHash !== verifiedHash)) {
        throw new AppError(401, 'INVALID_CREDENTIALS', 'Wrong username or password')
      }
      if (now.suspendedAt !== null) throw new AppError(403, 'SUSPENDED', 'This account has been suspended')
      await tx.sessions.create({ id: sessionId, userId: user.id, userAgent: client.userAgent?.slice(0, 256) ?? null })
      await tx.sessions.addRefreshToken({ tokenHash: hashToken(refreshToken), sessionId, expiresAt: refreshExpiry() })
      return tx.sessions.revokeBeyond(user.id, deps.sessionsPerUser, new Date())
    })
    for (const id of ended) deps.onSessionRevoked(id, user.id)
    return answer(user, { accessToken: deps.signAccessToken({ sub: user.id, sid: sessionId }), refreshToken })
  }

  function refreshExpiry () {
    return new Date(Date.now() + deps.refreshTokenTtlSeconds * 1000)
  }

  function answer (user: { id: string, username: string, displayName: string, createdAt: Date, avatarUploadId?: string | null }, pair: TokenPair) {
    return {
      user: { id: user.id, username: user.username, displayName: user.displayName, createdAt: user.createdAt, avatarUrl: mediaUrl(user.avatarUploadId ?? null) },
      accessToken: pair.accessToken,
      refreshToken: pair.refreshToken,
      expiresIn: deps.accessTokenTtlSeconds
    }
  }

  return {
    async register (input: { username: string, password: string, displayName?: string | undefined }, client: ClientInfo) {
      const username = input.username.toLowerCase()
      const passwordHash = await hashPassword(input.password)
      let user
      try {
        user = await users.create({ id: newId(), username, displayName: input.displayName?.trim() || input.username, passwordHash })
      } catch (err) {
        if (isUniqueViolation(err)) throw new AppError(409, 'USERNAME_TAKEN', 'That username is taken')
        throw err
      }
      return startSession(user, client)
    },

    async login (input: { username: string, password: string }, client: ClientInfo) {
      const found = await users.findCredentials(input.username.toLowerCase())
      const ok = await verifyPassword(found?.passwordHash, input.password)
      if (found === null || !ok) throw new AppError(401, 'INVALID_CREDENTIALS', 'Wrong username or password')
      await assertNotSuspended(repos, found.id)
      return startSession(found, client, found.passwordHash)
    },

    async refresh (refreshToken: string) {
      const tokenHash = hashToken(refreshToken)
      const now = new Date()
      const next = randomBytes(32).toString('base64url')
      // A concurrent exchange of the same token waits on this row's lock until
      // the commit, so it finds the sealed pair once it finds the token rotated.
      const rotated = await repos.transaction(async (tx) => {
        if (!(await tx.sessions.rotate(tokenHash, now))) return null
        const token = await tx.sessions.findToken(tokenHash)
        if (token === null) return null
        const pair = { accessToken: deps.signAccessToken({ sub: token.session.userId, sid: token.sessionId }), refreshToken: next }
        await tx.sessions.addRefreshToken({ tokenHash: hashToken(next), sessionId: token.sessionId, expiresAt: refreshExpiry() })
        await tx.sessions.setSuccessor(tokenHash, sealSuccessor(refreshToken, tokenHash, pair))
        return { userId: token.session.userId, pair }
      })
      if (rotated === null) {
        const token = await sessions.findToken(tokenHash)
        if (token !== null && token.rotatedAt !== null && token.session.revokedAt === null) {
          const graceMs = deps.refreshReuseGraceSeconds * 1000
          const pair = token.successor !== null && now.getTime() - token.rotatedAt.getTime() <= graceMs
            ? openSuccessor(refreshToken, tokenHash, token.successor)
            : undefined
          // Only while the pair it was exchanged for is unused: once that refresh token was exchanged in turn, the
          // holder of the old one is not the client that moved on, and the pair would be dead anyway.
          const successor = pair === undefined ? null : await sessions.findToken(hashToken(pair.refreshToken))
          if (pair !== undefined && successor !== null && successor.rotatedAt === null) {
            const user = await users.findById(token.session.userId)
            if (user === null) throw unauthorized('Invalid or expired refresh token')
            return answer(user, pair)
          }
          // A token that was already exchanged is back: someone holds a copy.
          // End the whole session, so neither copy works any more.
          await sessions.revoke(token.sessionId, now)
          deps.onSessionRevoked(token.sessionId, token.session.userId)
          throw unauthorized('Refresh token reuse detected; the session has been revoked')
        }
        throw unauthorized('Invalid or expired refresh token')
      }
      const user = await users.findById(rotated.userId)
      if (user === null) throw unauthorized('Invalid or expired refresh token')
      return answer(user, rotated.pair)
    },

    async logout (refreshToken: string) {
      const token = await sessions.findToken(hashToken(refreshToken))
      if (token === null) throw unauthorized('Invalid refresh token')
      await sessions.revoke(token.sessionId, new Date())
      deps.onSessionRevoked(token.sessionId, token.session.userId)
    },

    /** Whether the session exists and is not revoked; the checks of one moment share a statement. */
    isSessionActive: (sessionId: string): Promise<boolean> =>
      // Not a session id at all: it must not fail the statement it would share.
      isUuid(sessionId) ? sessionActive(sessionId) : Promise.resolve(false)
  }
}

export type AccountService = ReturnType<typeof createAccountService>
