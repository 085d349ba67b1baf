-- Edited by hand: both indexes are partial (public groups only), which
-- Prisma does not model. Public channels (README: Search, channels and
-- invitations). Adding a column with a constant default rewrites nothing;
-- the indexes cover only public groups, none yet, so building them here (in
-- one script, not concurrently) reads the conversations table once, which is
-- small beside messages. On a very large conversations table an operator
-- creates them first with CREATE INDEX CONCURRENTLY under the same names: the
-- statements below then find them and do nothing.

-- AlterTable
ALTER TABLE "conversations" ADD COLUMN     "is_public" BOOLEAN NOT NULL DEFAULT false;

-- The channel directory, newest first.
CREATE INDEX IF NOT EXISTS "conversations_public_by_id" ON "conversations"("is_public", "id") WHERE "is_public";

-- Channel titles by substring.
CREATE INDEX IF NOT EXISTS "conversations_public_title_trgm" ON "conversations" USING GIN ("title" gin_trgm_ops) WHERE "is_public";
