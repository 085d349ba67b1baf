-- sync_visible_seq probes events by primary key only. plpgsql keeps the plan it made first in each connection, and
-- on a young database (events nearly empty when the statistics were last taken) that plan was a sequential scan,
-- kept while the table grew: the first syncs of the bench's storm cost ten times the later ones. Pinned to index
-- probes, as post_messages is.
ALTER FUNCTION sync_visible_seq(uuid, pg_snapshot, integer, integer) SET enable_seqscan = off;
