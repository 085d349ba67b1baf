// GET /v1/me/unread as a page: the totals are always the user's whole badge
// (every membership counted, as device pushes count it), while the list of
// conversations with something unread, which grows with the memberships, is
// served a keyset page at a time, by conversation id, as every list of the
// API is. A sync's `unread` is the first page.
import { decodeIdCursor, encodeIdCursor } from './cursors.js'
import type { ConversationUnread, UnreadTotals } from '../repositories/unread.js'

export interface UnreadPage {
  total: number
  mentions: number
  threads: number
  conversations: ConversationUnread[]
  /** The cursor of the next page of `conversations`; null on the last page. */
  nextCursor: string | null
}

/** The page size of a sync's `unread`, and of GET /v1/me/unread without `limit` (the API's default page). */
export const UNREAD_PAGE_DEFAULT = 50

const encodeCursor = encodeIdCursor
const decodeCursor = (cursor: string) => decodeIdCursor(cursor)

/**
 * One page of `totals.conversations` (ordered by id, as unreadTotals reads
 * them): those after `cursor`, at most `limit`, with the exact totals.
 */
export function unreadPage (totals: UnreadTotals, opts: { limit?: number | undefined, cursor?: string | undefined } = {}): UnreadPage {
  const limit = opts.limit ?? UNREAD_PAGE_DEFAULT
  const after = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor)
  const rest = after === undefined ? totals.conversations : totals.conversations.filter((c) => c.id > after)
  const page = rest.slice(0, limit)
  const last = page[page.length - 1]
  return {
    total: totals.total,
    mentions: totals.mentions,
    threads: totals.threads,
    conversations: page,
    nextCursor: rest.length > limit && last !== undefined ? encodeCursor(last.id) : null
  }
}
