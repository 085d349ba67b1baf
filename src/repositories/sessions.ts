// Login sessions and their refresh tokens, through Prisma; the check of a
// session on the request path reads on the pool (see db.ts).
import type { Client, Database } from './db.js'

/** The statements that also run inside a transaction (see index.ts). */
export function sessionStatements (db: Client) {
  return {
    create (data: { id: string, userId: string, userAgent: string | null }) {
      return db.session.create({ data })
    },
    addRefreshToken (data: { tokenHash: string, sessionId: string, expiresAt: Date }) {
      return db.refreshToken.create({ data })
    },
    /** Marks a live token as used; true only for the one caller that wins. */
    async rotate (tokenHash: string, now: Date): Promise<boolean> {
      const { count } = await db.refreshToken.updateMany({
        where: { tokenHash, rotatedAt: null, expiresAt: { gt: now }, session: { revokedAt: null } },
        data: { rotatedAt: now }
      })
      return count === 1
    },
    findToken (tokenHash: string) {
      return db.refreshToken.findUnique({
        where: { tokenHash },
        select: { sessionId: true, rotatedAt: true, successor: true, session: { select: { userId: true, revokedAt: true } } }
      })
    },
    /** Keeps the sealed pair a token was exchanged for (see domain/successor-seal.ts). */
    async setSuccessor (tokenHash: string, successor: Uint8Array<ArrayBuffer>): Promise<void> {
      await db.refreshToken.update({ where: { tokenHash }, data: { successor }, select: { tokenHash: true } })
    },
    async revoke (sessionId: string, now: Date): Promise<void> {
      await db.session.updateMany({ where: { id: sessionId, revokedAt: null }, data: { revokedAt: now } })
    },
    /** Ends the user's live sessions past the `keep` used last (by their last login or token exchange); their ids. */
    async revokeBeyond (userId: string, keep: number, now: Date): Promise<string[]> {
      const rows = await db.$queryRaw<Array<{ id: string }>>`
        UPDATE sessions SET revoked_at = ${now}::timestamptz WHERE id IN (
          SELECT s.id FROM sessions s
           WHERE s.user_id = ${userId}::uuid AND s.revoked_at IS NULL
           ORDER BY COALESCE((SELECT max(t.created_at) FROM refresh_tokens t WHERE t.session_id = s.id), s.created_at) DESC, s.created_at DESC, s.id
          OFFSET ${keep}::int)
        RETURNING id`
      return rows.map((r) => r.id)
    }
  }
}

export function createSessionsRepository ({ prisma, pool, lane }: Database) {
  return {
    ...sessionStatements(prisma),

    /**
     * Which of these sessions exist and are not revoked, in the order given.
     * Checked on authenticated requests whose session is not cached, so it is
     * one plain statement on the pool rather than an ORM call (which costs
     * several times the CPU), and it answers for every check of a burst at once.
     * A named (prepared) statement: each connection parses and plans it once,
     * where sockets opening one after another made PostgreSQL do it for each.
     * On the lane: a burst of reads on the pool does not hold up every request.
     */
    async active (sessionIds: string[]): Promise<boolean[]> {
      const { rows } = await (lane ?? pool).query<{ id: string }>({
        name: 'active-sessions',
        text: 'SELECT id FROM sessions WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL',
        values: [sessionIds]
      })
      const live = new Set(rows.map((r) => r.id))
      return sessionIds.map((id) => live.has(id))
    },

    // The retention sweep (domain/session-retention.ts): each statement does at most `limit` rows.

    /** Deletes exchanged refresh tokens past their expiry (refused then anyway, known or not); how many. */
    async deleteExpiredTokens (now: Date, limit: number): Promise<number> {
      return prisma.$executeRaw`
        DELETE FROM refresh_tokens WHERE token_hash IN (
          SELECT token_hash FROM refresh_tokens WHERE expires_at <= ${now} AND rotated_at IS NOT NULL LIMIT ${limit}::int)`
    },

    /**
     * Ends the sessions that lapsed: their newest refresh token expired
     * unexchanged, and the access token issued with it too. Their ids and users,
     * for the same signal as a logout (sockets closed with 4001, devices gone).
     */
    lapse (now: Date, accessTokenTtlSeconds: number, limit: number): Promise<Array<{ id: string, userId: string }>> {
      const accessIssuedBefore = new Date(now.getTime() - accessTokenTtlSeconds * 1000)
      return prisma.$queryRaw<Array<{ id: string, userId: string }>>`
        UPDATE sessions SET revoked_at = ${now} WHERE revoked_at IS NULL AND id IN (
          SELECT t.session_id FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id AND s.revoked_at IS NULL
           WHERE t.expires_at <= ${now} AND t.rotated_at IS NULL AND t.created_at <= ${accessIssuedBefore}
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens n WHERE n.session_id = t.session_id AND (n.expires_at > ${now} OR n.created_at > ${accessIssuedBefore}))
           LIMIT ${limit}::int)
        RETURNING id, user_id AS "userId"`
    },

    /** Deletes sessions that ended before `before`, with their refresh tokens; how many. */
    async deleteEnded (before: Date, limit: number): Promise<number> {
      return prisma.$executeRaw`
        DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE revoked_at < ${before} LIMIT ${limit}::int)`
    },

    /** Deletes password resets that expired before `before` (used or not); how many. */
    async deleteOldResets (before: Date, limit: number): Promise<number> {
      return prisma.$executeRaw`
        DELETE FROM password_resets WHERE token_hash IN (SELECT token_hash FROM password_resets WHERE expires_at < ${before} LIMIT ${limit}::int)`
    }
  }
}

export type SessionsRepository = ReturnType<typeof createSessionsRepository>
