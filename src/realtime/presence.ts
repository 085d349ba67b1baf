// Presence: a user is online while they have a connection, and goes offline a
// grace period after the last one closes, so a quick reconnect does not flap
// (nor a slow one that started within it: local-presence.ts).
// Who is told of a change, and what, is the domain's (domain/presence.ts).
// This is the single-process implementation; shared-presence.ts spans processes.
import { EventEmitter } from 'node:events'
import type { PresenceChange } from '../domain/presence.js'
import { LocalPresence } from './local-presence.js'

export type { PresenceChange }

export interface Presence {
  /** Which of these users are online (on any process). */
  online (userIds: string[]): Promise<Set<string>>
  /** A connection of the user opened on this process. */
  connected (userId: string): void
  /** A connection of the user closed on this process. */
  disconnected (userId: string): void
  /**
   * A connection of the user is being opened on this process (its upgrade is
   * under way): the grace period of an earlier one does not end their presence
   * before the returned function is called (once the upgrade ended, opened or not).
   */
  arriving (userId: string): () => void
  /** Emits 'change' (PresenceChange) when a user goes online or offline. */
  readonly events: EventEmitter<{ change: [PresenceChange] }>
  close (): Promise<void>
}

/** Presence of a single process. */
export class MemoryPresence implements Presence {
  readonly events = new EventEmitter<{ change: [PresenceChange] }>()
  private readonly local: LocalPresence

  constructor (graceMs: number) {
    this.local = new LocalPresence(graceMs, {
      online: (userId) => this.events.emit('change', { userId, online: true, at: new Date() }),
      offline: (userId) => this.events.emit('change', { userId, online: false, at: new Date() })
    })
  }

  async online (userIds: string[]): Promise<Set<string>> {
    return new Set(userIds.filter((id) => this.local.has(id)))
  }

  connected (userId: string): void {
    this.local.connected(userId)
  }

  disconnected (userId: string): void {
    this.local.disconnected(userId)
  }

  arriving (userId: string): () => void {
    return this.local.arriving(userId)
  }

  async close (): Promise<void> {
    this.local.clear()
  }
}
