// The catch-up after every `ready`, and the re-base while live: GET /v1/sync
// from the cursor when there is one (page by page, each change through the
// tracker), else GET /v1/conversations compared with the local lastSeqs and a
// replay per conversation that moved. realtime.ts owns the socket it runs on.
import { backoffDelay, type BackoffOptions } from './backoff.js'
import { ApiError } from './errors.js'
import type { Api } from './api.js'
import type { SeqTracker } from './tracker.js'
import type { ChatEvent, SyncChange, UnreadTotals } from './types.js'
import type { Replayer } from './replayer.js'
import type { RealtimeEvents, RealtimeOptions, SyncedInfo, WebSocketLike } from './realtime-types.js'

/**
 * Most `known` pairs sent with a sync (the API's limit: 150, about 7 KB of
 * the request line); above, none are sent and the server sends those events
 * again (they drop out as duplicates).
 */
const MAX_KNOWN = 150
/** While live, a sync re-bases the cursor once this many conversations got events since it, so `known` stays small. */
const REBASE_AT = 100
const REBASE_DELAY_MS = 1_000
const MAX_SYNC_PAGES = 10_000
/** Tries of one sync page answered 503 or 429 (each after its Retry-After) before the socket is dropped and reconnects. */
const SYNC_PAGE_ATTEMPTS = 5

type SyncOutcome = 'done' | 'failed' | 'fallback'

/** What a catch-up needs of the connection. */
export interface CatchUpHost {
  /** The tracker now (a reset replaces it). */
  tracker (): SeqTracker<ChatEvent>
  /** The socket now (null between sockets): a catch-up begun on another one applies nothing more. */
  socket (): WebSocketLike | null
  /** Closed (until connect()): a catch-up applies nothing more. */
  stopped (): boolean
  /** The connection is live: only then does a re-base run. */
  live (): boolean
  emit<K extends keyof RealtimeEvents> (event: K, ...args: RealtimeEvents[K]): void
  /** Closes the current socket and handles it as a lost connection (a fresh one catches up again). */
  drop (code: number, reason: string): void
  /** Caught up on the socket still current: the connection goes live. */
  synced (via: SyncedInfo['via']): void
}

export class CatchUp {
  private firstSync = true
  /** The sync cursor: every change after it was delivered, or is pushed on the socket, or comes with the next sync. */
  private cursorNow: string | undefined
  /** Conversations that got events since the cursor: their positions go out as `known`. */
  private touched = new Set<string>()
  /** The sync running (a catch-up or a re-base), so two never overlap. */
  private syncRun: Promise<void> | undefined
  private rebaseTimer: ReturnType<typeof setTimeout> | undefined
  /** While a sync page's own events are applied: they are older than the next cursor, so not `known` material. */
  private applyingSync = false
  /** Moves on reset(): a catch-up begun for the previous user applies nothing after it. */
  private epoch = 0

  /** `cursor`: a saved one to resume from (only with saved positions). */
  constructor (private readonly api: Api, private readonly replayer: Replayer, private readonly host: CatchUpHost, private readonly options: RealtimeOptions, cursor: string | undefined) {
    if (this.syncEnabled) this.cursorNow = cursor
  }

  /** The sync cursor (undefined before the first catch-up, or with `sync: false`). */
  get cursor (): string | undefined {
    return this.cursorNow
  }

  private get syncEnabled (): boolean {
    return this.options.sync !== false
  }

  private get tracker (): SeqTracker<ChatEvent> {
    return this.host.tracker()
  }

  /** Forgets the cursor and what was touched since (another user, or no session): catch-ups under way apply nothing more. */
  reset (): void {
    this.firstSync = true
    this.epoch++
    this.cursorNow = undefined
    this.touched = new Set()
    this.stopRebase()
  }

  /** Cancels a re-base not yet begun. */
  stopRebase (): void {
    clearTimeout(this.rebaseTimer)
    this.rebaseTimer = undefined
  }

  /** A tracker delivered an event to the app: outside a sync page its conversation goes in `known`. */
  applied (event: ChatEvent): void {
    if (this.syncEnabled && !this.applyingSync) {
      this.touched.add(event.conversationId)
      if (this.touched.size > REBASE_AT && this.rebaseTimer === undefined && this.cursorNow !== undefined) {
        this.rebaseTimer = setTimeout(() => {
          this.rebaseTimer = undefined
          void this.rebase()
        }, REBASE_DELAY_MS)
      }
    }
  }

  /** After `ready`: through the cursor when there is one, else the per-conversation flow; then live. */
  async run (readyCursor: string | null): Promise<void> {
    const ws = this.host.socket()
    // A re-base still paging stops after its current page (its socket is gone).
    if (this.syncRun !== undefined) await this.syncRun
    if (this.host.socket() !== ws || this.host.stopped()) return
    let via: SyncedInfo['via'] = 'conversations'
    let done: boolean
    if (this.syncEnabled && this.cursorNow !== undefined) {
      via = 'sync'
      const outcome = await this.exclusive(() => this.syncFromCursor(ws, true, readyCursor ?? undefined))
      if (outcome === 'fallback') via = 'conversations'
      done = outcome === 'fallback' ? await this.listAndReplay(ws, readyCursor) : outcome === 'done'
    } else {
      done = await this.listAndReplay(ws, readyCursor)
    }
    if (this.host.socket() !== ws || this.host.stopped()) return
    if (done) this.host.synced(via)
  }

  /** Runs one sync at a time (a catch-up waits for a re-base to stop). */
  private exclusive<T> (run: () => Promise<T>): Promise<T> {
    const result = run()
    const tracked = result.then(() => undefined, () => undefined)
    this.syncRun = tracked
    void tracked.then(() => { if (this.syncRun === tracked) this.syncRun = undefined })
    return result
  }

  /**
   * GET /v1/sync from the cursor, every page, each change's events through
   * the tracker (duplicates drop out; past a gap they wait for a replay),
   * then `conversation` / `left` per change and `unread`; the cursor moves
   * once all of it is applied. `reconnect`: pushes are held until the end,
   * as in the per-conversation flow. `until`: the ready frame's cursor, where
   * the sync ends (what came after it is pushed on this socket). `fallback`:
   * the server refused the cursor (400) or has no sync (404), which is then
   * forgotten.
   */
  private async syncFromCursor (ws: WebSocketLike | null, reconnect: boolean, until?: string): Promise<SyncOutcome> {
    const first = this.firstSync
    const epoch = this.epoch
    const current = () => this.host.socket() === ws && !this.host.stopped() && this.epoch === epoch
    const before = this.touched
    this.touched = new Set()
    const known = this.knownParam(before)
    const limit = this.options.syncPageSize ?? 200
    let cursor = this.cursorNow!
    let unread: UnreadTotals | null = null
    const gapped = new Set<string>()
    /** Conversations reported left -> the seq of their removal; applied once the sync is adopted (a cut sync is sent again). */
    const lefts = new Map<string, number>()
    // A left change without events (those up to `known` are not sent again) ended at or before the position here now.
    const startedAt = this.tracker.positions()
    let adopted = false
    if (reconnect) this.tracker.holdAll()
    try {
      for (let page = 0; ; page++) {
        if (page >= MAX_SYNC_PAGES) throw new Error('sync did not end')
        const res = await syncPage(this.api, { since: cursor, limit, ...(known === undefined ? {} : { known }), ...(page === 0 && until !== undefined ? { until } : {}) }, current, this.options.backoff)
        if (res === undefined || !current()) return 'failed'
        this.applyingSync = true
        try {
          for (const change of res.changes) this.applyChange(change, first, gapped, lefts, startedAt)
        } finally {
          this.applyingSync = false
        }
        if (res.unread !== null) unread = res.unread
        cursor = res.cursor
        if (!res.hasMore) break
      }
      this.firstSync = false
      if (unread !== null) this.host.emit('unread', unread)
      this.keepReadded(lefts, gapped)
      const replays = new Set([...gapped, ...(reconnect ? this.tracker.releaseAll() : [])])
      const done = await Promise.all([...replays].map((id) => this.replayer.replay(id)))
      if (!current() || !done.every(Boolean)) return 'failed'
      adopted = true
      this.adoptCursor(cursor)
      this.settleLefts(lefts)
      return 'done'
    } catch (err) {
      if (err instanceof ApiError && (err.status === 400 || err.status === 404)) {
        this.cursorNow = undefined
        return 'fallback'
      }
      this.host.emit('error', err)
      if (reconnect && this.host.socket() === ws) this.host.drop(4000, 'resync')
      return 'failed'
    } finally {
      if (!adopted && this.epoch === epoch) {
        for (const id of before) this.touched.add(id)
        if (reconnect) this.tracker.releaseAll()
      }
    }
  }

  /** One change of a sync page. */
  private applyChange (change: SyncChange, first: boolean, gapped: Set<string>, lefts: Map<string, number>, startedAt: Record<string, number>): void {
    const id = change.conversationId
    if (first && this.tracker.position(id) === undefined && !this.tracker.isReplaying(id)) {
      // No saved position at the first connect: it starts at its current lastSeq, as in the per-conversation flow.
      if (change.conversation !== null) this.tracker.setPosition(id, change.conversation.lastSeq)
    } else {
      for (const event of change.events ?? []) if (this.tracker.synced(event) === 'held') gapped.add(id)
    }
    if (change.eventsContinue === true) return
    if (change.membership === 'left') {
      // The log is no longer readable: a gap before the removal (its events end the change) cannot be filled.
      lefts.set(id, change.events?.at(-1)?.seq ?? startedAt[id] ?? 0)
      gapped.delete(id)
    } else if (change.conversation !== null) {
      this.host.emit('conversation', change.conversation)
    }
  }

  /**
   * Conversations a sync reports left but that were re-added since (its snapshot came before the re-add): events
   * past the removal are already applied, or held (then replayed). Those stay; held events up to the removal go.
   */
  private keepReadded (lefts: Map<string, number>, gapped: Set<string>): void {
    for (const [id, removal] of lefts) {
      this.tracker.dropHeldThrough(id, removal)
      const position = this.tracker.position(id) ?? 0
      if (this.tracker.known(id) <= removal) continue
      lefts.delete(id)
      if (this.tracker.known(id) > position) gapped.add(id)
    }
  }

  /** After the cursor moved past them: forgets the conversations left for good and tells the app, once. */
  private settleLefts (lefts: Map<string, number>): void {
    for (const [id, removal] of lefts) {
      // Re-added while the replays ran: its pushes came after the removal.
      if (this.tracker.known(id) > removal || this.tracker.isReplaying(id)) continue
      this.tracker.forget(id)
      this.host.emit('left', id)
    }
  }

  /** `known` for a sync: the positions of the conversations that got events since the cursor, or none past MAX_KNOWN. */
  private knownParam (ids: Set<string>): string | undefined {
    const pairs: string[] = []
    for (const id of ids) {
      const position = this.tracker.position(id)
      if (position !== undefined && position > 0) pairs.push(`${id}:${position}`)
    }
    return pairs.length === 0 || pairs.length > MAX_KNOWN ? undefined : pairs.join(',')
  }

  private adoptCursor (cursor: string): void {
    if (cursor === this.cursorNow) return
    this.cursorNow = cursor
    this.host.emit('cursor', cursor)
  }

  /** While live: a sync that moves the cursor past the events already here, so the next `known` is small. */
  private async rebase (): Promise<void> {
    const ws = this.host.socket()
    if (!this.host.live() || this.syncRun !== undefined || ws === null || this.cursorNow === undefined || this.touched.size <= REBASE_AT) return
    await this.exclusive(() => this.syncFromCursor(ws, false))
  }

  /** Steps 3-4 of the README recipe: compare lastSeqs, replay what moved, then apply the held pushes. */
  private async listAndReplay (ws: WebSocketLike | null, readyCursor: string | null): Promise<boolean> {
    // Everything delivered from here on is after the ready frame's cursor.
    if (this.syncEnabled) this.touched = new Set()
    const epoch = this.epoch
    this.tracker.holdAll()
    let list
    try {
      list = await this.api.conversations.listAll()
    } catch (err) {
      this.tracker.releaseAll()
      this.host.emit('error', err)
      if (this.host.socket() === ws) this.host.drop(4000, 'resync')
      return false
    }
    const listed = new Set<string>()
    const moved: string[] = []
    for (const c of list) {
      listed.add(c.id)
      const local = this.tracker.position(c.id)
      if (local === undefined && this.firstSync) this.tracker.setPosition(c.id, c.lastSeq)
      else if (local === undefined || c.lastSeq > local) moved.push(c.id)
    }
    // Not listed: left while away, or moved up the list (it is paged by last activity) while it was paged.
    const unlisted = this.tracker.conversations().filter((id) => !listed.has(id) && !this.tracker.isReplaying(id) && this.tracker.position(id) !== undefined)
    for (const id of await this.movedOrLeft(unlisted)) moved.push(id)
    if (this.epoch !== epoch) return false
    this.firstSync = false
    for (const id of moved) this.tracker.beginReplay(id)
    const gaps = this.tracker.releaseAll()
    const done = await Promise.all([...moved, ...gaps].map((id) => this.replayer.replay(id, true)))
    if (this.host.socket() !== ws || this.host.stopped() || this.epoch !== epoch || !done.every(Boolean)) return false
    // A replay answered 404: left, the log is no longer readable.
    for (const id of moved) if (!this.tracker.has(id)) this.host.emit('left', id)
    if (this.syncEnabled && readyCursor !== null) this.adoptCursor(readyCursor)
    return true
  }

  /**
   * Conversations missing from the paged list: one with pushes held since the listing began moved up it; the
   * others are asked for, and only a 404 means left. Returns those to replay; forgets the left and says so.
   */
  private async movedOrLeft (unlisted: string[]): Promise<string[]> {
    const moved: string[] = []
    await Promise.all(unlisted.map(async (id) => {
      const local = this.tracker.position(id) ?? 0
      if (this.tracker.known(id) > local) return moved.push(id)
      const tracker = this.tracker
      try {
        const c = await this.api.conversations.get(id)
        if (c.lastSeq > local) moved.push(id)
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) return moved.push(id)
        if (this.tracker !== tracker || tracker.known(id) > local) return moved.push(id)
        tracker.forget(id)
        this.host.emit('left', id)
      }
    }))
    return moved
  }
}

/**
 * One page of a sync. A server in a reconnect storm answers 503 (its queue of syncs is full) or 429 with a
 * Retry-After: the page is asked again after it (jittered), on the same socket, up to SYNC_PAGE_ATTEMPTS times;
 * undefined when the socket changed meanwhile.
 */
async function syncPage (api: Api, query: Parameters<Api['sync']>[0], current: () => boolean, backoff?: Partial<BackoffOptions>): Promise<Awaited<ReturnType<Api['sync']>> | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await api.sync(query)
    } catch (err) {
      const passing = err instanceof ApiError && (err.status === 503 || err.status === 429)
      if (!passing || attempt >= SYNC_PAGE_ATTEMPTS) throw err
      const waitMs = err.retryAfter !== undefined ? err.retryAfter * 1000 * (1 + Math.random() / 2) : backoffDelay(attempt - 1, backoff)
      await new Promise((resolve) => setTimeout(resolve, waitMs))
      if (!current()) return undefined
    }
  }
}
