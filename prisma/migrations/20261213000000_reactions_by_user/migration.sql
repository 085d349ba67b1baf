-- A user's reactions, found by user: deleting an account takes its reactions
-- back (src/domain/account-deletion.ts), conversation by conversation, and the
-- export lists them. The primary key starts with the message, so without this
-- index both read the whole table.
CREATE INDEX "message_reactions_user_id_idx" ON "message_reactions"("user_id");
