// Which sessions this process has recently seen live, fenced against
// revocations. A check reads the database, then caches the answer; a
// revocation that lands between the two must win, or a logged-out token
// would keep working (and a socket admitted on that answer stay open) until
// the entry expires. So every revocation seen here moves a generation, and an
// answer read under an older generation is never cached: whoever holds it
// asks the database again (revokedSince) instead of trusting it.
import { LRUCache } from 'lru-cache'

export class LiveSessions {
  private readonly live: LRUCache<string, true>
  private generation = 0

  constructor (opts: { ttlMs: number, max: number }) {
    this.live = new LRUCache({ max: opts.max, ttl: opts.ttlMs })
  }

  /** Taken before the database is read; hand it to remember() and changedSince(). */
  stamp (): number {
    return this.generation
  }

  has (sessionId: string): boolean {
    return this.live.has(sessionId)
  }

  /** Caches the session as live, unless any revocation was seen since `stamp`. */
  remember (sessionId: string, stamp: number): void {
    if (stamp === this.generation) this.live.set(sessionId, true)
  }

  /** A revocation seen here (logged out locally, or announced by the broker). */
  revoked (sessionId: string): void {
    this.generation++
    this.live.delete(sessionId)
  }

  /** Revocations may have been missed (broker messages lost): trust nothing cached. */
  clear (): void {
    this.generation++
    this.live.clear()
  }

  changedSince (stamp: number): boolean {
    return stamp !== this.generation
  }
}
