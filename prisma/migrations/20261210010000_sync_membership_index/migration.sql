-- A sync reads the caller's memberships in conversation order (src/repositories/sync.ts): an index on
-- (user_id, conversation_id) gives that order without a sort and replaces the index on user_id alone,
-- which every other lookup by user used.
CREATE INDEX "memberships_user_conversation" ON "memberships"("user_id", "conversation_id");
DROP INDEX "memberships_user_id_idx";
