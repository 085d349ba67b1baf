-- A mention in a thread reply made the mentioned member follow the thread
-- even when they had blocked the sender: the blocked user's replies, and every
-- later one, then counted in their thread unread and badge and notified them,
-- where README "Safety" says a blocked sender's mention neither counts nor
-- notifies. post_messages now skips those follows; the body is otherwise that
-- of 20261212000000_timeline_ord.
CREATE OR REPLACE FUNCTION post_messages(
  p_ids uuid[], p_conversation_ids uuid[], p_sender_ids uuid[], p_bodies text[],
  p_client_message_ids text[], p_reply_to_ids uuid[],
  p_mention_idx int[] DEFAULT ARRAY[]::int[], p_mention_names text[] DEFAULT ARRAY[]::text[],
  p_mention_all boolean[] DEFAULT ARRAY[]::boolean[], p_attachments jsonb[] DEFAULT NULL,
  p_types text[] DEFAULT NULL, p_metadata jsonb[] DEFAULT NULL, p_thread_root_ids uuid[] DEFAULT NULL
) RETURNS TABLE (
  kind text, idx int, outcome text, first_idx int, id uuid, conversation_id uuid, seq int, sender_id uuid,
  body text, client_message_id text, reply_to_id uuid, created_at timestamptz, edited_at timestamptz,
  deleted_at timestamptz, members uuid[], retry_after int, mentions uuid[], mentions_all boolean, attachments jsonb,
  type text, metadata jsonb, thread_root_id uuid, thread_reply_count int, thread_last_reply_at timestamptz, thread_participants uuid[]
) LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
  PERFORM 1 FROM conversations c WHERE c.id = ANY (p_conversation_ids) ORDER BY c.id FOR NO KEY UPDATE;
  IF p_attachments IS NOT NULL THEN
    PERFORM 1 FROM uploads u
     WHERE u.id IN (SELECT a.uid::uuid FROM unnest(p_attachments) AS pa(j), jsonb_array_elements_text(pa.j) AS a(uid))
     ORDER BY u.id FOR UPDATE;
  END IF;

  RETURN QUERY
  WITH p AS (
    SELECT t.id, t.conversation_id, t.sender_id, t.body, t.client_message_id, t.reply_to_id, t.attachment_ids,
           COALESCE(t.message_type, 'text') AS message_type, t.metadata, t.thread_root_id, t.idx::int AS idx
      FROM unnest(p_ids, p_conversation_ids, p_sender_ids, p_bodies, p_client_message_ids, p_reply_to_ids, p_attachments, p_types, p_metadata,
                  p_thread_root_ids)
           WITH ORDINALITY AS t(id, conversation_id, sender_id, body, client_message_id, reply_to_id, attachment_ids, message_type, metadata,
                                thread_root_id, idx)
  ),
  claims AS (
    SELECT p.idx, p.conversation_id, p.sender_id, a.uid::uuid AS upload_id, a.ord,
           row_number() OVER (PARTITION BY a.uid ORDER BY p.idx, a.ord) AS nth
      FROM p CROSS JOIN LATERAL jsonb_array_elements_text(p.attachment_ids) WITH ORDINALITY AS a(uid, ord)
     WHERE p.attachment_ids IS NOT NULL
  ),
  bad_claims AS (
    SELECT DISTINCT c.idx FROM claims c LEFT JOIN uploads u ON u.id = c.upload_id
     WHERE u.id IS NULL OR u.owner_id <> c.sender_id OR u.conversation_id IS DISTINCT FROM c.conversation_id
        OR u.state <> 'ready' OR c.nth > 1
  ),
  attachment_views AS (
    -- The Attachment objects of the API (src/domain/views.ts), in the order posted.
    SELECT c.idx, jsonb_agg(jsonb_build_object(
             'id', u.id, 'kind', u.kind, 'contentType', u.content_type, 'size', u.size, 'filename', u.filename,
             'width', u.width, 'height', u.height, 'placeholder', u.placeholder,
             'url', '/v1/attachments/' || u.id || '/content',
             'thumbnailUrl', CASE WHEN u.thumbnail_key IS NULL THEN NULL ELSE '/v1/attachments/' || u.id || '/thumbnail' END
           ) ORDER BY c.ord) AS attachments
      FROM claims c JOIN uploads u ON u.id = c.upload_id
     GROUP BY c.idx
  ),
  judged AS (
    SELECT p.*, ms.joined_seq, ms.role, ms.muted_at, ms.last_posted_at,
           cv.type AS conversation_type, cv.frozen_at, cv.slow_mode_seconds,
           e.id AS existing_id, r.conversation_id AS reply_conversation_id, r.seq AS reply_seq,
           tr.conversation_id AS root_conversation_id, tr.seq AS root_seq, tr.deleted_at AS root_deleted_at,
           tr.thread_root_id AS root_parent_id, tr.sender_id AS root_sender_id,
           CASE WHEN p.client_message_id IS NULL THEN p.idx
                ELSE min(p.idx) OVER (PARTITION BY p.conversation_id, p.sender_id, p.client_message_id) END AS first_idx
      FROM p
      LEFT JOIN conversations cv ON cv.id = p.conversation_id
      LEFT JOIN memberships ms
        ON ms.conversation_id = p.conversation_id AND ms.user_id = p.sender_id AND ms.left_at IS NULL
      LEFT JOIN messages e
        ON e.conversation_id = p.conversation_id AND e.sender_id = p.sender_id AND e.client_message_id = p.client_message_id
      LEFT JOIN messages r ON r.id = p.reply_to_id
      LEFT JOIN messages tr ON tr.id = p.thread_root_id
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
                WHEN j.idx IN (SELECT b.idx FROM bad_claims b) THEN 'bad_attachment'
                WHEN j.thread_root_id IS NOT NULL
                 AND (j.root_conversation_id IS DISTINCT FROM j.conversation_id OR j.root_seq < j.joined_seq) THEN 'no_thread'
                WHEN j.thread_root_id IS NOT NULL
                 AND (j.root_deleted_at IS NOT NULL OR j.root_parent_id IS NOT NULL) THEN 'bad_thread'
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
  mentioned AS (
    -- Each post s @names that are current members (not the sender), in order of first mention.
    SELECT n.idx::int AS idx, array_agg(u.id ORDER BY n.ord) AS ids
      FROM unnest(p_mention_idx, p_mention_names) WITH ORDINALITY AS n(idx, name, ord)
      JOIN users u ON u.username = n.name
      JOIN memberships mm
        ON mm.conversation_id = p_conversation_ids[n.idx] AND mm.user_id = u.id AND mm.left_at IS NULL
     WHERE u.id <> p_sender_ids[n.idx]
     GROUP BY n.idx
  ),
  counts AS (
    SELECT d.conversation_id, count(*)::int AS n, count(*) FILTER (WHERE d.thread_root_id IS NULL)::int AS tn
      FROM decided d WHERE d.outcome = 'created' GROUP BY d.conversation_id
  ),
  taken AS (
    UPDATE conversations cv
       SET last_seq = cv.last_seq + counts.n,
           timeline_count = cv.timeline_count + counts.tn,
           last_activity_at = GREATEST(cv.last_activity_at, clock_timestamp())
      FROM counts
     WHERE cv.id = counts.conversation_id
 RETURNING cv.id, cv.last_seq - counts.n AS seq_before, cv.timeline_count - counts.tn AS ord_before, cv.last_activity_at AS at
  ),
  created AS (
    SELECT d.idx, d.id, d.conversation_id,
           (t.seq_before + row_number() OVER (PARTITION BY d.conversation_id ORDER BY d.idx))::int AS seq,
           CASE WHEN d.thread_root_id IS NULL
                THEN (t.ord_before + row_number() OVER (PARTITION BY d.conversation_id, d.thread_root_id IS NULL ORDER BY d.idx))::int
                ELSE 0 END AS timeline_ord,
           d.sender_id, d.body, d.client_message_id, d.reply_to_id, t.at AS created_at, d.slow_mode_seconds, d.role,
           COALESCE(mt.ids, ARRAY[]::uuid[]) AS mentions,
           (d.conversation_type = 'group' AND d.role IN ('owner', 'admin') AND COALESCE(p_mention_all[d.idx], false)) AS mentions_all,
           COALESCE(av.attachments, '[]'::jsonb) AS attachments, d.message_type, d.metadata, d.thread_root_id, d.root_sender_id
      FROM decided d JOIN taken t ON t.id = d.conversation_id
      LEFT JOIN mentioned mt ON mt.idx = d.idx
      LEFT JOIN attachment_views av ON av.idx = d.idx
     WHERE d.outcome = 'created'
  ),
  inserted AS (
    INSERT INTO messages (id, conversation_id, seq, sender_id, body, client_message_id, reply_to_id, created_at, mentions, mentions_all, attachments,
                          type, metadata, thread_root_id, timeline_ord)
    SELECT cr.id, cr.conversation_id, cr.seq, cr.sender_id, cr.body, cr.client_message_id, cr.reply_to_id, cr.created_at,
           cr.mentions, cr.mentions_all, cr.attachments, cr.message_type, cr.metadata, cr.thread_root_id, cr.timeline_ord
      FROM created cr
  ),
  threaded AS (
    -- The summary of each root that got replies: count, last reply time, and
    -- the first 5 distinct senders of its replies in order of first reply.
    UPDATE messages rt
       SET thread_reply_count = rt.thread_reply_count + g.n,
           thread_last_reply_at = GREATEST(rt.thread_last_reply_at, g.at),
           thread_participants = ARRAY(
             SELECT z.u FROM unnest(COALESCE(rt.thread_participants, ARRAY[]::uuid[]) || g.senders) WITH ORDINALITY AS z(u, o)
              GROUP BY z.u ORDER BY min(z.o) LIMIT 5)
      FROM (SELECT cr.thread_root_id, count(*)::int AS n, max(cr.created_at) AS at, array_agg(cr.sender_id ORDER BY cr.seq) AS senders
              FROM created cr WHERE cr.thread_root_id IS NOT NULL GROUP BY cr.thread_root_id) g
     WHERE rt.id = g.thread_root_id
  ),
  reasons AS (
    -- Who follows a thread through these replies: each sender (read up to
    -- their reply), each member mentioned (unread from the reply that
    -- mentions them) but by someone they blocked, and the author of the root
    -- while a member.
    SELECT cr.thread_root_id AS root_id, cr.conversation_id, cr.sender_id AS user_id, cr.seq AS replied, NULL::int AS mentioned
      FROM created cr WHERE cr.thread_root_id IS NOT NULL
    UNION ALL
    SELECT cr.thread_root_id, cr.conversation_id, mu.uid, NULL::int, cr.seq - 1
      FROM created cr CROSS JOIN LATERAL unnest(cr.mentions) AS mu(uid)
     WHERE cr.thread_root_id IS NOT NULL
       -- A mention by someone the member blocked calls for no attention: no follow.
       AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = mu.uid AND b.blocked_id = cr.sender_id)
    UNION ALL
    SELECT cr.thread_root_id, cr.conversation_id, cr.root_sender_id, NULL::int, NULL::int
      FROM created cr
      JOIN memberships am ON am.conversation_id = cr.conversation_id AND am.user_id = cr.root_sender_id AND am.left_at IS NULL
     WHERE cr.thread_root_id IS NOT NULL
  ),
  follows AS (
    SELECT g.root_id, g.conversation_id, g.user_id,
           CASE WHEN g.replied IS NOT NULL THEN GREATEST(COALESCE(tm.last_read_seq, 0), g.replied)
                WHEN tm.following THEN tm.last_read_seq
                ELSE GREATEST(COALESCE(tm.last_read_seq, 0), COALESCE(g.mentioned, 0)) END AS last_read_seq
      FROM (SELECT rs.root_id, rs.conversation_id, rs.user_id, max(rs.replied) AS replied, min(rs.mentioned) AS mentioned
              FROM reasons rs GROUP BY rs.root_id, rs.conversation_id, rs.user_id) g
      LEFT JOIN thread_members tm ON tm.root_id = g.root_id AND tm.user_id = g.user_id
  ),
  followed AS (
    INSERT INTO thread_members (root_id, user_id, conversation_id, following, last_read_seq)
    SELECT f.root_id, f.user_id, f.conversation_id, true, f.last_read_seq FROM follows f
    ON CONFLICT (root_id, user_id) DO UPDATE SET following = true, last_read_seq = EXCLUDED.last_read_seq
  ),
  attached AS (
    UPDATE uploads u SET state = 'attached', message_id = cr.id
      FROM claims c JOIN created cr ON cr.idx = c.idx
     WHERE u.id = c.upload_id
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
             'editedAt', NULL, 'deletedAt', NULL, 'mentions', to_jsonb(cr.mentions), 'mentionsAll', cr.mentions_all,
             'attachments', cr.attachments, 'type', cr.message_type, 'metadata', cr.metadata,
             'threadRootId', cr.thread_root_id, 'thread', NULL),
           cr.created_at
      FROM created cr
  )
  SELECT 'post', d.idx, d.outcome, d.first_idx,
         COALESCE(cr.id, e.id), d.conversation_id, COALESCE(cr.seq, e.seq), d.sender_id,
         COALESCE(cr.body, e.body), COALESCE(cr.client_message_id, e.client_message_id), COALESCE(cr.reply_to_id, e.reply_to_id),
         COALESCE(cr.created_at, e.created_at), e.edited_at, e.deleted_at, NULL::uuid[], d.wait,
         COALESCE(cr.mentions, e.mentions, ARRAY[]::uuid[]), COALESCE(cr.mentions_all, e.mentions_all, false),
         COALESCE(cr.attachments, e.attachments), COALESCE(cr.message_type, e.type), COALESCE(cr.metadata, e.metadata),
         COALESCE(cr.thread_root_id, e.thread_root_id), COALESCE(e.thread_reply_count, 0), e.thread_last_reply_at,
         COALESCE(e.thread_participants, ARRAY[]::uuid[])
    FROM decided d
    LEFT JOIN created cr ON cr.idx = d.idx
    LEFT JOIN messages e ON e.id = d.existing_id
  UNION ALL
  SELECT 'members', NULL, NULL, NULL, NULL, t.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         ARRAY(SELECT ms.user_id FROM memberships ms WHERE ms.conversation_id = t.id AND ms.left_at IS NULL), NULL,
         NULL::uuid[], NULL::boolean, NULL::jsonb, NULL::text, NULL::jsonb, NULL::uuid, NULL::int, NULL::timestamptz, NULL::uuid[]
    FROM taken t;
END
$$;
