-- GET /v1/me/blocks and GET /v1/conversations/:id/bans are keyset pages,
-- newest first with the listed user id as tie-break. The primary keys start
-- with the owner but are not in time order, so without these indexes a page
-- sorts every block of the user (every ban of the group) first.

-- CreateIndex
CREATE INDEX "blocks_by_blocker_newest" ON "blocks"("blocker_id", "created_at", "blocked_id");

-- CreateIndex
CREATE INDEX "conversation_bans_newest" ON "conversation_bans"("conversation_id", "created_at", "user_id");
