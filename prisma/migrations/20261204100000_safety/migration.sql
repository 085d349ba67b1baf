-- AlterTable
ALTER TABLE "conversations" ADD COLUMN     "frozen_at" TIMESTAMPTZ(3),
ADD COLUMN     "slow_mode_seconds" INTEGER NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "memberships" ADD COLUMN     "last_posted_at" TIMESTAMPTZ(3),
ADD COLUMN     "muted_at" TIMESTAMPTZ(3);

-- AlterTable
ALTER TABLE "users" ADD COLUMN     "app_roles" VARCHAR(16)[] DEFAULT ARRAY[]::VARCHAR(16)[],
ADD COLUMN     "suspended_at" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "blocks" (
    "blocker_id" UUID NOT NULL,
    "blocked_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "blocks_pkey" PRIMARY KEY ("blocker_id","blocked_id")
);

-- CreateTable
CREATE TABLE "conversation_bans" (
    "conversation_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "by_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "conversation_bans_pkey" PRIMARY KEY ("conversation_id","user_id")
);

-- CreateTable
CREATE TABLE "reports" (
    "id" UUID NOT NULL,
    "reporter_id" UUID NOT NULL,
    "target_user_id" UUID NOT NULL,
    "message_id" UUID,
    "conversation_id" UUID,
    "reason" VARCHAR(32) NOT NULL,
    "note" VARCHAR(1000),
    "snapshot" TEXT,
    "status" VARCHAR(16) NOT NULL DEFAULT 'open',
    "resolution" VARCHAR(1000),
    "resolved_by_id" UUID,
    "resolved_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "reports_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_log" (
    "id" UUID NOT NULL,
    "actor_id" UUID NOT NULL,
    "action" VARCHAR(64) NOT NULL,
    "target_type" VARCHAR(32) NOT NULL,
    "target_id" UUID NOT NULL,
    "data" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_log_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "blocks_blocked_id_idx" ON "blocks"("blocked_id");

-- CreateIndex
CREATE INDEX "reports_status_created_at_idx" ON "reports"("status", "created_at");

-- CreateIndex
CREATE INDEX "audit_log_created_at_idx" ON "audit_log"("created_at");

-- AddForeignKey
ALTER TABLE "blocks" ADD CONSTRAINT "blocks_blocker_id_fkey" FOREIGN KEY ("blocker_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "blocks" ADD CONSTRAINT "blocks_blocked_id_fkey" FOREIGN KEY ("blocked_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "conversation_bans" ADD CONSTRAINT "conversation_bans_conversation_id_fkey" FOREIGN KEY ("conversation_id") REFERENCES "conversations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "reports" ADD CONSTRAINT "reports_reporter_id_fkey" FOREIGN KEY ("reporter_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "reports" ADD CONSTRAINT "reports_target_user_id_fkey" FOREIGN KEY ("target_user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Written by hand: Prisma does not model functions. (No quote characters in
-- these comments: the migration engine splits the script with a lexer that
-- does not skip comments.)
--
-- post_messages again (see 20261122040000_post_messages_function), now also
-- judging the safety rules under the same row lock as membership, so a mute,
-- freeze, ban, block or slow mode that commits before the batch takes its
-- lock holds for every post of it, and one that commits after waits for it.
-- New outcomes, in the order they are judged after not_found, existing and
-- alias:
--   frozen     the conversation is frozen and the sender is a plain member
--   muted      the sender is muted in the conversation
--   blocked    a direct conversation whose other member blocked the sender
--   bad_reply  as before
--   slow       slow mode: the sender (a plain member) posted less than
--              slow_mode_seconds ago, or earlier in this batch; retry_after
--              is the whole seconds to wait
-- The return type gains retry_after, so the function is dropped and created
-- again (CREATE OR REPLACE cannot change it). Settings as before: index
-- probes in nested loops, and one generic plan per connection.
DROP FUNCTION post_messages(uuid[], uuid[], uuid[], text[], text[], uuid[]);

CREATE FUNCTION post_messages(
  p_ids uuid[], p_conversation_ids uuid[], p_sender_ids uuid[], p_bodies text[],
  p_client_message_ids text[], p_reply_to_ids uuid[]
) RETURNS TABLE (
  kind text, idx int, outcome text, first_idx int, id uuid, conversation_id uuid, seq int, sender_id uuid,
  body text, client_message_id text, reply_to_id uuid, created_at timestamptz, edited_at timestamptz,
  deleted_at timestamptz, members uuid[], retry_after int
) LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
  PERFORM 1 FROM conversations c WHERE c.id = ANY (p_conversation_ids) ORDER BY c.id FOR UPDATE;

  RETURN QUERY
  WITH p AS (
    SELECT t.id, t.conversation_id, t.sender_id, t.body, t.client_message_id, t.reply_to_id, t.idx::int AS idx
      FROM unnest(p_ids, p_conversation_ids, p_sender_ids, p_bodies, p_client_message_ids, p_reply_to_ids)
           WITH ORDINALITY AS t(id, conversation_id, sender_id, body, client_message_id, reply_to_id, idx)
  ),
  judged AS (
    SELECT p.*, ms.joined_seq, ms.role, ms.muted_at, ms.last_posted_at,
           cv.type AS conversation_type, cv.frozen_at, cv.slow_mode_seconds,
           e.id AS existing_id, r.conversation_id AS reply_conversation_id, r.seq AS reply_seq,
           CASE WHEN p.client_message_id IS NULL THEN p.idx
                ELSE min(p.idx) OVER (PARTITION BY p.conversation_id, p.sender_id, p.client_message_id) END AS first_idx
      FROM p
      LEFT JOIN conversations cv ON cv.id = p.conversation_id
      LEFT JOIN memberships ms
        ON ms.conversation_id = p.conversation_id AND ms.user_id = p.sender_id AND ms.left_at IS NULL
      LEFT JOIN messages e
        ON e.conversation_id = p.conversation_id AND e.sender_id = p.sender_id AND e.client_message_id = p.client_message_id
      LEFT JOIN messages r ON r.id = p.reply_to_id
  ),
  ruled AS (
    SELECT j.*,
           CASE WHEN j.joined_seq IS NULL THEN 'not_found'
                WHEN j.existing_id IS NOT NULL THEN 'existing'
                WHEN j.first_idx <> j.idx THEN 'alias'
                WHEN j.frozen_at IS NOT NULL AND j.role = 'member' THEN 'frozen'
                WHEN j.muted_at IS NOT NULL THEN 'muted'
                WHEN j.conversation_type = 'direct' AND EXISTS (
                       SELECT 1 FROM memberships o JOIN blocks b ON b.blocker_id = o.user_id AND b.blocked_id = j.sender_id
                        WHERE o.conversation_id = j.conversation_id AND o.user_id <> j.sender_id) THEN 'blocked'
                WHEN j.reply_to_id IS NOT NULL
                 AND (j.reply_conversation_id IS DISTINCT FROM j.conversation_id OR j.reply_seq < j.joined_seq) THEN 'bad_reply'
                ELSE 'created' END AS ruling
      FROM judged j
  ),
  paced AS (
    SELECT r.*,
           CASE WHEN r.ruling = 'created' AND r.slow_mode_seconds > 0 AND r.role = 'member'
                THEN count(*) FILTER (WHERE r.ruling = 'created') OVER (PARTITION BY r.conversation_id, r.sender_id ORDER BY r.idx)
                ELSE 0 END AS nth
      FROM ruled r
  ),
  classified AS (
    SELECT pc.*,
           CASE WHEN pc.nth > 1 THEN pc.slow_mode_seconds
                WHEN pc.nth = 1 AND pc.last_posted_at IS NOT NULL
                 AND pc.last_posted_at > clock_timestamp() - make_interval(secs => pc.slow_mode_seconds)
                THEN GREATEST(1, ceil(pc.slow_mode_seconds - extract(epoch FROM clock_timestamp() - pc.last_posted_at)))::int
                ELSE NULL END AS wait
      FROM paced pc
  ),
  decided AS (
    SELECT c.*, CASE WHEN c.wait IS NOT NULL THEN 'slow' ELSE c.ruling END AS outcome
      FROM classified c
  ),
  counts AS (
    SELECT d.conversation_id, count(*)::int AS n FROM decided d WHERE d.outcome = 'created' GROUP BY d.conversation_id
  ),
  taken AS (
    UPDATE conversations cv
       SET last_seq = cv.last_seq + counts.n,
           last_activity_at = GREATEST(cv.last_activity_at, clock_timestamp())
      FROM counts
     WHERE cv.id = counts.conversation_id
 RETURNING cv.id, cv.last_seq - counts.n AS seq_before, cv.last_activity_at AS at
  ),
  created AS (
    SELECT d.idx, d.id, d.conversation_id,
           (t.seq_before + row_number() OVER (PARTITION BY d.conversation_id ORDER BY d.idx))::int AS seq,
           d.sender_id, d.body, d.client_message_id, d.reply_to_id, t.at AS created_at, d.slow_mode_seconds, d.role
      FROM decided d JOIN taken t ON t.id = d.conversation_id
     WHERE d.outcome = 'created'
  ),
  inserted AS (
    INSERT INTO messages (id, conversation_id, seq, sender_id, body, client_message_id, reply_to_id, created_at)
    SELECT cr.id, cr.conversation_id, cr.seq, cr.sender_id, cr.body, cr.client_message_id, cr.reply_to_id, cr.created_at
      FROM created cr
  ),
  stamped AS (
    -- Slow mode only: the time of each plain member s post, for the next.
    UPDATE memberships m SET last_posted_at = cr.created_at
      FROM created cr
     WHERE cr.slow_mode_seconds > 0 AND cr.role = 'member'
       AND m.conversation_id = cr.conversation_id AND m.user_id = cr.sender_id
  ),
  logged AS (
    -- The data of the event is the Message object of the API (src/domain/views.ts toMessage).
    INSERT INTO events (conversation_id, seq, type, data, created_at)
    SELECT cr.conversation_id, cr.seq, 'message.created',
           jsonb_build_object(
             'id', cr.id, 'conversationId', cr.conversation_id, 'seq', cr.seq, 'senderId', cr.sender_id,
             'body', cr.body, 'clientMessageId', cr.client_message_id, 'replyToId', cr.reply_to_id,
             'createdAt', to_char(cr.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
             'editedAt', NULL, 'deletedAt', NULL),
           cr.created_at
      FROM created cr
  )
  SELECT 'post', d.idx, d.outcome, d.first_idx,
         COALESCE(cr.id, e.id), d.conversation_id, COALESCE(cr.seq, e.seq), d.sender_id,
         COALESCE(cr.body, e.body), COALESCE(cr.client_message_id, e.client_message_id), COALESCE(cr.reply_to_id, e.reply_to_id),
         COALESCE(cr.created_at, e.created_at), e.edited_at, e.deleted_at, NULL::uuid[], d.wait
    FROM decided d
    LEFT JOIN created cr ON cr.idx = d.idx
    LEFT JOIN messages e ON e.id = d.existing_id
  UNION ALL
  SELECT 'members', NULL, NULL, NULL, NULL, t.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         ARRAY(SELECT ms.user_id FROM memberships ms WHERE ms.conversation_id = t.id AND ms.left_at IS NULL), NULL
    FROM taken t;
END
$$;
