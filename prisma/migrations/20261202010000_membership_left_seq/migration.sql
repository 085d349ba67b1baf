-- AlterTable
ALTER TABLE "memberships" ADD COLUMN     "left_seq" INTEGER;

-- Written by hand: the window of members removed before this column existed
-- ends at their latest member.removed event.
UPDATE memberships m
   SET left_seq = (SELECT max(e.seq) FROM events e
                    WHERE e.conversation_id = m.conversation_id AND e.type = 'member.removed'
                      AND e.data->>'userId' = m.user_id::text)
 WHERE m.left_at IS NOT NULL;
