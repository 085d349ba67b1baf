-- Written by hand: Prisma does not model functions. (No quote characters in
-- these comments: the migration engine splits the script with a lexer that
-- does not skip comments.)
--
-- post_messages: one group commit of posts (src/domain/post-batcher.ts) in a
-- single round trip. The arrays are parallel, one element per post (ids are
-- chosen by the caller, bodies already trimmed). It takes the row locks of the
-- conversations first, in id order (concurrent batches cannot deadlock), then
-- judges every post against the state as of that lock (the next statement
-- runs on a new snapshot): a concurrent member removal, which takes the same
-- lock, is entirely before or after the batch. The locks are held only while
-- this runs, not across client round trips.
--
-- Rows returned:
--   kind post, one per element (idx from 1) with its outcome:
--     created    stored now: the message columns
--     existing   an earlier message with the same clientMessageId: its columns
--     alias      the same key earlier in this batch: first_idx is that post
--     not_found  the conversation is missing or the sender is not a member
--     bad_reply  reply_to_id is not a message of this conversation that the
--                sender can see
--   kind members, one per conversation that got new messages: its active
--     members, the recipients of the push.
-- A concurrent insert of the same clientMessageId fails the whole call with a
-- unique violation; the caller then posts one at a time.
CREATE FUNCTION post_messages(
  p_ids uuid[], p_conversation_ids uuid[], p_sender_ids uuid[], p_bodies text[],
  p_client_message_ids text[], p_reply_to_ids uuid[]
) RETURNS TABLE (
  kind text, idx int, outcome text, first_idx int, id uuid, conversation_id uuid, seq int, sender_id uuid,
  body text, client_message_id text, reply_to_id uuid, created_at timestamptz, edited_at timestamptz,
  deleted_at timestamptz, members uuid[]
) LANGUAGE plpgsql
-- Every lookup here is by a unique key, at most one row per post: index
-- probes in nested loops are the right plan at any table size. plpgsql caches
-- a generic plan per connection, costed with the statistics of the moment; a
-- plan cached while messages was small (hash joins over sequential scans)
-- would otherwise stay until the next ANALYZE while the table grows.
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
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
    SELECT p.*, ms.joined_seq, e.id AS existing_id, r.conversation_id AS reply_conversation_id, r.seq AS reply_seq,
           CASE WHEN p.client_message_id IS NULL THEN p.idx
                ELSE min(p.idx) OVER (PARTITION BY p.conversation_id, p.sender_id, p.client_message_id) END AS first_idx
      FROM p
      LEFT JOIN memberships ms
        ON ms.conversation_id = p.conversation_id AND ms.user_id = p.sender_id AND ms.left_at IS NULL
      LEFT JOIN messages e
        ON e.conversation_id = p.conversation_id AND e.sender_id = p.sender_id AND e.client_message_id = p.client_message_id
      LEFT JOIN messages r ON r.id = p.reply_to_id
  ),
  classified AS (
    SELECT j.*,
           CASE WHEN j.joined_seq IS NULL THEN 'not_found'
                WHEN j.existing_id IS NOT NULL THEN 'existing'
                WHEN j.first_idx <> j.idx THEN 'alias'
                WHEN j.reply_to_id IS NOT NULL
                 AND (j.reply_conversation_id IS DISTINCT FROM j.conversation_id OR j.reply_seq < j.joined_seq) THEN 'bad_reply'
                ELSE 'created' END AS outcome
      FROM judged j
  ),
  counts AS (
    SELECT c.conversation_id, count(*)::int AS n FROM classified c WHERE c.outcome = 'created' GROUP BY c.conversation_id
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
    SELECT c.idx, c.id, c.conversation_id,
           (t.seq_before + row_number() OVER (PARTITION BY c.conversation_id ORDER BY c.idx))::int AS seq,
           c.sender_id, c.body, c.client_message_id, c.reply_to_id, t.at AS created_at
      FROM classified c JOIN taken t ON t.id = c.conversation_id
     WHERE c.outcome = 'created'
  ),
  inserted AS (
    INSERT INTO messages (id, conversation_id, seq, sender_id, body, client_message_id, reply_to_id, created_at)
    SELECT cr.id, cr.conversation_id, cr.seq, cr.sender_id, cr.body, cr.client_message_id, cr.reply_to_id, cr.created_at
      FROM created cr
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
  SELECT 'post', c.idx, c.outcome, c.first_idx,
         COALESCE(cr.id, e.id), c.conversation_id, COALESCE(cr.seq, e.seq), c.sender_id,
         COALESCE(cr.body, e.body), COALESCE(cr.client_message_id, e.client_message_id), COALESCE(cr.reply_to_id, e.reply_to_id),
         COALESCE(cr.created_at, e.created_at), e.edited_at, e.deleted_at, NULL::uuid[]
    FROM classified c
    LEFT JOIN created cr ON cr.idx = c.idx
    LEFT JOIN messages e ON e.id = c.existing_id
  UNION ALL
  SELECT 'members', NULL, NULL, NULL, NULL, t.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         ARRAY(SELECT ms.user_id FROM memberships ms WHERE ms.conversation_id = t.id AND ms.left_at IS NULL)
    FROM taken t;
END
$$;
