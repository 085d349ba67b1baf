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
import { createConversationReader } from './conversation-reader.js'
import { badRequest } from './errors.js'
import { toChatEvent } from './event-log.js'
import type { ChatEvent } from './events.js'
import { isUuid } from './ids.js'
import type { ConversationView } from './views.js'
import type { SyncCandidate, SyncPosition, SyncReads, SyncRepository } from '../repositories/sync.js'
import { unreadPage, type UnreadPage } from './unread-pages.js'

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
  /** The badge counts (the first page of GET /v1/me/unread), on the last page of a sync that had changes; else null. */
  unread: UnreadPage | null
  cursor: string
  hasMore: boolean
}

export interface SyncOptions {
  since?: string | undefined
  /**
   * A cursor (the ready frame's) to sync up to instead of now: the changes after it come on the socket. Only on a
   * sync's first page (later pages carry the snapshot they read as of).
   */
  until?: string | undefined
  limit: number
  /** events (default): every change with its events; summary: the conversations' state, events only for `eventsFor`. */
  mode: 'events' | 'summary'
  eventsFor?: string[] | undefined
  /** Seqs the client already has of conversations it got pushes for since its cursor: events up to them are not sent again. */
  known?: Map<string, number> | undefined
}

// The cursor is binary, then base64url: a version byte, a flags byte (1: a
// page position follows), the snapshot as varints (xmin, xmax - xmin, the
// number of transactions in progress, then each as its distance from the one
// before, from xmin), and for a page position the sync's own snapshot, the
// conversation id (16 bytes) and the seq. A snapshot of 100 transactions in
// progress takes about 150 bytes, where its text takes 1,100: the cursor rides
// in a query string, and a request's head is limited to 16 KiB.
const VERSION = 1
/** In-progress transactions a cursor names; a snapshot with more is coarsened (see encodeSnapshot). */
const MAX_IN_PROGRESS = 1_000
/** Characters of a cursor (SyncQuery's limit too). */
export const MAX_CURSOR_CHARS = 4_096
const MAX_XID = 2n ** 63n - 1n

interface Snapshot { xmin: bigint, xmax: bigint, xip: bigint[] }

function parseSnapshot (text: string): Snapshot {
  const [xmin = '', xmax = '', xip = ''] = text.split(':')
  return { xmin: BigInt(xmin), xmax: BigInt(xmax), xip: xip === '' ? [] : xip.split(',').map(BigInt) }
}

const snapshotText = (s: Snapshot) => `${s.xmin}:${s.xmax}:${s.xip.join(',')}`

function writeVarint (out: number[], value: bigint): void {
  let v = value
  do {
    let byte = Number(v & 0x7fn)
    v >>= 7n
    if (v > 0n) byte |= 0x80
    out.push(byte)
  } while (v > 0n)
}

/**
 * A snapshot with more transactions in progress than a cursor names is
 * replaced by an older one, (xmin, xmin, none): it sees less, so a sync from
 * it returns everything the exact one would and possibly some changes again,
 * which clients drop by seq. PostgreSQL rarely has that many writers at once.
 */
function encodeSnapshot (out: number[], text: string): void {
  let snap = parseSnapshot(text)
  if (snap.xip.length > MAX_IN_PROGRESS) snap = { xmin: snap.xmin, xmax: snap.xmin, xip: [] }
  writeVarint(out, snap.xmin)
  writeVarint(out, snap.xmax - snap.xmin)
  writeVarint(out, BigInt(snap.xip.length))
  let prev = snap.xmin
  for (const x of snap.xip) {
    writeVarint(out, x - prev)
    prev = x
  }
}

class Reader {
  private at = 0
  constructor (private readonly bytes: Buffer) {}
  get done (): boolean { return this.at === this.bytes.length }
  byte (): number {
    if (this.at >= this.bytes.length) throw new RangeError('short')
    return this.bytes[this.at++]!
  }

  varint (): bigint {
    let value = 0n
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const b = this.byte()
      value |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return value
    }
    throw new RangeError('varint too long')
  }

  take (n: number): Buffer {
    if (this.at + n > this.bytes.length) throw new RangeError('short')
    const slice = this.bytes.subarray(this.at, this.at + n)
    this.at += n
    return slice
  }
}

/** A snapshot as PostgreSQL would accept it (else a RangeError): a forged one answers 400, not an error of the database. */
function readSnapshot (r: Reader): string {
  const xmin = r.varint()
  const xmax = xmin + r.varint()
  const n = r.varint()
  if (xmin < 1n || xmax > MAX_XID || n > BigInt(MAX_IN_PROGRESS)) throw new RangeError('snapshot')
  const xip: bigint[] = []
  let prev = xmin
  for (let i = 0n; i < n; i++) {
    const d = r.varint()
    if (i > 0n && d === 0n) throw new RangeError('snapshot')
    prev += d
    if (prev >= xmax) throw new RangeError('snapshot')
    xip.push(prev)
  }
  return snapshotText({ xmin, xmax, xip })
}

export function encodeSyncCursor (c: Cursor): string {
  const out: number[] = [VERSION, c.t === undefined ? 0 : 1]
  encodeSnapshot(out, c.s)
  if (c.t !== undefined) {
    encodeSnapshot(out, c.t)
    out.push(...Buffer.from(c.c!.replace(/-/g, ''), 'hex'))
    writeVarint(out, BigInt(c.q ?? 0))
  }
  return Buffer.from(out).toString('base64url')
}

const uuidOf = (hex: string) => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`

/** The cursor, or 400 VALIDATION_FAILED for anything this API did not write. */
export function decodeSyncCursor (cursor: string, param: 'since' | 'until' = 'since'): Cursor {
  const invalid = () => badRequest(`querystring/${param} is not a cursor this API returned`)
  if (cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid()
  try {
    const r = new Reader(Buffer.from(cursor, 'base64url'))
    if (r.byte() !== VERSION) throw invalid()
    const flags = r.byte()
    if (flags !== 0 && flags !== 1) throw invalid()
    const c: Cursor = { s: readSnapshot(r) }
    if (flags === 1) {
      c.t = readSnapshot(r)
      c.c = uuidOf(r.take(16).toString('hex'))
      const q = r.varint()
      if (q > 2_147_483_647n || !isUuid(c.c)) throw invalid()
      c.q = Number(q)
    }
    if (!r.done) throw invalid()
    return c
  } catch (err) {
    if (err instanceof RangeError) throw invalid()
    throw err
  }
}

export interface SyncDeps {
  repo: SyncRepository
  /** How many members each conversation's view shows (as GET /v1/conversations). */
  membersPreview: number
}

export function createSyncService ({ repo, membersPreview }: SyncDeps) {
  return {
    /** A cursor that starts now (also the ready frame's, see realtime/sync-clock.ts). */
    now: async (): Promise<string> => encodeSyncCursor({ s: await repo.snapshot() }),

    async sync (userId: string, opts: SyncOptions): Promise<SyncPage> {
      if (opts.since === undefined) {
        // No cursor: a client starting from nothing lists its conversations (GET /v1/conversations) after taking this one.
        return { changes: [], unread: null, cursor: await this.now(), hasMore: false }
      }
      const cursor = decodeSyncCursor(opts.since)
      // A later page of a sync (its cursor carries the snapshot the sync reads as of).
      const paging = cursor.t !== undefined
      if (opts.until !== undefined && !paging) {
        const until = decodeSyncCursor(opts.until, 'until')
        // A page's cursor is not a place to sync up to.
        if (until.t !== undefined) throw badRequest('querystring/until is not a cursor of a ready frame or of a sync\'s last page')
        cursor.t = until.s
      }
      // The page's statements run in one transaction on one connection, each on its generic plan (repositories/sync.ts).
      return await repo.page(async (db) => await syncPage(db, membersPreview, userId, opts, cursor, paging))
    }
  }
}

/** One page of a sync, on the connection of its transaction. */
async function syncPage (db: SyncReads, membersPreview: number, userId: string, opts: SyncOptions, cursor: Cursor, paging: boolean): Promise<SyncPage> {
  const position: SyncPosition | null = cursor.c === undefined ? null : { conversationId: cursor.c, seq: cursor.q ?? 0 }
  // One more than a page tells whether another follows.
  const { snapshot, future, badgeChanged, candidates, unread: firstPageBadge } = await db.candidates(userId, cursor.s, cursor.t ?? null, position, opts.limit + 1)
  // The SDK lists afresh on a 400 (a cursor this database did not write), rather than skip what it missed.
  if (future) throw badRequest(`querystring/${opts.until !== undefined && !paging ? 'since or until' : 'since'} is not a cursor this API returned`)
  const until = cursor.t ?? snapshot
  const known = opts.known ?? new Map<string, number>()
  const withEvents = (id: string) => opts.mode === 'events' || (opts.eventsFor?.includes(id) ?? false)
  const ranges = candidates.slice(0, opts.limit).map((c) => ({
    ...c,
    fromSeq: Math.max(c.fromSeq, Math.min(known.get(c.conversationId) ?? 0, c.toSeq))
  }))
  const events = await db.events(ranges.filter((r) => withEvents(r.conversationId)), opts.limit + 1)
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
    const last = pageEvents[pageEvents.length - 1]!
    const at = ranges.findIndex((r) => r.conversationId === last.conversationId)
    included = ranges.slice(0, at + 1)
    // Cut inside the conversation of the last event of the page: it continues on the next one. Cut right
    // after its last event (the one past the page is another's): the next page starts at the next conversation.
    next = events[opts.limit]!.conversationId === last.conversationId
      ? { conversationId: last.conversationId, seq: last.seq }
      : { conversationId: ranges[at + 1]!.conversationId, seq: 0 }
  } else if (candidates.length > opts.limit) {
    // The next conversation starts the next page.
    next = { conversationId: candidates[opts.limit]!.conversationId, seq: 0 }
  }
  const shown = included.filter((r) => r.ownChanged || r.toSeq > r.fromSeq)
  const current = shown.filter((r) => r.leftSeq === null).map((r) => r.conversationId)
  // The badge is read once per sync, on its last page, which takes its conversations' counts from it (the same
  // rule, unread.ts) rather than counting them a second time. Other pages count only their own conversations: the
  // badge reads every membership of the caller, and a long catch-up has several pages. A first page counted it
  // already, with its changes (repositories/sync.ts); a later last page counts it now.
  const last = next === null && (shown.length > 0 || paging || badgeChanged)
  const totals = last ? (firstPageBadge ?? await db.badge(userId)) : null
  const views = new Map((await createConversationReader(db.pages, membersPreview).byIds(userId, current, totals ?? undefined)).map((v) => [v.id, v]))
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
    // Once per sync (its last page), when it had changes: it counts every conversation of the caller.
    unread: totals === null ? null : unreadPage(totals),
    cursor: next === null ? encodeSyncCursor({ s: until }) : encodeSyncCursor({ s: cursor.s, t: until, c: next.conversationId, q: next.seq }),
    hasMore: next !== null
  }
}

export type SyncService = ReturnType<typeof createSyncService>
