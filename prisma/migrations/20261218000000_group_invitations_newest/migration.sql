-- The owner and admins of a group page its pending invitations, newest first
-- (GET /v1/conversations/:id/invitations), and an invitation expires
-- INVITATION_TTL_DAYS after it was made: keyset pages and the group's expired
-- invitations are read by this index at any depth, in a group of any size.
CREATE INDEX "group_invitations_newest" ON "group_invitations"("conversation_id", "created_at", "user_id");
