-- Edited by hand: the index is partial and the member count is kept by
-- triggers; Prisma models neither. (No quote characters in these comments:
-- the migration engine splits the script with a lexer that does not skip
-- comments.)
--
-- A page of the conversation list shows each conversation with its member
-- count and its first few members, and GET /v1/conversations/:id/members
-- pages through the rest. Neither may read every member of a conversation:
-- the count is stored on the conversation, and the current members are
-- indexed in joining order.

-- AlterTable
ALTER TABLE "conversations" ADD COLUMN     "member_count" INTEGER NOT NULL DEFAULT 0;

-- CreateIndex
CREATE INDEX "memberships_current_by_joined" ON "memberships"("conversation_id", "joined_at", "user_id") WHERE "left_at" IS NULL;

-- member_count follows every write to memberships, whoever makes it (the
-- service, a seeding script, a cascade). Inserts and deletes are counted once
-- per statement; an update counts only where a row joins or leaves (left_at
-- turns null or not null), so moving a read position costs nothing here.
-- Every path that changes membership already holds the row lock of the
-- conversation, which this update takes as well.
CREATE FUNCTION memberships_count_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE conversations c SET member_count = c.member_count + d.n
      FROM (SELECT conversation_id, count(*)::int AS n FROM new_rows WHERE left_at IS NULL GROUP BY conversation_id) d
     WHERE c.id = d.conversation_id;
  ELSE
    UPDATE conversations c SET member_count = c.member_count - d.n
      FROM (SELECT conversation_id, count(*)::int AS n FROM old_rows WHERE left_at IS NULL GROUP BY conversation_id) d
     WHERE c.id = d.conversation_id;
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION memberships_count_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE conversations SET member_count = member_count + CASE WHEN NEW.left_at IS NULL THEN 1 ELSE -1 END
   WHERE id = NEW.conversation_id;
  RETURN NULL;
END
$$;

CREATE TRIGGER memberships_count_insert AFTER INSERT ON memberships
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION memberships_count_statement();
CREATE TRIGGER memberships_count_delete AFTER DELETE ON memberships
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION memberships_count_statement();
CREATE TRIGGER memberships_count_update AFTER UPDATE OF left_at ON memberships
  FOR EACH ROW WHEN ((OLD.left_at IS NULL) <> (NEW.left_at IS NULL)) EXECUTE FUNCTION memberships_count_row();

UPDATE conversations c SET member_count = (SELECT count(*) FROM memberships m WHERE m.conversation_id = c.id AND m.left_at IS NULL);
