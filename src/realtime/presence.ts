// Presence: a user is online while they have a connection, and goes offline a
// grace period after the last one closes, so a quick reconnect does not flap.
// Who is told of a change, and what, is the domain's (domain/presence.ts).
// This is the single-process implementation; shared-presence.ts spans processes.
import { EventEmitter } from 'node:events'
import type { PresenceChange } from '../domain/presence.js'

export type { PresenceChange }

export interface Presence {
  /** Which of these users are online (on any process). */
  online (userIds: string[]): Promise<Set<string>>
  /** A connection of the user opened on this process. */
  connected (userId: string): void
  /** A connection of the user closed on this process. */
  disconnected (userId: string): void
  /** Emits 'change' (PresenceChange) when a user goes online or offline. */
  readonly events: EventEmitter<{ change: [PresenceChange] }>
  close (): Promise<void>
}

/** Presence of a single process. */
export class MemoryPresence implements Presence {
  readonly events = new EventEmitter<{ change: [PresenceChange] }>()
  private readonly connections = new Map<string, number>()
  private readonly offlineTimers = new Map<string, NodeJS.Timeout>()

  constructor (private readonly graceMs: number) {}

  async online (userIds: string[]): Promise<Set<string>> {
    return new Set(userIds.filter((id) => this.connections.has(id) || this.offlineTimers.has(id)))
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
    if (n === 0) this.events.emit('change', { userId, online: true, at: new Date() })
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
      this.events.emit('change', { userId, online: false, at: new Date() })
    }, this.graceMs)
    timer.unref()
    this.offlineTimers.set(userId, timer)
  }

  async close (): Promise<void> {
    for (const t of this.offlineTimers.values()) clearTimeout(t)
    this.offlineTimers.clear()
    this.connections.clear()
  }
}
