-- What changes the caller's badge (GET /v1/me/unread) without changing a
-- conversation or a membership was never reported by GET /v1/sync, so a
-- device that synced kept a stale badge: a thread read on another device,
-- the account-wide notification level, a block or an unblock. (A thread read
-- now also marks its membership changed, src/repositories/threads.ts; a block
-- or an unblock marks the blocker's row, src/repositories/safety.ts: not by a
-- trigger on blocks, which an account's erasure would have made lock other
-- accounts' rows.)
--
-- The transaction of the last such change of the account, as changed_xid of
-- memberships (migration sync_cursor): a sync whose cursor does not see it
-- answers the badge. Null until the first change (no table rewrite).
ALTER TABLE users ADD COLUMN badge_changed_xid xid8;

CREATE FUNCTION mark_badge_changed_xid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.badge_changed_xid := pg_current_xact_id();
  RETURN NEW;
END
$$;

CREATE TRIGGER users_badge_changed_xid BEFORE UPDATE OF notification_level ON users
  FOR EACH ROW WHEN (NEW.notification_level IS DISTINCT FROM OLD.notification_level)
  EXECUTE FUNCTION mark_badge_changed_xid();
