// The one definition of what is unread, used by every count the API shows:
// each Conversation's unreadCount and mentionCount (conversations.ts,
// listForUser), the totals of GET /v1/me/unread and the badge of device
// pushes (devices.ts). A change of the rule (threads, ...) is made here only.
import type { Queryable } from './db.js'

/** SQL expressions naming one membership: its conversation, user, read position and window start. */
export interface MembershipColumns { conversationId: string, userId: string, lastReadSeq: string, joinedSeq: string }

/**
 * The messages a membership counts as unread: others' non-deleted messages of
 * the conversation's own timeline (not thread replies: those count in the
 * thread's unread, threads.ts) after its read position, within its window.
 *
 * They are not counted one by one: that cost grew with what the member had
 * not read (a muted busy group, a member away for a week) on every badge,
 * list page and sync. Each timeline message carries its number in the
 * timeline and the conversation the count so far (migration timeline_ord), so
 * the messages after the position are `timelineCount` minus the number of the
 * last one at or before it (one index probe); from those the deleted ones and
 * the member's own are subtracted, each counted on a partial index of its own
 * (few: deletions are rare, and one's own messages are read).
 */
export interface ConversationColumns { lastSeq: string, timelineCount: string }

/** The seq after which a membership counts unread: its read position, or the seq before its window. */
const countsFrom = (m: MembershipColumns) => `GREATEST(${m.lastReadSeq}, ${m.joinedSeq} - 1)`

/**
 * Of those, the ones that mention the member (by name or @all), but for
 * senders the member has blocked: their messages stay unread (clients hide
 * them), they call for no attention.
 */
export const mentionsMember = (m: MembershipColumns, u = 'u') =>
  `(${u}.mentions_all OR ${m.userId} = ANY (${u}.mentions))
   AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = ${m.userId} AND b.blocked_id = ${u}.sender_id)`

/**
 * A LATERAL subquery giving unread_count and mention_count of one membership,
 * as one row, or none when the conversation's log has nothing after the
 * position. The timeline messages after it (`after`) are found first, with one
 * index probe; only when there are some are the deleted, own and mentioning
 * ones looked for: a log that moved by other events only (reactions, edits,
 * members; most of a member's conversations, most of the time) costs the
 * probe. OFFSET 0 keeps each part a subquery of its own, so that the planner
 * neither evaluates the probe once per use nor the counts again in a filter.
 * Mentions are counted on the index of the messages that mention anyone
 * (messages_mentioning_timeline), whose condition is repeated for the planner.
 * The member's own are counted on messages_own_timeline, by a row comparison
 * that only its column order serves: with `seq > from` alone, a generic plan
 * took the (conversation_id, seq) index and read every message after the
 * position, the cost this design removes.
 */
export const unreadCounts = (m: MembershipColumns, c: ConversationColumns) => {
  const from = countsFrom(m)
  const timeline = (x: string) => `${x}.conversation_id = ${m.conversationId} AND ${x}.thread_root_id IS NULL`
  return `
  SELECT CASE WHEN t.after > 0 THEN (t.after
           - (SELECT count(*) FROM messages x WHERE ${timeline('x')} AND x.deleted_at IS NOT NULL AND x.seq > ${from})
           - (SELECT count(*) FROM messages x WHERE ${timeline('x')} AND x.sender_id = ${m.userId} AND x.deleted_at IS NULL
                AND (x.conversation_id, x.sender_id, x.seq) > (${m.conversationId}, ${m.userId}, ${from}))
         )::int ELSE 0 END AS unread_count,
         CASE WHEN t.after > 0 THEN (SELECT count(*) FROM messages u
           WHERE ${timeline('u')} AND (u.mentions_all OR cardinality(u.mentions) > 0) AND u.seq > ${from}
             AND u.deleted_at IS NULL AND u.sender_id <> ${m.userId} AND ${mentionsMember(m)})::int ELSE 0 END AS mention_count
    FROM (SELECT ${c.timelineCount}
                 - COALESCE((SELECT x.timeline_ord FROM messages x WHERE ${timeline('x')} AND x.seq <= ${from} ORDER BY x.seq DESC LIMIT 1), 0) AS after
           WHERE ${c.lastSeq} > ${from} OFFSET 0) t
  OFFSET 0`
}

/**
 * A LATERAL subquery giving thread_unread_count of one membership: replies by
 * others, not deleted, after the member's read position in each thread they
 * follow there (threads.ts), with the root and the reply within their window.
 */
export const threadUnreadCounts = (m: MembershipColumns) => `
  SELECT count(*)::int AS thread_unread_count
    FROM thread_members tm
    JOIN messages rt ON rt.id = tm.root_id AND rt.seq >= ${m.joinedSeq}
    JOIN messages r ON r.thread_root_id = tm.root_id AND r.seq > tm.last_read_seq
   WHERE tm.user_id = ${m.userId} AND tm.conversation_id = ${m.conversationId} AND tm.following
     AND r.seq >= ${m.joinedSeq} AND r.sender_id <> ${m.userId} AND r.deleted_at IS NULL`

/** The condition on a user id column that picks the users of a statement: `$1`, a uuid[] or one uuid. */
type Users = (column: string) => string
const ANY_OF: Users = (column) => `${column} = ANY($1::uuid[])`
const ONE: Users = (column) => `${column} = $1::uuid`

/**
 * thread_unread_count of the conversations of the users `$1` where
 * they follow a thread, counted by threadUnreadCounts: driven by their
 * followed threads, where the subquery for every membership probed
 * thread_members once for each of a user's conversations (most of which have
 * no thread they follow). The users' condition is repeated on their
 * memberships: the planner does not carry it out of the DISTINCT, and a
 * generic plan (test/unread-totals.test.ts) read every current membership of
 * every user to join them with the followed threads by hash.
 */
const threadUnreadByConversation = (users: Users) => `
  SELECT f.user_id, f.conversation_id, tu.thread_unread_count
    FROM (SELECT DISTINCT user_id, conversation_id FROM thread_members WHERE ${users('user_id')} AND following) f
    JOIN memberships fm ON fm.user_id = f.user_id AND fm.conversation_id = f.conversation_id AND fm.left_at IS NULL AND ${users('fm.user_id')}
   CROSS JOIN LATERAL (${threadUnreadCounts({ conversationId: 'fm.conversation_id', userId: 'fm.user_id', lastReadSeq: 'fm.last_read_seq', joinedSeq: 'fm.joined_seq' })}) tu`

export interface ConversationUnread {
  id: string
  unreadCount: number
  mentionCount: number
  /** Unread replies of the threads the member follows there (as the Conversation's threadUnreadCount). */
  threadUnreadCount: number
  /** What it adds to the badge: unreadCount + threadUnreadCount at level all, mentionCount at level mentions, 0 at none or while muted. */
  badge: number
}

export interface UnreadTotals { total: number, mentions: number, threads: number, conversations: ConversationUnread[] }

const M: MembershipColumns = { conversationId: 'm.conversation_id', userId: 'm.user_id', lastReadSeq: 'm.last_read_seq', joinedSeq: 'm.joined_seq' }

// Effective level as notification-preferences.ts decides it: the membership's, or the user's when default; none while muted.
// The users are looked up by their ids (us.id = ANY): joined on m.user_id alone, the planner read the users table
// in full and probed memberships for each row (1,000 users for one caller in the sync bench; every user in production).
/**
 * The rows of the totals (one per conversation with something unread) of the memberships `m` that `from` yields
 * with their conversation's `conversation` columns, the followed threads' counts in the relation `tu`
 * (threadUnreadByConversation). `from` is the users' memberships, or those a statement has already read
 * (repositories/sync.ts: a sync's first page reads them once for its changes and its badge).
 */
const unreadRows = (users: Users, from: string, conversation: ConversationColumns) => `
  SELECT m.user_id, m.conversation_id, COALESCE(uc.unread_count, 0) AS unread_count, COALESCE(uc.mention_count, 0) AS mention_count,
         COALESCE(tu.thread_unread_count, 0) AS thread_unread_count,
         CASE WHEN m.notifications_muted_until IS NOT NULL AND m.notifications_muted_until > now() THEN 'none'
              WHEN m.notification_level = 'default' THEN us.notification_level
              ELSE m.notification_level END AS level
    FROM ${from}
    JOIN users us ON us.id = m.user_id AND ${users('us.id')}
    LEFT JOIN LATERAL (${unreadCounts(M, conversation)}) uc ON true
    LEFT JOIN tu ON tu.user_id = m.user_id AND tu.conversation_id = m.conversation_id
   WHERE ${users('m.user_id')} AND m.left_at IS NULL AND (COALESCE(uc.unread_count, 0) > 0 OR tu.thread_unread_count > 0)`

const totals = (users: Users) => `
  WITH tu AS MATERIALIZED (${threadUnreadByConversation(users)})
  ${unreadRows(users, `memberships m
   CROSS JOIN LATERAL (SELECT x.last_seq, x.timeline_count FROM conversations x WHERE x.id = m.conversation_id OFFSET 0) c`,
   { lastSeq: 'c.last_seq', timelineCount: 'c.timeline_count' })}
   ORDER BY m.user_id, m.conversation_id`

/** The unread counts of the users of `$1` (a uuid[]): device pushes' badges, many recipients at once. */
export const TOTALS = totals(ANY_OF)
/**
 * The same for one user (`$1`, a uuid): GET /v1/me/unread and each sync's badge. Its own statement because the
 * planner costs `= $1` for a generic plan as it does for any one user, while it costs `= ANY($1)` for an array of
 * unknown length: with the array, PostgreSQL planned the badge afresh on every call (1.0 ms of the 6-7 ms of
 * database time a reconnecting client's sync took in the sync storm, README "Sync", eighth round); with `= $1` it
 * may keep a generic plan once it costs no more than the custom ones.
 */
export const TOTALS_OF_ONE = totals(ONE)

/** One row of the totals statements (unreadRows). */
export interface UnreadRow { user_id: string, conversation_id: string, unread_count: number, mention_count: number, thread_unread_count: number, level: string }

/** The totals of these users from their rows of unreadRows. */
export function collectTotals (userIds: string[], rows: UnreadRow[]): Map<string, UnreadTotals> {
  const totals = new Map<string, UnreadTotals>(userIds.map((id) => [id, { total: 0, mentions: 0, threads: 0, conversations: [] }]))
  for (const r of rows) {
    const t = totals.get(r.user_id)!
    // A followed thread's replies are pushed to its followers, so at level all they count in the badge those pushes carry.
    const badge = r.level === 'all' ? r.unread_count + r.thread_unread_count : r.level === 'mentions' ? r.mention_count : 0
    t.conversations.push({ id: r.conversation_id, unreadCount: r.unread_count, mentionCount: r.mention_count, threadUnreadCount: r.thread_unread_count, badge })
    t.total += badge
    if (r.level !== 'none') t.mentions += r.mention_count
    t.threads += r.thread_unread_count
  }
  return totals
}

/**
 * The unread counts of these users, with the badge total: every conversation
 * with something unread, counted as in its Conversation object; `total` is the
 * sum of what each adds to the badge, `mentions` the unread mentions of
 * conversations that are neither muted nor at level none. One statement, on
 * the pool or on a connection of it (a sync page's).
 */
export async function unreadTotals (db: Queryable, userIds: string[]): Promise<Map<string, UnreadTotals>> {
  if (userIds.length === 0) return new Map()
  const { rows } = await db.query<UnreadRow>(
    userIds.length === 1
      ? { name: 'unread-totals-one', text: TOTALS_OF_ONE, values: [userIds[0]] }
      : { name: 'unread-totals', text: TOTALS, values: [userIds] })
  return collectTotals(userIds, rows)
}

/**
 * The badge of one user (`$1`, a uuid) for a statement that has read the user's memberships itself (a sync's first
 * page, repositories/sync.ts, reads them once for its changes and its badge): `threads` is the followed threads'
 * counts, to be named `tu` in its WITH; `rows` the totals' rows (UnreadRow) of the memberships `from` yields as `m`,
 * with their conversation's columns `conversation`, which must include every membership with something unread
 * (its log past its read position, or a conversation in `tu`).
 */
export const badgeOfOne = {
  threads: threadUnreadByConversation(ONE),
  rows: (from: string, conversation: ConversationColumns) => unreadRows(ONE, from, conversation)
}
