-- Edited by hand: an expression index, which Prisma does not model. Alone in
-- its migration for the same reason as messages_body_trgm (built
-- concurrently, posting goes on). Whole-word search of short words (two
-- letters or digits, too short for a trigram) reads it.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "messages_body_words" ON "messages" USING GIN (to_tsvector('simple'::regconfig, "body"));
