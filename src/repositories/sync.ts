// What changed for one account between two snapshots (the sync cursor of
// src/domain/sync.ts): the conversations whose log moved, with the range of
// seqs that moved, and the memberships whose own state changed. The
// migration sync_cursor explains the transaction ids these statements compare.
import { Prisma } from '../generated/prisma/client.js'
import type pg from 'pg'
import { withGenericPlans } from '../db/pool.js'
import { conversationPageStatements, type ConversationPages } from './conversation-pages.js'
import { onConnection, type Database } from './db.js'
import type { EventRow } from './events.js'
import { subjectSeq } from './events.js'
import { badgeOfOne, collectTotals, unreadTotals, type UnreadRow, type UnreadTotals } from './unread.js'

export interface SyncCandidate {
  conversationId: string
  /** The member's window: their first seq, and the seq of the removal that ended it (null while a member). */
  joinedSeq: number
  leftSeq: number | null
  /** Seqs of the log after `fromSeq` up to `toSeq` are new to the client (none when equal). */
  fromSeq: number
  toSeq: number
  /** The member's own state (read position, role, settings, window) changed since the client's snapshot. */
  ownChanged: boolean
  /** The member's read position (as of now). */
  lastReadSeq: number
}

export interface SyncPosition { conversationId: string, seq: number }

export interface Candidates {
  snapshot: string
  future: boolean
  badgeChanged: boolean
  candidates: SyncCandidate[]
  unread: UnreadTotals | null
}

const changedSince = (column: string) =>
  `(${column} >= pg_snapshot_xmin($2::pg_snapshot) AND NOT pg_visible_in_snapshot(${column}, $2::pg_snapshot))`

// The statements of `candidates`: like every statement of a sync page, prepared and planned once per connection, on
// their generic plan (SyncRepository.page): they run on every reconnect of every device, and planning the first
// page's cost as much as running it (through Prisma, an unnamed statement is planned on every call: README "The
// posting path's driver").
// With `badge` (a sync's first page) the statement also counts the caller's badge, from the same read of their
// memberships, when something changed: most syncs are one page, which ends with the badge, and read the caller's
// memberships and their conversations' rows once instead of twice (README "Sync", ninth round). A later page reads
// only from its position on; the badge of a sync's later last page is a statement of its own (unread.ts).
const candidatesStatement = (badge: boolean) => `
        WITH now AS (SELECT pg_current_snapshot() AS t),
        -- The badge changed outside conversations and memberships (migration sync_badge_changes).
        badge AS (SELECT COALESCE((SELECT ${changedSince('u.badge_changed_xid')} FROM users u WHERE u.id = $1::uuid), false) AS changed),
        ${badge ? `tu AS MATERIALIZED (${badgeOfOne.threads}),` : ''}
        -- The caller's memberships in conversation id order (memberships_user_conversation, which also
        -- carries changed_xid), each conversation probed by its primary key: the cost follows the caller's
        -- memberships, never the size of the conversations table (a hash join read all of it).
        scan AS (
          SELECT m.conversation_id, m.joined_seq, m.left_seq, m.last_read_seq, c.last_seq,
                 ${changedSince('c.changed_xid')} AS log_moved,
                 ${changedSince('m.changed_xid')} AS own_changed
                 ${badge ? ', m.user_id, m.left_at, m.notification_level, m.notifications_muted_until, c.timeline_count' : ''}
            FROM memberships m
           CROSS JOIN LATERAL (SELECT x.last_seq, x.changed_xid, x.timeline_count FROM conversations x WHERE x.id = m.conversation_id OFFSET 0) c
           WHERE m.user_id = $1::uuid
             AND m.conversation_id >= $4::uuid
             -- A conversation the member left moves on without them: only their own change (the leave, in the
             -- transaction of its member.removed) is theirs. (Counted, every message of every group they ever
             -- left made empty candidates, and pages, on every sync.)
             AND ((${changedSince('c.changed_xid')} AND m.left_seq IS NULL) OR ${changedSince('m.changed_xid')}
                  -- For the badge, every membership where something may be unread (unread.ts counts them).
                  ${badge ? 'OR (m.left_at IS NULL AND (c.last_seq > GREATEST(m.last_read_seq, m.joined_seq - 1) OR m.conversation_id IN (SELECT tu.conversation_id FROM tu)))' : ''})
        ),
        moved AS (
          SELECT * FROM scan s WHERE (s.log_moved AND s.left_seq IS NULL) OR s.own_changed
           ORDER BY s.conversation_id
           LIMIT $5::int
        ),
        ${badge ? `-- The badge is counted only when the page has a change or the badge changed (else the client's stands).
        counted AS (SELECT EXISTS (SELECT 1 FROM moved) OR (SELECT changed FROM badge) AS yes),` : ''}
        bounds AS (
          SELECT mv.*,
                 CASE WHEN mv.log_moved THEN sync_visible_seq(mv.conversation_id, $2::pg_snapshot, 0, mv.last_seq) ELSE mv.last_seq END AS seen_seq,
                 CASE WHEN $3::pg_snapshot IS NULL OR NOT mv.log_moved THEN mv.last_seq
                      ELSE sync_visible_seq(mv.conversation_id, $3::pg_snapshot, 0, mv.last_seq) END AS until_seq
            FROM moved mv
        )
        SELECT 'change' AS kind, now.t::text AS snapshot,
               -- A cursor past the database's own next transaction was not written by this database as it is now
               -- (forged, or from before a restore or a failover that lost transactions): its sync would skip changes.
               (pg_snapshot_xmax($2::pg_snapshot) > pg_snapshot_xmax(now.t)
                 OR COALESCE(pg_snapshot_xmax($3::pg_snapshot) > pg_snapshot_xmax(now.t), false)) AS future,
               (SELECT changed FROM badge) AS badge_changed, ${badge ? '(SELECT yes FROM counted)' : 'false'} AS badge_counted,
               b.conversation_id, b.joined_seq, b.left_seq, b.last_read_seq, b.own_changed,
               GREATEST(b.seen_seq, b.joined_seq - 1, CASE WHEN b.conversation_id = $4::uuid THEN $6::int ELSE 0 END) AS from_seq,
               LEAST(b.until_seq, COALESCE(b.left_seq, b.until_seq)) AS to_seq,
               NULL::uuid AS user_id, NULL::int AS unread_count, NULL::int AS mention_count, NULL::int AS thread_unread_count, NULL::text AS level
          FROM now LEFT JOIN bounds b ON true
        ${badge
          ? `UNION ALL
        -- The badge's rows.
        SELECT 'unread', NULL, NULL, NULL, NULL, r.conversation_id, NULL, NULL, NULL, NULL, NULL, NULL,
               r.user_id, r.unread_count, r.mention_count, r.thread_unread_count, r.level
          FROM (${badgeOfOne.rows('scan m', { lastSeq: 'm.last_seq', timelineCount: 'm.timeline_count' })}) r
         WHERE (SELECT yes FROM counted)`
          : ''}
         ORDER BY kind, conversation_id`

const CANDIDATES = candidatesStatement(false)
/** A sync's first page (exported for the test of what it reads, test/unread-totals.test.ts). */
export const SYNC_FIRST_PAGE = candidatesStatement(true)

/** What a page of a sync reads, on the one connection of its transaction (SyncRepository.page). */
export interface SyncReads {
  /**
   * The current snapshot, and the user's conversations that changed since
   * `since` as `until` sees them (`until` null: the statement's own
   * snapshot, which is returned), from `after` on, in conversation id order,
   * at most `limit`. One statement; with nothing changed it reads the
   * user's memberships and their conversations' rows, by index. `future`:
   * a snapshot given is past the database's (not a cursor of it);
   * `badgeChanged`: the badge changed outside the conversations since `since`;
   * `unread`: on a sync's first page (`after` null) with a change or
   * `badgeChanged`, the caller's badge as unreadTotals counts it, else null.
   */
  candidates: (userId: string, since: string, until: string | null, after: SyncPosition | null, limit: number) => Promise<Candidates>
  /**
   * The events of each range (after fromSeq, up to toSeq), in conversation
   * then seq order, at most `limit` in all; what happened to a message from
   * before the member's window is left out, as replay does.
   */
  events: (ranges: Array<{ conversationId: string, fromSeq: number, toSeq: number, joinedSeq: number }>, limit: number) => Promise<EventRow[]>
  /** The caller's badge (unreadTotals), for a later last page (a first page has it from `candidates`). */
  badge: (userId: string) => Promise<UnreadTotals>
  /** The conversations' views (conversation-pages.ts). */
  pages: ConversationPages
}

function syncReads (db: pg.PoolClient): SyncReads {
  const raw = onConnection(db, 'sync')
  return {
    async candidates (userId, since, until, after, limit) {
      // A sync's first page also counts the badge (see candidatesStatement).
      const first = after === null
      const { rows } = await db.query<{
        kind: 'change' | 'unread', snapshot: string, future: boolean, badge_changed: boolean, badge_counted: boolean, conversation_id: string | null, joined_seq: number,
        left_seq: number | null, from_seq: number, to_seq: number, own_changed: boolean, last_read_seq: number
      } & UnreadRow>({
        name: first ? 'sync-first-page' : 'sync-candidates',
        text: first ? SYNC_FIRST_PAGE : CANDIDATES,
        values: [userId, since, until, after?.conversationId ?? '00000000-0000-0000-0000-000000000000', limit, after?.seq ?? 0]
      })
      const { snapshot, future, badge_changed: badgeChanged, badge_counted: counted } = rows[0]!
      const candidates = rows.filter((r) => r.kind === 'change' && r.conversation_id !== null).map((r) => ({
        conversationId: r.conversation_id!,
        joinedSeq: r.joined_seq,
        leftSeq: r.left_seq,
        fromSeq: r.from_seq,
        toSeq: Math.max(r.from_seq, r.to_seq),
        ownChanged: r.own_changed,
        lastReadSeq: r.last_read_seq
      }))
      const unread = counted ? collectTotals([userId], rows.filter((r) => r.kind === 'unread')).get(userId)! : null
      return { snapshot, future, badgeChanged, candidates, unread }
    },

    async events (ranges, limit) {
      const wanted = ranges.filter((r) => r.toSeq > r.fromSeq)
      if (wanted.length === 0) return []
      return await raw<EventRow>(Prisma.sql`
        SELECT e.conversation_id AS "conversationId", e.seq, e.type, e.data, e.created_at AS "createdAt"
          FROM unnest(${wanted.map((r) => r.conversationId)}::uuid[], ${wanted.map((r) => r.fromSeq)}::int[],
                      ${wanted.map((r) => r.toSeq)}::int[], ${wanted.map((r) => r.joinedSeq)}::int[]) AS r(id, from_seq, to_seq, joined_seq)
          CROSS JOIN LATERAL (
            SELECT * FROM events e
             WHERE e.conversation_id = r.id AND e.seq > r.from_seq AND e.seq <= r.to_seq
               AND ${Prisma.raw(subjectSeq('e'))} >= r.joined_seq
             ORDER BY e.seq LIMIT ${limit}::int) e
         ORDER BY e.conversation_id, e.seq
         LIMIT ${limit}::int`)
    },

    badge: async (userId) => (await unreadTotals(db, [userId])).get(userId)!,

    pages: conversationPageStatements(raw)
  }
}

export function createSyncRepository ({ pool, lane }: Database) {
  return {
    /**
     * Runs `fn`, a page of a sync, on one connection of the pool in one
     * transaction, every statement on its generic plan (withGenericPlans):
     * prepared and planned once per connection rather than once per call, as
     * Prisma's unnamed statements are, and without Prisma's cost per call
     * (README "Sync", tenth round). Its statements are tested to read on their
     * generic plans what they read on the custom ones (test/sync-plans.test.ts).
     * `fn` must not take another connection of the pool: with every
     * connection in a page, it would wait for itself.
     */
    async page<T> (fn: (reads: SyncReads) => Promise<T>): Promise<T> {
      return await withGenericPlans(pool, async (db) => await fn(syncReads(db)))
    },

    /** The current snapshot (a sync cursor that starts now). */
    async snapshot (): Promise<string> {
      // Prepared once per connection: it runs for the sockets that open (realtime/sync-clock.ts), as often as one
      // a database round trip in a burst of upgrades, where Prisma's per-call cost showed. On the lane, as the
      // session check: a socket's ready frame waits for it, and did wait behind a burst of reads that took the
      // pool (up to 26 s in the bench's per-conversation storm, test/post-batching.test.ts).
      const { rows } = await (lane ?? pool).query<{ t: string }>({ name: 'sync-snapshot', text: 'SELECT pg_current_snapshot()::text AS t' })
      return rows[0]!.t
    }
  }
}

export type SyncRepository = ReturnType<typeof createSyncRepository>
