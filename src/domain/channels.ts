// The channel directory: public groups, newest first, found by title
// (README "Search, channels and invitations"). Joining is in members.ts.
import { decodeIdCursor, encodeIdCursor } from './cursors.js'
import type { ConversationsRepository } from '../repositories/conversations.js'
import { AppError } from './errors.js'
import { mediaUrl } from './views.js'

export interface ChannelView {
  id: string
  title: string
  createdAt: string
  memberCount: number
  pictureUrl: string | null
  /** Whether the caller is a member. */
  joined: boolean
}

/**
 * Characters (Unicode code points, as titles are bounded and stored) of a title query, after trimming: a trigram
 * (three) at least, so the title index serves it. Counted here only, so a query past either end answers
 * INVALID_QUERY whatever it is made of (an emoji is one character, though two UTF-16 units).
 */
export const CHANNEL_QUERY = { min: 3, max: 100 } as const

const encodeCursor = encodeIdCursor
const decodeCursor = (cursor: string) => decodeIdCursor(cursor)

export function createChannelDirectory (repo: ConversationsRepository) {
  return {
    async list (userId: string, opts: { query?: string | undefined, cursor?: string | undefined, limit: number }) {
      const query = opts.query?.trim()
      let pattern: string | undefined
      if (query !== undefined && query !== '') {
        const length = [...query].length
        if (length < CHANNEL_QUERY.min || length > CHANNEL_QUERY.max) {
          throw new AppError(400, 'INVALID_QUERY', `query must have ${CHANNEL_QUERY.min} to ${CHANNEL_QUERY.max} characters`)
        }
        pattern = `%${query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
      }
      const rows = await repo.channels(userId, {
        pattern,
        beforeId: opts.cursor === undefined ? undefined : decodeCursor(opts.cursor),
        limit: opts.limit + 1
      })
      const page = rows.slice(0, opts.limit)
      const last = page[page.length - 1]
      return {
        channels: page.map((r): ChannelView => ({
          id: r.id,
          title: r.title,
          createdAt: r.createdAt.toISOString(),
          memberCount: r.memberCount,
          pictureUrl: mediaUrl(r.pictureUploadId),
          joined: r.joined
        })),
        nextCursor: rows.length > opts.limit && last !== undefined ? encodeCursor(last.id) : null
      }
    }
  }
}

export type ChannelDirectory = ReturnType<typeof createChannelDirectory>
