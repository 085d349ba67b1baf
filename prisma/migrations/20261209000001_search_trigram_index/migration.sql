-- Edited by hand. One statement alone in its migration: the script then runs
-- outside any transaction block, which CREATE INDEX CONCURRENTLY requires, so
-- building the index on a large messages table does not block posting.
-- Substring search (ILIKE with a run of three letters or digits) reads it.
-- If the build fails it leaves an invalid index: drop it (DROP INDEX
-- CONCURRENTLY messages_body_trgm), mark the migration rolled back
-- (prisma migrate resolve) and start again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "messages_body_trgm" ON "messages" USING GIN ("body" gin_trgm_ops);
