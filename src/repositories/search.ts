// Message search: one statement, through a Prisma client on a pool of its own
// (src/plugins/app/search.ts), whose connections carry a short
// statement_timeout, so a search can neither run long nor take the
// connections posting needs. It reads the columns
// themselves through two indexes (migrations 20261209000001 and 20261209000002),
// so an edit or a deletion is reflected by the next search.
import type { PrismaClient } from '../generated/prisma/client.js'
import { MESSAGE_COLUMNS, type MessageRow } from './messages.js'

export interface SearchFilter {
  userId: string
  /** ILIKE patterns (escaped, wrapped in %), each served by messages_body_trgm. */
  patterns: string[]
  /** Short whole words, all required, served by messages_body_words; empty for none. */
  words: string[]
  conversationId?: string | undefined
  /** Only messages with a smaller id (ids are UUIDv7: older). */
  beforeId?: string | undefined
  limit: number
  /** DELETED_ACCOUNT_MESSAGES=erase: a deleted account's messages are gone even before their erasure has run. */
  hideDeletedSenders: boolean
}

/**
 * The statement for this shape of filter. Every pattern is its own predicate
 * (GIN cannot serve `ILIKE ALL(array)`), so the text depends on the number of
 * patterns (at most a handful) and on which filters are present.
 * The caller's windows: current memberships only (a removed member sees the
 * conversation as a stranger does), messages from joined_seq on, not deleted.
 */
/** The search statement with its bound values (also EXPLAINed by the tests and the bench). */
export function searchStatement (f: SearchFilter): { text: string, values: unknown[] } {
  const values: unknown[] = [f.userId]
  const p = (v: unknown) => { values.push(v); return `$${values.length}` }
  const where: string[] = ['m.deleted_at IS NULL']
  for (const pattern of f.patterns) where.push(`m.body ILIKE ${p(pattern)}::text`)
  if (f.words.length > 0) where.push(`to_tsvector('simple'::regconfig, m.body) @@ plainto_tsquery('simple'::regconfig, ${p(f.words.join(' '))}::text)`)
  if (f.beforeId !== undefined) where.push(`m.id < ${p(f.beforeId)}::uuid`)
  if (f.hideDeletedSenders) where.push('NOT EXISTS (SELECT 1 FROM users s WHERE s.id = m.sender_id AND s.deleted_at IS NOT NULL)')
  let mine = ''
  if (f.conversationId !== undefined) {
    // Also on messages itself, so that the planner reads that conversation's own statistics.
    const id = p(f.conversationId)
    mine = ` AND conversation_id = ${id}::uuid`
    where.push(`m.conversation_id = ${id}::uuid`)
  }
  // The matches are read in one pass of the text indexes over all the caller's conversations (hits), then
  // windowed. Joined per conversation instead, the planner probed the trigram index once per conversation:
  // 50 probes of 1-2 ms for a member of 50 (README, scenario 9). Either way every match is read before the
  // newest are kept, so the work grows with the matches: a term too common runs into the statement timeout.
  const text = `
    WITH mine AS MATERIALIZED (
      SELECT conversation_id, joined_seq FROM memberships
       WHERE user_id = $1::uuid AND left_at IS NULL${mine}),
    hits AS MATERIALIZED (
      SELECT m.* FROM messages m
       WHERE m.conversation_id = ANY (ARRAY(SELECT conversation_id FROM mine)) AND ${where.join(' AND ')})
    SELECT ${MESSAGE_COLUMNS}
      FROM hits m
      JOIN mine ON mine.conversation_id = m.conversation_id AND m.seq >= mine.joined_seq
     ORDER BY m.id DESC
     LIMIT ${p(f.limit)}::int`
  return { text, values }
}

/**
 * `prisma` reads the primary; `replica` (DATABASE_REPLICA_URL), when set, may
 * serve the searches themselves (src/domain/search.ts decides, and falls back).
 */
export function createSearchRepository (prisma: PrismaClient, replica?: PrismaClient) {
  return {
    /** Whether a replica can serve messages(). */
    hasReplica: replica !== undefined,

    /**
     * Matching messages the user may see, newest first. The statement is
     * assembled from fixed fragments; every value of the query is a bound
     * parameter ($n), never spliced into the text.
     */
    async messages (f: SearchFilter, from: 'primary' | 'replica' = 'primary'): Promise<MessageRow[]> {
      const { text, values } = searchStatement(f)
      const client = from === 'replica' && replica !== undefined ? replica : prisma
      const rows = await client.$queryRawUnsafe<MessageRow[]>(text, ...values)
      return rows.map((r) => ({ ...r, mentions: r.mentions ?? [] }))
    },

    /** Whether the user is a current member of the conversation. */
    async isMember (userId: string, conversationId: string): Promise<boolean> {
      const rows = await prisma.$queryRaw<unknown[]>`
        SELECT 1 FROM memberships WHERE conversation_id = ${conversationId}::uuid AND user_id = ${userId}::uuid AND left_at IS NULL`
      return rows.length > 0
    }
  }
}

export type SearchRepository = ReturnType<typeof createSearchRepository>
