// Presence as the domain sees it: who is told when a user goes online or
// offline, and what they are told. The realtime layer tracks connections (a
// user is online while connected anywhere, and a grace period after, see
// realtime/presence.ts), reports each change here, and sends what this decides.
//
// The rules: a change is announced to the user's contacts, everyone who shares
// a conversation with them (current members both); going offline records when
// the user was last seen; coming online reports when they were last seen before.
//
// A reconnect storm brings thousands of changes within a second; read one by
// one they cost two statements each, more than the rest of an upgrade. So the
// changes of a moment (a few milliseconds, so that sockets opening one after
// another share a statement too, not only those of one burst) are announced
// together: one statement for all of them, then one announcement per changed
// user to their contacts, as before. Batches run one after another, in the
// order the changes happened, so a user's online and offline announcements
// never swap.

export interface PresenceChange { userId: string, online: boolean, at: Date }

/** What a user's contacts are told: the presence frame's data. */
export interface PresenceUpdate { userId: string, online: boolean, lastSeenAt: string | null }

/** What announcing reads and writes, for the changes of a moment in one statement. */
export interface PresenceRecords {
  /**
   * Records when those who went offline were last seen, and returns, per user
   * of `userIds` in that order, the last-seen time stored before this call and
   * their contacts.
   */
  presenceChanged (userIds: string[], wentOffline: Array<{ userId: string, at: Date }>): Promise<Array<{ lastSeenAt: Date | null, contacts: string[] }>>
}

export interface PresenceAnnouncerDeps {
  records: PresenceRecords
  /** Tells these users (a user's contacts) of the change, wherever they are connected. */
  announce (userIds: string[], update: PresenceUpdate): void
  onError (err: unknown, changes: number): void
  maxBatch?: number
  /**
   * How long the first change of a batch waits for others (0: only those of
   * the same turn of the event loop).
   */
  gatherMs?: number
}

export class PresenceAnnouncer {
  private readonly queue: PresenceChange[] = []
  private running = false
  private readonly maxBatch: number
  private readonly gatherMs: number

  constructor (private readonly deps: PresenceAnnouncerDeps) {
    this.maxBatch = deps.maxBatch ?? 1_000
    this.gatherMs = deps.gatherMs ?? 0
  }

  announce (change: PresenceChange): void {
    this.queue.push(change)
    if (this.running) return
    this.running = true
    // After this turn of the event loop (or the gathering time): the other
    // changes it brings join the batch.
    if (this.gatherMs > 0) setTimeout(() => { void this.drain() }, this.gatherMs).unref()
    else setImmediate(() => { void this.drain() })
  }

  private async drain (): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch)
      try {
        await this.send(batch)
      } catch (err) {
        this.deps.onError(err, batch.length)
      }
    }
    this.running = false
  }

  private async send (batch: PresenceChange[]): Promise<void> {
    const userIds = [...new Set(batch.map((c) => c.userId))]
    // The last offline time of each user wins, as successive updates would leave it.
    const offline = new Map<string, Date>()
    for (const c of batch) if (!c.online) offline.set(c.userId, c.at)
    const found = await this.deps.records.presenceChanged(userIds, [...offline].map(([userId, at]) => ({ userId, at })))
    const of = new Map(userIds.map((id, i) => [id, found[i]!]))
    // An online change reports when the user was last seen before it: the
    // stored time, or an offline change earlier in this batch.
    const lastSeen = new Map<string, Date | null>()
    for (const { userId, online, at } of batch) {
      const { lastSeenAt: stored, contacts } = of.get(userId)!
      const lastSeenAt = online ? (lastSeen.has(userId) ? lastSeen.get(userId)! : stored) : at
      if (!online) lastSeen.set(userId, at)
      if (contacts.length === 0) continue
      this.deps.announce(contacts, { userId, online, lastSeenAt: lastSeenAt?.toISOString() ?? null })
    }
  }
}
