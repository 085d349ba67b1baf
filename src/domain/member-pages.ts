// Pages of a conversation's current members (GET /v1/conversations/:id/members),
// keyset on (joined at, user id): a page costs the same at any depth of a
// group of any size. Only current members may page; anyone else gets the 404
// of a missing conversation.
import type { MemberCursor } from '../repositories/conversation-pages.js'
import type { ConversationsRepository, MemberWithUser } from '../repositories/conversations.js'
import { badRequest, notFound } from './errors.js'
import { isUuid } from './ids.js'
import { toMember, type MemberView } from './views.js'

// The cursor is opaque to clients: base64url of "<joined at, ISO with ms>|<user id>".
// Decoding accepts only what encoding produces (a four-digit year from 1000 on,
// which PostgreSQL's timestamptz holds), so no cursor can fail in the database.
const CURSOR = /^([1-9]\d{3}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|(.+)$/

const encodeCursor = (m: MemberWithUser) => Buffer.from(`${m.joinedAt.toISOString()}|${m.user.id}`).toString('base64url')

function decodeCursor (cursor: string): MemberCursor {
  const match = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  const joinedAt = new Date(match?.[1] ?? '')
  const userId = match?.[2] ?? ''
  if (Number.isNaN(joinedAt.getTime()) || joinedAt.toISOString() !== match?.[1] || !isUuid(userId)) {
    throw badRequest('querystring/cursor is not a cursor this API returned')
  }
  return { joinedAt, userId }
}

export function createMemberPages (repo: ConversationsRepository) {
  return {
    /** Up to `limit` current members in joining order (then user id), after `cursor`. */
    async list (userId: string, conversationId: string, opts: { limit: number, cursor?: string | undefined }): Promise<{ members: MemberView[], nextCursor: string | null }> {
      const after = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor)
      const rows = await repo.memberPage(conversationId, userId, after, opts.limit + 1)
      if (rows === null) throw notFound('Conversation')
      const page = rows.slice(0, opts.limit)
      const last = page[page.length - 1]
      return {
        members: page.map(toMember),
        nextCursor: rows.length > opts.limit && last !== undefined ? encodeCursor(last) : null
      }
    }
  }
}
