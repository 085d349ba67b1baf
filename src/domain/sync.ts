// GET /v1/sync: everything that changed for one account since a cursor, in
// keyset pages, whatever the number of its conversations.
//
// A cursor is a PostgreSQL snapshot (pg_snapshot: xmin, xmax and the
// transactions in progress). A change (an event, a member's own state) is new
// to the client when the transaction that made it is not visible in the
// snapshot of the client's last sync; a sync answers the changes its own
// snapshot sees. Snapshots do not depend on clocks or on commit order across
// conversations, so a change committed while a client pages is in that sync
// (if its snapshot sees it) or the next, never lost and never twice. The pages
// of one sync all read as of its first page's snapshot (`t` in the cursor);
// the last page hands that snapshot on as the next `since`.
//
// Within a conversation, events commit in seq order (writers hold its row
// lock until they commit), so what a snapshot sees of a log is a prefix, and
// a sync's events for it are one range of seqs (repositories/sync.ts).
import type { ConversationReader } from './conversation-reader.js'
import { badRequest } from './errors.js'
import { toChatEvent } from './event-log.js'
import type { ChatEvent } from './events.js'
import { isUuid } from './ids.js'
import type { ConversationView } from './views.js'
import type { SyncCandidate, SyncPosition, SyncRepository } from '../repositories/sync.js'
import type { UnreadTotals } from '../repositories/unread.js'

/** What the cursor carries: the snapshot of the client's last sync, and within a sync, its own snapshot and position. */
interface Cursor { s: string, t?: string, c?: string, q?: number }

export interface SyncChange {
  conversationId: string
  /** member: the caller is a member (conversation is its current state); left: the caller was removed or left. */
  membership: 'member' | 'left'
  conversation: ConversationView | null
  /** The caller's read position here (moved by any of their devices). */
  lastReadSeq: number
  /** The new events, in seq order; absent in summary mode for conversations not asked for. */
  events?: ChatEvent[]
  /** The events of this conversation continue on the next page. */
  eventsContinue?: boolean
}

export interface SyncPage {
  changes: SyncChange[]
  /** The badge counts (GET /v1/me/unread), when this page changed something; else null. */
  unread: UnreadTotals | null
  cursor: string
  hasMore: boolean
}

export interface SyncOptions {
  since?: string | undefined
  limit: number
  /** events (default): every change with its events; summary: the conversations' state, events only for `eventsFor`. */
  mode: 'events' | 'summary'
  eventsFor?: string[] | undefined
  /** Seqs the client already has of conversations it got pushes for since its cursor: events up to them are not sent again. */
  known?: Map<string, number> | undefined
}

const SNAPSHOT = /^(\d{1,19}):(\d{1,19}):((?:\d{1,19})(?:,\d{1,19})*)?$/
const MAX_IN_PROGRESS = 10_000
const MAX_CURSOR_CHARS = 64_000

/** Checks a pg_snapshot text as PostgreSQL would, so a forged one answers 400, not an error of the database. */
function validSnapshot (text: unknown): text is string {
  if (typeof text !== 'string') return false
  const m = SNAPSHOT.exec(text)
  if (m === null) return false
  const xmin = BigInt(m[1]!)
  const xmax = BigInt(m[2]!)
  const limit = 2n ** 63n
  if (xmin < 1n || xmin > xmax || xmax >= limit) return false
  const xip = m[3] === undefined ? [] : m[3].split(',').map(BigInt)
  if (xip.length > MAX_IN_PROGRESS) return false
  let last = -1n
  for (const x of xip) {
    if (x < xmin || x >= xmax || x <= last) return false
    last = x
  }
  return true
}

export function encodeSyncCursor (c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url')
}

/** The cursor, or 400 VALIDATION_FAILED for anything this API did not write. */
export function decodeSyncCursor (cursor: string): Cursor {
  const invalid = () => badRequest('querystring/since is not a cursor this API returned')
  if (cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid()
  let c: Cursor
  try {
    c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Cursor
  } catch {
    throw invalid()
  }
  if (typeof c !== 'object' || c === null || !validSnapshot(c.s)) throw invalid()
  if (c.t !== undefined || c.c !== undefined || c.q !== undefined) {
    if (!validSnapshot(c.t) || typeof c.c !== 'string' || !isUuid(c.c) || !Number.isSafeInteger(c.q) || c.q! < 0 || c.q! > 2_147_483_647) throw invalid()
  }
  return c
}

export interface SyncDeps {
  repo: SyncRepository
  reader: ConversationReader
  unread: (userId: string) => Promise<UnreadTotals>
}

export function createSyncService ({ repo, reader, unread }: SyncDeps) {
  return {
    /** A cursor that starts now (also the ready frame's, see realtime/sync-clock.ts). */
    now: async (): Promise<string> => encodeSyncCursor({ s: await repo.snapshot() }),

    async sync (userId: string, opts: SyncOptions): Promise<SyncPage> {
      if (opts.since === undefined) {
        // No cursor: a client starting from nothing lists its conversations (GET /v1/conversations) after taking this one.
        return { changes: [], unread: null, cursor: await this.now(), hasMore: false }
      }
      const cursor = decodeSyncCursor(opts.since)
      const position: SyncPosition | null = cursor.c === undefined ? null : { conversationId: cursor.c, seq: cursor.q ?? 0 }
      // One more than a page tells whether another follows.
      const { snapshot, candidates } = await repo.candidates(userId, cursor.s, cursor.t ?? null, position, opts.limit + 1)
      const until = cursor.t ?? snapshot
      const known = opts.known ?? new Map<string, number>()
      const withEvents = (id: string) => opts.mode === 'events' || (opts.eventsFor?.includes(id) ?? false)
      const ranges = candidates.slice(0, opts.limit).map((c) => ({
        ...c,
        fromSeq: Math.max(c.fromSeq, Math.min(known.get(c.conversationId) ?? 0, c.toSeq))
      }))
      const events = await repo.events(ranges.filter((r) => withEvents(r.conversationId)), opts.limit + 1)
      // The page ends after `limit` events, or after `limit` conversations.
      const pageEvents = events.slice(0, opts.limit)
      const byConversation = new Map<string, ChatEvent[]>()
      for (const e of pageEvents) {
        const list = byConversation.get(e.conversationId) ?? []
        list.push(toChatEvent(e))
        byConversation.set(e.conversationId, list)
      }
      let included: SyncCandidate[] = ranges
      let next: SyncPosition | null = null
      if (events.length > opts.limit) {
        // Cut inside the conversation of the last event of the page: it continues on the next one.
        const last = pageEvents[pageEvents.length - 1]!
        const at = ranges.findIndex((r) => r.conversationId === last.conversationId)
        included = ranges.slice(0, at + 1)
        next = { conversationId: last.conversationId, seq: last.seq }
      } else if (candidates.length > opts.limit) {
        // The next conversation starts the next page.
        next = { conversationId: candidates[opts.limit]!.conversationId, seq: 0 }
      }
      const shown = included.filter((r) => r.ownChanged || r.toSeq > r.fromSeq)
      const current = shown.filter((r) => r.leftSeq === null).map((r) => r.conversationId)
      const views = new Map((await reader.byIds(userId, current)).map((v) => [v.id, v]))
      const changes = shown.map((r): SyncChange => {
        const view = views.get(r.conversationId) ?? null
        const change: SyncChange = {
          conversationId: r.conversationId,
          membership: view === null ? 'left' : 'member',
          conversation: view,
          lastReadSeq: r.lastReadSeq
        }
        if (withEvents(r.conversationId)) {
          change.events = byConversation.get(r.conversationId) ?? []
          if (next !== null && next.seq > 0 && next.conversationId === r.conversationId) change.eventsContinue = true
        }
        return change
      })
      return {
        changes,
        unread: changes.length > 0 ? await unread(userId) : null,
        cursor: next === null ? encodeSyncCursor({ s: until }) : encodeSyncCursor({ s: cursor.s, t: until, c: next.conversationId, q: next.seq }),
        hasMore: next !== null
      }
    }
  }
}

export type SyncService = ReturnType<typeof createSyncService>
