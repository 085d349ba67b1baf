// Data access for what a user manages of their own account: credentials,
// sessions, email, password-reset tokens, contacts. Plain functions over a
// Prisma client or transaction; no HTTP here.
import type { PrismaClient, Prisma } from '../generated/prisma/client.js'

type Db = PrismaClient | Prisma.TransactionClient

export interface SessionRow { id: string, userAgent: string | null, createdAt: Date, lastUsedAt: Date }

export function createAccountsRepository (db: Db) {
  return {
    /** A live (not deleted) account with its password hash. */
    findLive (userId: string) {
      return db.user.findFirst({
        where: { id: userId, deletedAt: null },
        select: { id: true, username: true, displayName: true, createdAt: true, passwordHash: true, email: true, emailVerifiedAt: true, pendingEmail: true, emailCodeHash: true, emailCodeExpiresAt: true, emailCodeAttempts: true }
      })
    },

    async setPassword (userId: string, passwordHash: string): Promise<void> {
      await db.user.update({ where: { id: userId }, data: { passwordHash }, select: { id: true } })
    },

    /** Live sessions, newest first; last use is the newest refresh token (login or exchange). */
    liveSessions (userId: string): Promise<SessionRow[]> {
      return db.$queryRaw<SessionRow[]>`
        SELECT s.id, s.user_agent AS "userAgent", s.created_at AS "createdAt",
               COALESCE((SELECT max(t.created_at) FROM refresh_tokens t WHERE t.session_id = s.id), s.created_at) AS "lastUsedAt"
          FROM sessions s WHERE s.user_id = ${userId}::uuid AND s.revoked_at IS NULL
         ORDER BY s.created_at DESC, s.id DESC`
    },

    /** Revokes the user's live sessions (all, or all but one, or just one) and returns their ids. */
    async revokeSessions (userId: string, opts: { except?: string, only?: string }, now: Date): Promise<string[]> {
      const rows = await db.$queryRaw<Array<{ id: string }>>`
        UPDATE sessions SET revoked_at = ${now}
         WHERE user_id = ${userId}::uuid AND revoked_at IS NULL
           AND (${opts.except ?? null}::uuid IS NULL OR id <> ${opts.except ?? null}::uuid)
           AND (${opts.only ?? null}::uuid IS NULL OR id = ${opts.only ?? null}::uuid)
        RETURNING id`
      return rows.map((r) => r.id)
    },

    setDisplayName (userId: string, displayName: string) {
      return db.user.update({ where: { id: userId }, data: { displayName }, select: { id: true, username: true, displayName: true, createdAt: true } })
    },

    /** Everyone who shares a current conversation with the user. */
    async contacts (userId: string): Promise<string[]> {
      const rows = await db.$queryRaw<Array<{ user_id: string }>>`
        SELECT DISTINCT other.user_id FROM memberships mine
          JOIN memberships other ON other.conversation_id = mine.conversation_id
         WHERE mine.user_id = ${userId}::uuid AND mine.left_at IS NULL AND other.left_at IS NULL AND other.user_id <> ${userId}::uuid`
      return rows.map((r) => r.user_id)
    },

    /** Whether two users share a current conversation. */
    async shareConversation (a: string, b: string): Promise<boolean> {
      const rows = await db.$queryRaw<unknown[]>`
        SELECT 1 FROM memberships mine JOIN memberships other ON other.conversation_id = mine.conversation_id
         WHERE mine.user_id = ${a}::uuid AND other.user_id = ${b}::uuid AND mine.left_at IS NULL AND other.left_at IS NULL LIMIT 1`
      return rows.length > 0
    },

    async setEmailChallenge (userId: string, data: { pendingEmail: string, emailCodeHash: string, emailCodeExpiresAt: Date }): Promise<void> {
      await db.user.update({ where: { id: userId }, data: { ...data, emailCodeAttempts: 0 }, select: { id: true } })
    },

    async countEmailAttempt (userId: string): Promise<void> {
      await db.user.update({ where: { id: userId }, data: { emailCodeAttempts: { increment: 1 } }, select: { id: true } })
    },

    async confirmEmail (userId: string, email: string, now: Date): Promise<void> {
      await db.user.update({
        where: { id: userId },
        data: { email, emailVerifiedAt: now, pendingEmail: null, emailCodeHash: null, emailCodeExpiresAt: null, emailCodeAttempts: 0 },
        select: { id: true }
      })
    },

    /** A live account by username or verified email (both lower case). */
    findForReset (identifier: string) {
      return db.user.findFirst({
        where: { deletedAt: null, email: { not: null }, OR: [{ username: identifier }, { email: identifier }] },
        select: { id: true, username: true, email: true }
      })
    },

    async addReset (data: { tokenHash: string, userId: string, expiresAt: Date }): Promise<void> {
      await db.passwordReset.create({ data, select: { tokenHash: true } })
    },

    /** Uses a reset token once: the user id for the one caller that wins, else null. */
    async useReset (tokenHash: string, now: Date): Promise<string | null> {
      const rows = await db.$queryRaw<Array<{ user_id: string }>>`
        UPDATE password_resets SET used_at = ${now}
         WHERE token_hash = ${tokenHash} AND used_at IS NULL AND expires_at > ${now}
        RETURNING user_id`
      return rows[0]?.user_id ?? null
    },

    /** Voids every unused reset token of the user (the password changed). */
    async voidResets (userId: string, now: Date): Promise<void> {
      await db.passwordReset.updateMany({ where: { userId, usedAt: null }, data: { usedAt: now } })
    }
  }
}
