// The sockets of each user on this process, and the grace period after the
// last one closes, shared by both presence implementations (presence.ts for
// one process, shared-presence.ts across processes), which decide what coming
// online and going offline mean.
//
// A user whose socket is being opened (its upgrade authenticated, the socket
// not handed over yet) is *arriving*: a grace period that ends meanwhile does
// not take them offline. The upgrade of a reconnect can take longer than the
// grace period when many clients reconnect at once, and a user shown offline
// and online again is two presence frames to every contact and a contacts
// query each: a reconnect storm would turn into a presence storm.

export interface LocalPresenceHooks {
  /** The user's first socket here, and they were not within a grace period: they come online. */
  online (userId: string): void
  /** The grace period after the user's last socket here ended, with no socket opened or arriving since. */
  offline (userId: string): void
}

export class LocalPresence {
  private readonly connections = new Map<string, number>()
  private readonly offlineTimers = new Map<string, NodeJS.Timeout>()
  /** Upgrades under way, per user. */
  private readonly arrivals = new Map<string, number>()
  /** Users whose grace period ended while they were arriving: offline only if that arrival fails. */
  private readonly overdue = new Set<string>()

  constructor (private readonly graceMs: number, private readonly hooks: LocalPresenceHooks) {}

  /** Online through this process: a socket here, or within the grace period after the last one closed. */
  has (userId: string): boolean {
    return this.connections.has(userId) || this.offlineTimers.has(userId) || this.overdue.has(userId)
  }

  /** Every user `has` holds. */
  users (): string[] {
    return [...new Set([...this.connections.keys(), ...this.offlineTimers.keys(), ...this.overdue])]
  }

  connected (userId: string): void {
    const n = this.connections.get(userId) ?? 0
    this.connections.set(userId, n + 1)
    const pending = this.offlineTimers.get(userId)
    if (pending !== undefined) {
      // Back within the grace period: nobody saw them leave.
      clearTimeout(pending)
      this.offlineTimers.delete(userId)
      return
    }
    // Back after the grace period, having started to come back within it: nobody saw them leave either.
    if (this.overdue.delete(userId)) return
    if (n === 0) this.hooks.online(userId)
  }

  disconnected (userId: string): void {
    const n = this.connections.get(userId) ?? 0
    if (n > 1) {
      this.connections.set(userId, n - 1)
      return
    }
    this.connections.delete(userId)
    const timer = setTimeout(() => {
      this.offlineTimers.delete(userId)
      if ((this.arrivals.get(userId) ?? 0) > 0) this.overdue.add(userId)
      else this.hooks.offline(userId)
    }, this.graceMs)
    timer.unref()
    this.offlineTimers.set(userId, timer)
  }

  /**
   * A socket of the user is being opened here. Call the returned function
   * once its upgrade ended, opened or not (more calls do nothing); if it
   * failed and the grace period ended meanwhile, the user goes offline then.
   */
  arriving (userId: string): () => void {
    this.arrivals.set(userId, (this.arrivals.get(userId) ?? 0) + 1)
    let done = false
    return () => {
      if (done) return
      done = true
      const left = (this.arrivals.get(userId) ?? 1) - 1
      if (left > 0) {
        this.arrivals.set(userId, left)
        return
      }
      this.arrivals.delete(userId)
      if (this.overdue.delete(userId)) this.hooks.offline(userId)
    }
  }

  clear (): void {
    for (const t of this.offlineTimers.values()) clearTimeout(t)
    this.offlineTimers.clear()
    this.connections.clear()
    this.arrivals.clear()
    this.overdue.clear()
  }
}
