// Tells a user's contacts when they go online or offline (and records when
// they were last seen). A reconnect storm brings thousands of these changes
// within a second; read one by one they cost two statements each, more than
// the rest of an upgrade. So the changes of a moment are announced together:
// one statement for all of them, then one presence frame per changed user to
// their contacts, as before. Batches run one after another, in the order the
// changes happened, so a user's online and offline frames never swap.
import type { PresenceRepository } from '../repositories/presence.js'
import type { PresenceChange } from './presence.js'
import type { ServerFrame } from './protocol.js'

export interface PresenceAnnouncerDeps {
  repo: Pick<PresenceRepository, 'presenceChanged'>
  /** Sends an encoded presence frame to these users' sockets, wherever they are. */
  publish (userIds: string[], frame: string): void
  onError (err: unknown, changes: number): void
  maxBatch?: number
}

export class PresenceAnnouncer {
  private readonly queue: PresenceChange[] = []
  private running = false
  private readonly maxBatch: number

  constructor (private readonly deps: PresenceAnnouncerDeps) {
    this.maxBatch = deps.maxBatch ?? 1_000
  }

  announce (change: PresenceChange): void {
    this.queue.push(change)
    if (this.running) return
    this.running = true
    // After this turn of the event loop: the other changes it brings join the batch.
    setImmediate(() => { void this.drain() })
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
    const found = await this.deps.repo.presenceChanged(userIds, [...offline].map(([userId, at]) => ({ userId, at })))
    const of = new Map(userIds.map((id, i) => [id, found[i]!]))
    // An online change reports when the user was last seen before it: the
    // stored time, or an offline change earlier in this batch.
    const lastSeen = new Map<string, Date | null>()
    for (const { userId, online, at } of batch) {
      const { lastSeenAt: stored, contacts } = of.get(userId)!
      const lastSeenAt = online ? (lastSeen.has(userId) ? lastSeen.get(userId)! : stored) : at
      if (!online) lastSeen.set(userId, at)
      if (contacts.length === 0) continue
      const frame: ServerFrame = { type: 'presence', data: { userId, online, lastSeenAt: lastSeenAt?.toISOString() ?? null } }
      this.deps.publish(contacts, JSON.stringify(frame))
    }
  }
}
