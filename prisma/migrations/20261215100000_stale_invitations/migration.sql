-- Invitations (GROUP_ADDS=invite) of users who joined the group another way
-- after being invited (an invite link, a public join, an add) were kept: they
-- listed the group to them after they left or were removed, and accepting
-- one brought them back past a removal. Joining now drops the invitation
-- (src/domain/members.ts); this drops the ones left from before.
DELETE FROM group_invitations gi
 USING memberships m
 WHERE m.conversation_id = gi.conversation_id AND m.user_id = gi.user_id AND m.joined_at >= gi.created_at;
