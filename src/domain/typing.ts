// Typing: a member tells the other members of a conversation that they are
// typing. Membership is read for every frame, never remembered: a member
// removed a moment ago (on any process) must not be relayed. The recipients
// are needed anyway, so that read is the one query a typing frame costs.
import { notFound } from './errors.js'

export interface ConversationMembers {
  /** The current members of a conversation (none when it does not exist), without those `hiddenFrom` has blocked. */
  memberIds (conversationId: string, hiddenFrom?: string): Promise<string[]>
}

/**
 * Who is told that `userId` is typing: the conversation's other members, but
 * for those `userId` has blocked. A
 * user who is not a member gets the 404 of a conversation that does not exist.
 */
export async function typingRecipients (members: ConversationMembers, conversationId: string, userId: string): Promise<string[]> {
  const ids = await members.memberIds(conversationId, userId)
  if (!ids.includes(userId)) throw notFound('Conversation')
  return ids.filter((id) => id !== userId)
}
