-- The per-account sync cursor (GET /v1/sync, src/domain/sync.ts).
--
-- Every change a sync reports carries the id of the transaction that made it
-- (xid8: 64 bits, never wraps). A sync cursor is a snapshot (pg_snapshot):
-- a change is new to a client when its transaction is not visible in the
-- snapshot of the client's last sync, and it is reported by the first sync
-- whose snapshot sees it. Every change is in exactly one sync.
--
-- Every writer of a conversation holds its row lock until it commits, so a
-- conversation's events commit in seq order, and the events one snapshot sees
-- are a prefix of its log: the boundary is found by a binary search on seq.

ALTER TABLE events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();

-- The transaction of the conversation's last event: the conversation has
-- events a snapshot does not see exactly when this one is not visible in it.
ALTER TABLE conversations ADD COLUMN changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id();

-- The transaction of the last change to a member's own state (read position,
-- role, window, notification settings), which a sync reports to their other devices.
ALTER TABLE memberships ADD COLUMN changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id();

CREATE FUNCTION mark_changed_xid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.changed_xid := pg_current_xact_id();
  RETURN NEW;
END
$$;

CREATE TRIGGER conversations_changed_xid BEFORE UPDATE OF last_seq ON conversations
  FOR EACH ROW WHEN (NEW.last_seq IS DISTINCT FROM OLD.last_seq)
  EXECUTE FUNCTION mark_changed_xid();

-- Not on last_delivered_seq: delivery receipts are the sender's business, not the member's other devices'.
CREATE TRIGGER memberships_changed_xid BEFORE UPDATE ON memberships
  FOR EACH ROW WHEN ((NEW.last_read_seq, NEW.role, NEW.joined_seq, NEW.left_seq, NEW.left_at, NEW.muted_at, NEW.notification_level, NEW.notifications_muted_until)
                     IS DISTINCT FROM (OLD.last_read_seq, OLD.role, OLD.joined_seq, OLD.left_seq, OLD.left_at, OLD.muted_at, OLD.notification_level, OLD.notifications_muted_until))
  EXECUTE FUNCTION mark_changed_xid();

-- The last seq of a conversation whose event a snapshot sees (0: none), in at
-- most about log2(hi - lo) probes of the primary key: the visible events are a
-- prefix of the log (see above), and every seq up to last_seq has its event.
CREATE FUNCTION sync_visible_seq(conv uuid, snap pg_snapshot, lo integer, hi integer) RETURNS integer
  LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
  mid integer;
  x xid8;
BEGIN
  -- Invariant: seq lo is visible (or lo is 0), every seq above hi is not.
  WHILE lo < hi LOOP
    mid := lo + (hi - lo + 1) / 2;
    SELECT e.xid INTO x FROM events e WHERE e.conversation_id = conv AND e.seq = mid;
    IF x IS NOT NULL AND pg_visible_in_snapshot(x, snap) THEN
      lo := mid;
    ELSE
      hi := mid - 1;
    END IF;
  END LOOP;
  RETURN lo;
END
$$;
