// Accounts and sessions: register, login, refresh-token rotation with reuse
// detection, logout. Refresh tokens are random and stored only as SHA-256
// hashes (their entropy makes a slow hash unnecessary); passwords use argon2id.
import { createHash, randomBytes } from 'node:crypto'
import type pg from 'pg'
import type { PrismaClient } from '../generated/prisma/client.js'
import { createSessionsRepository, isSessionActive } from '../repositories/sessions.js'
import { createUsersRepository } from '../repositories/users.js'
import { AppError, unauthorized } from './errors.js'
import { newId } from './ids.js'
import { hashPassword, verifyPassword } from './passwords.js'
import { isUniqueViolation } from './prisma-errors.js'

export interface AccessClaims { sub: string, sid: string }

export interface AccountServiceDeps {
  prisma: PrismaClient
  /** The same database's pool, for the session check on the request path. */
  pool: pg.Pool
  signAccessToken (claims: AccessClaims): string
  accessTokenTtlSeconds: number
  refreshTokenTtlSeconds: number
  /** Called after a session is revoked (logout or token reuse). */
  onSessionRevoked (sessionId: string, userId: string): void
}

export interface ClientInfo { userAgent?: string | undefined }

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex')

export function createAccountService (deps: AccountServiceDeps) {
  const { prisma } = deps
  const users = createUsersRepository(prisma)
  const sessions = createSessionsRepository(prisma)

  async function startSession (user: { id: string, username: string, displayName: string, createdAt: Date }, client: ClientInfo) {
    const refreshToken = randomBytes(32).toString('base64url')
    const sessionId = newId()
    await prisma.$transaction(async (tx) => {
      const repo = createSessionsRepository(tx)
      await repo.create({ id: sessionId, userId: user.id, userAgent: client.userAgent?.slice(0, 256) ?? null })
      await repo.addRefreshToken({ tokenHash: hashToken(refreshToken), sessionId, expiresAt: refreshExpiry() })
    })
    return tokens(user, sessionId, refreshToken)
  }

  function refreshExpiry () {
    return new Date(Date.now() + deps.refreshTokenTtlSeconds * 1000)
  }

  function tokens (user: { id: string, username: string, displayName: string, createdAt: Date }, sessionId: string, refreshToken: string) {
    return {
      user: { id: user.id, username: user.username, displayName: user.displayName, createdAt: user.createdAt },
      accessToken: deps.signAccessToken({ sub: user.id, sid: sessionId }),
      refreshToken,
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
      return startSession(found, client)
    },

    async refresh (refreshToken: string) {
      const tokenHash = hashToken(refreshToken)
      const now = new Date()
      const next = randomBytes(32).toString('base64url')
      const rotated = await prisma.$transaction(async (tx) => {
        const repo = createSessionsRepository(tx)
        if (!(await repo.rotate(tokenHash, now))) return null
        const token = await repo.findToken(tokenHash)
        if (token === null) return null
        await repo.addRefreshToken({ tokenHash: hashToken(next), sessionId: token.sessionId, expiresAt: refreshExpiry() })
        return token
      })
      if (rotated === null) {
        const token = await sessions.findToken(tokenHash)
        if (token !== null && token.rotatedAt !== null && token.session.revokedAt === null) {
          // A token that was already exchanged is back: someone holds a copy.
          // End the whole session, so neither copy works any more.
          await sessions.revoke(token.sessionId, now)
          deps.onSessionRevoked(token.sessionId, token.session.userId)
          throw unauthorized('Refresh token reuse detected; the session has been revoked')
        }
        throw unauthorized('Invalid or expired refresh token')
      }
      const user = await users.findById(rotated.session.userId)
      if (user === null) throw unauthorized('Invalid or expired refresh token')
      return tokens(user, rotated.sessionId, next)
    },

    async logout (refreshToken: string) {
      const token = await sessions.findToken(hashToken(refreshToken))
      if (token === null) throw unauthorized('Invalid refresh token')
      await sessions.revoke(token.sessionId, new Date())
      deps.onSessionRevoked(token.sessionId, token.session.userId)
    },

    isSessionActive: (sessionId: string) => isSessionActive(deps.pool, sessionId)
  }
}

export type AccountService = ReturnType<typeof createAccountService>
