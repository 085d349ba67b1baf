// Presence across processes. Each process keeps its own sockets and grace
// timers (as MemoryPresence does) and holds one entry per local user in a
// shared store; a user is online while any process holds an entry. An entry
// stays through the local grace period, so a quick reconnect to another
// process finds it and nobody sees the user leave. Entries expire unless their
// process refreshes them: those of a process that was killed are swept by the
// others, and their users go offline within PRESENCE_TTL_MS.
import { EventEmitter } from 'node:events'
import type { PresenceRepository } from '../repositories/presence.js'
import { LocalPresence } from './local-presence.js'
import type { Presence, PresenceChange } from './presence.js'

export interface SharedPresenceOptions {
  store: PresenceRepository
  /** Unique per process start. */
  processId: string
  graceMs: number
  /** Bound on how long the users of a dead process still show online. */
  ttlMs: number
  onError (err: unknown, what: string): void
}

export class SharedPresence implements Presence {
  readonly events = new EventEmitter<{ change: [PresenceChange] }>()
  private readonly local: LocalPresence
  /** Store operations of one user, run one after another. */
  private readonly chains = new Map<string, Promise<void>>()
  private readonly timers: NodeJS.Timeout[]
  private readonly entryTtlMs: number
  private beating = false
  private sweeping = false
  private closed = false

  constructor (private readonly opts: SharedPresenceOptions) {
    this.local = new LocalPresence(opts.graceMs, {
      online: (userId) => this.enqueue(userId, () => this.register(userId)),
      offline: (userId) => this.enqueue(userId, async () => {
        if (this.local.has(userId)) return // reconnected here meanwhile
        if (await this.opts.store.disconnect(this.opts.processId, userId)) this.emit(userId, false)
      })
    })
    // An entry lives 60 % of the bound and is refreshed every 20 %, so a late
    // heartbeat or two do not expire it; a dead process's entries expire
    // within 60 % and a sweep (every 20 %) finds them: offline within ~80 %.
    this.entryTtlMs = Math.round(opts.ttlMs * 0.6)
    const every = Math.max(100, Math.round(opts.ttlMs * 0.2))
    this.timers = [
      setInterval(() => { void this.heartbeat() }, every).unref(),
      setInterval(() => { void this.sweep() }, every).unref()
    ]
  }

  async online (userIds: string[]): Promise<Set<string>> {
    const found = await this.opts.store.online(userIds)
    // Local knowledge first: a connect of this process may still be on its way to the store.
    for (const id of userIds) if (this.local.has(id)) found.add(id)
    return found
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

  /**
   * Stops refreshing. This process's entries are left to expire after the
   * grace period, and another process sweeps them: users who reconnect
   * elsewhere meanwhile (a rolling restart) never show offline.
   */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const t of this.timers) clearInterval(t)
    this.local.clear()
    await Promise.all(this.chains.values())
    await this.opts.store.expireProcess(this.opts.processId, this.opts.graceMs)
      .catch((err: unknown) => this.opts.onError(err, 'could not release presence entries'))
  }

  private async register (userId: string): Promise<void> {
    if (!this.local.has(userId) || this.closed) return
    if (await this.opts.store.connect(this.opts.processId, userId, this.entryTtlMs)) this.emit(userId, true)
  }

  private emit (userId: string, online: boolean): void {
    if (!this.closed) this.events.emit('change', { userId, online, at: new Date() })
  }

  private enqueue (userId: string, op: () => Promise<void>): void {
    const next = (this.chains.get(userId) ?? Promise.resolve())
      .then(op)
      .catch((err: unknown) => this.opts.onError(err, 'presence update failed'))
    this.chains.set(userId, next)
    void next.then(() => { if (this.chains.get(userId) === next) this.chains.delete(userId) })
  }

  private async heartbeat (): Promise<void> {
    if (this.beating || this.closed) return
    this.beating = true
    try {
      const local = this.local.users()
      const found = await this.opts.store.refresh(this.opts.processId, local, this.entryTtlMs)
      // Entries swept while this process was stalled, or whose connect failed: register again.
      for (const userId of local) {
        if (!found.has(userId) && !this.chains.has(userId)) this.enqueue(userId, () => this.register(userId))
      }
    } catch (err) {
      this.opts.onError(err, 'presence heartbeat failed')
    } finally {
      this.beating = false
    }
  }

  private async sweep (): Promise<void> {
    if (this.sweeping || this.closed) return
    this.sweeping = true
    try {
      for (const userId of await this.opts.store.sweep()) this.emit(userId, false)
    } catch (err) {
      this.opts.onError(err, 'presence sweep failed')
    } finally {
      this.sweeping = false
    }
  }
}
