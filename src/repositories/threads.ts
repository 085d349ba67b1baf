// Threads: the members' read positions and follows (thread_members), their
// unread counts and the list of the threads a user follows. The replies
// themselves are messages (messages.ts pages them); post_messages keeps the
// summaries and the follows as replies come.
import type pg from 'pg'
import type { Database } from './db.js'
import { MESSAGE_COLUMNS, type MessageRow } from './messages.js'
import { inReceiptTransaction, lockMemberList } from './receipts.js'

/** Where a page of followed threads starts: after this thread (newest activity first). */
export interface ThreadCursor { at: Date, id: string }

export interface FollowedThreadRow { root: MessageRow, lastActivityAt: Date, unreadCount: number, lastReadSeq: number }

/** A thread read position that moved, and the reader's unread counts after it. */
export interface ThreadReceipt { seq: number, unreadCount: number, threadUnreadCount: number }

// Replies that are unread for a member: by others, not deleted, after their
// read position and within their window. `tm` is the thread_members row, `me`
// the membership.
const UNREAD = `
  SELECT count(*)::int FROM messages r
   WHERE r.thread_root_id = tm.root_id AND r.seq > tm.last_read_seq AND r.seq >= me.joined_seq
     AND r.sender_id <> tm.user_id AND r.deleted_at IS NULL`

/** A root's thread summary, as stored on it (messages.thread_*). */
export type ThreadSummaryRow = Pick<MessageRow, 'threadReplyCount' | 'threadLastReplyAt' | 'threadParticipants'>

/**
 * A live reply r of root g that g's author could see: not posted after one of
 * their removals from the conversation unless they were added back before it
 * (the member.removed / member(s).added events of the log are the windows).
 */
const VISIBLE_REPLY = `r.thread_root_id = g.id AND r.deleted_at IS NULL
  AND NOT EXISTS (
    SELECT 1 FROM events rm
     WHERE rm.conversation_id = g.conversation_id AND rm.type = 'member.removed' AND rm.data->>'userId' = g.sender_id::text AND rm.seq < r.seq
       AND NOT EXISTS (
         SELECT 1 FROM events ad
          WHERE ad.conversation_id = g.conversation_id AND ad.seq > rm.seq AND ad.seq <= r.seq
            AND ((ad.type = 'member.added' AND ad.data->>'userId' = g.sender_id::text)
              OR (ad.type = 'members.added' AND ad.data->'userIds' ? g.sender_id::text))))`

// The stored summary is the author's own when it counts nothing, or when the
// root lies in their current window (no removal since it, so they saw every reply).
const STORED_IS_AUTHORS = '(g.thread_reply_count = 0 OR (ms.left_seq IS NULL AND g.seq >= ms.joined_seq))'

/**
 * The thread summary of each of these roots as its author may see it: only
 * the replies posted within their membership windows (README "membership
 * windows"), none from while they were out. What the export (GET /v1/me/export)
 * and the idempotent retry of a post (its answer is the stored original) show
 * of the caller's own messages. Roots not found are left out of the map.
 */
export async function authorSummaries (db: pg.Pool, rootIds: string[]): Promise<Map<string, ThreadSummaryRow>> {
  const byRoot = new Map<string, ThreadSummaryRow>()
  if (rootIds.length === 0) return byRoot
  const { rows } = await db.query<ThreadSummaryRow & { id: string }>(
    `SELECT g.id,
            CASE WHEN ${STORED_IS_AUTHORS} THEN g.thread_reply_count
                 ELSE (SELECT count(*)::int FROM messages r WHERE ${VISIBLE_REPLY})
            END AS "threadReplyCount",
            CASE WHEN ${STORED_IS_AUTHORS} THEN g.thread_last_reply_at
                 ELSE (SELECT max(r.created_at) FROM messages r WHERE ${VISIBLE_REPLY})
            END AS "threadLastReplyAt",
            COALESCE(CASE WHEN ${STORED_IS_AUTHORS} THEN g.thread_participants
                          ELSE ARRAY(SELECT r.sender_id FROM messages r WHERE ${VISIBLE_REPLY} GROUP BY r.sender_id ORDER BY min(r.seq) LIMIT 5)
                     END, '{}') AS "threadParticipants"
       FROM messages g
       LEFT JOIN memberships ms ON ms.conversation_id = g.conversation_id AND ms.user_id = g.sender_id
      WHERE g.id = ANY($1::uuid[])`, [rootIds])
  for (const { id, ...summary } of rows) byRoot.set(id, summary)
  return byRoot
}

export function createThreadsRepository ({ pool }: Database) {
  return {
    /** See authorSummaries. */
    authorSummaries: (rootIds: string[]) => authorSummaries(pool, rootIds),

    /**
     * Moves the user's read position in a thread forward to `seq` (at most
     * the conversation's lastSeq), creating it when missing (without
     * following). Returns the new position with the user's unread counts
     * after it (the thread's, whether they follow it or not, and all the
     * threads they follow in the conversation), or null when it did not move
     * or the user is no current member. In one transaction under the member
     * list's lock (receipts.ts): a member removed meanwhile either moves
     * nothing, or has the thread.read frame published before their member.removed.
     */
    advanceRead (conversationId: string, rootId: string, userId: string, seq: number): Promise<ThreadReceipt | null> {
      return inReceiptTransaction(pool, conversationId, async (tx) => {
        // The account's row is locked and found live (as accounts.lockLive,
        // and before the conversation's, in that lock order): a read racing
        // the account's deletion waits for its erasure, then finds it deleted
        // and writes nothing (the erasure deletes the rows of a live
        // account's reads, and ones written after it would stay).
        const live = await tx.query({ name: 'thread-read-live', text: 'SELECT 1 FROM users WHERE id = $1::uuid AND deleted_at IS NULL FOR KEY SHARE', values: [userId] })
        if (live.rowCount === 0) return null
        if (!(await lockMemberList(tx, conversationId, userId))) return null
        // A move marks the membership changed: the member's other devices get
        // the conversation's thread counts and the badge from their next sync.
        const { rows } = await tx.query<{ last_read_seq: number }>({
          name: 'thread-read-advance',
          text: `WITH moved AS (
                   INSERT INTO thread_members AS tm (root_id, user_id, conversation_id, last_read_seq)
                   SELECT $2::uuid, me.user_id, $1::uuid, LEAST($4::int, c.last_seq)
                     FROM conversations c JOIN memberships me ON me.conversation_id = c.id AND me.user_id = $3::uuid AND me.left_at IS NULL
                    WHERE c.id = $1::uuid
                   ON CONFLICT (root_id, user_id) DO UPDATE SET last_read_seq = EXCLUDED.last_read_seq
                    WHERE tm.last_read_seq < EXCLUDED.last_read_seq
                   RETURNING tm.last_read_seq),
                 marked AS (
                   UPDATE memberships SET changed_xid = pg_current_xact_id()
                    WHERE conversation_id = $1::uuid AND user_id = $3::uuid AND EXISTS (SELECT 1 FROM moved))
                 SELECT last_read_seq FROM moved`,
          values: [conversationId, rootId, userId, seq]
        })
        if (rows[0] === undefined) return null
        const counts = await tx.query<{ unread: number | null, total: number | null }>({
          name: 'thread-read-counts',
          text: `SELECT (SELECT (${UNREAD}) FROM thread_members tm WHERE tm.root_id = $2::uuid AND tm.user_id = me.user_id) AS unread,
                        (SELECT sum((${UNREAD}))::int FROM thread_members tm JOIN messages rt ON rt.id = tm.root_id AND rt.seq >= me.joined_seq
                          WHERE tm.user_id = me.user_id AND tm.conversation_id = me.conversation_id AND tm.following) AS total
                   FROM memberships me WHERE me.conversation_id = $1::uuid AND me.user_id = $3::uuid`,
          values: [conversationId, rootId, userId]
        })
        return { seq: rows[0].last_read_seq, unreadCount: counts.rows[0]?.unread ?? 0, threadUnreadCount: counts.rows[0]?.total ?? 0 }
      })
    },

    /**
     * A page of the threads the user follows in conversations they are a
     * member of (roots within their window), newest activity (last reply, or
     * the root when it has none left) first, then by root id.
     */
    async followed (userId: string, limit: number, after?: ThreadCursor): Promise<FollowedThreadRow[]> {
      const { rows } = await pool.query<MessageRow & { lastActivityAt: Date, unreadCount: number, lastReadSeq: number }>(
        `SELECT ${MESSAGE_COLUMNS}, COALESCE(m.thread_last_reply_at, m.created_at) AS "lastActivityAt", tm.last_read_seq AS "lastReadSeq",
                (${UNREAD}) AS "unreadCount"
           FROM thread_members tm
           JOIN memberships me ON me.conversation_id = tm.conversation_id AND me.user_id = tm.user_id AND me.left_at IS NULL
           JOIN messages m ON m.id = tm.root_id AND m.seq >= me.joined_seq
          WHERE tm.user_id = $1::uuid AND tm.following
            AND ($3::timestamptz IS NULL OR (COALESCE(m.thread_last_reply_at, m.created_at), m.id) < ($3::timestamptz, $4::uuid))
          ORDER BY COALESCE(m.thread_last_reply_at, m.created_at) DESC, m.id DESC
          LIMIT $2::int`, [userId, limit, after?.at ?? null, after?.id ?? null])
      return rows.map(({ lastActivityAt, unreadCount, lastReadSeq, ...root }) => ({
        root: { ...root, mentions: root.mentions ?? [], threadParticipants: root.threadParticipants ?? [] },
        lastActivityAt,
        unreadCount,
        lastReadSeq
      }))
    },

    /**
     * Whether the thread of this root has a reply (live or deleted) at or
     * after `seq`: a member who joined after the root has been shown that
     * reply, so the thread is theirs to page from their joining on. Reads
     * the (thread_root_id, seq) index.
     */
    async hasReplyFrom (rootId: string, seq: number): Promise<boolean> {
      const { rows } = await pool.query<{ found: boolean }>({
        name: 'thread-has-reply-from',
        text: 'SELECT EXISTS (SELECT 1 FROM messages WHERE thread_root_id = $1::uuid AND seq >= $2::int) AS found',
        values: [rootId, seq]
      })
      return rows[0]?.found === true
    },

    /**
     * For each of these roots, the users who follow it: current members whose
     * window holds the root, as the counts and the list above have it. A
     * follow from an earlier window (removed, then added back after the root)
     * is left out: its thread is neither listed nor counted for them, so its
     * replies must not notify them as a follower either.
     */
    async followers (rootIds: string[]): Promise<Map<string, string[]>> {
      const byRoot = new Map<string, string[]>()
      if (rootIds.length === 0) return byRoot
      const { rows } = await pool.query<{ root_id: string, user_id: string }>(
        `SELECT tm.root_id, tm.user_id
           FROM thread_members tm
           JOIN messages rt ON rt.id = tm.root_id
           JOIN memberships me ON me.conversation_id = tm.conversation_id AND me.user_id = tm.user_id AND me.left_at IS NULL
                              AND me.joined_seq <= rt.seq
          WHERE tm.root_id = ANY($1::uuid[]) AND tm.following`, [rootIds])
      for (const r of rows) byRoot.set(r.root_id, [...(byRoot.get(r.root_id) ?? []), r.user_id])
      return byRoot
    }
  }
}

export type ThreadsRepository = ReturnType<typeof createThreadsRepository>
