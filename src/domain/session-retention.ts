// What the accounts leave behind, swept: every token exchange adds a refresh
// token and every login a session, and none was ever deleted. A pass:
//  1. deletes the refresh tokens exchanged for newer ones once expired;
//  2. ends the sessions that lapsed (newest refresh token expired unused, and
//     the access token issued with it too), through the same signal as a
//     logout: their sockets close with 4001 on every process and their push
//     devices go (a lapsed session is logged out: its device must not keep
//     getting message text);
//  3. deletes the sessions ended more than SESSION_HISTORY_DAYS ago, with
//     their tokens (the data export lists ended sessions until then);
//  4. deletes password resets a day past their expiry.
// Each statement takes a batch of rows, so no pass holds many locks or runs
// long; every process sweeps, and the statements are safe to run at once (a
// session is ended once: the UPDATE rechecks revoked_at under its row lock).
import type { SessionsRepository } from '../repositories/sessions.js'

const BATCH = 1_000
/** Batches per step and pass: a backlog is worked off over several passes. */
const MAX_BATCHES = 50
const DAY_MS = 86_400_000

export interface SweepResult { tokens: number, lapsed: number, sessions: number, resets: number }

export interface SessionRetentionDeps {
  sessions: Pick<SessionsRepository, 'deleteExpiredTokens' | 'lapse' | 'deleteEnded' | 'deleteOldResets'>
  accessTokenTtlSeconds: number
  historyDays: number
  onSessionsLapsed (sessions: Array<{ id: string, userId: string }>): void
}

async function drain (step: () => Promise<number>): Promise<number> {
  let total = 0
  for (let i = 0; i < MAX_BATCHES; i++) {
    const n = await step()
    total += n
    if (n < BATCH) break
  }
  return total
}

export function createSessionRetention (deps: SessionRetentionDeps) {
  const { sessions } = deps
  return {
    async sweep (now = new Date()): Promise<SweepResult> {
      const tokens = await drain(() => sessions.deleteExpiredTokens(now, BATCH))
      const lapsed = await drain(async () => {
        const ended = await sessions.lapse(now, deps.accessTokenTtlSeconds, BATCH)
        if (ended.length > 0) deps.onSessionsLapsed(ended)
        return ended.length
      })
      const endedBefore = new Date(now.getTime() - deps.historyDays * DAY_MS)
      const deleted = await drain(() => sessions.deleteEnded(endedBefore, BATCH))
      const resets = await drain(() => sessions.deleteOldResets(new Date(now.getTime() - DAY_MS), BATCH))
      return { tokens, lapsed, sessions: deleted, resets }
    }
  }
}

export type SessionRetention = ReturnType<typeof createSessionRetention>
