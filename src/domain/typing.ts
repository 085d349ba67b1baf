// Typing: a member tells the other members of a conversation that they are
// typing. Membership is read for every frame, never remembered: a member
// removed a moment ago (on any process) must not be relayed. The recipients
// are needed anyway, so that read is the one query a typing frame costs.
import type { TypingAudience } from '../repositories/conversations.js'
import { notFound } from './errors.js'

export interface ConversationMembers {
  /** Who would be told that `userId` is typing in the conversation, and whether they may (one statement). */
  typingAudience (conversationId: string, userId: string): Promise<TypingAudience>
}

/**
 * Who is told that `userId` is typing: the conversation's other members, but
 * for those `userId` has blocked; nobody when `userId` may not post there (a
 * muted member, a plain member of a frozen group, a user blocked by the other
 * side of a direct conversation): typing announces a message that cannot
 * come. The frame is dropped without an error, since a client typing in a
 * conversation it was just muted in is not misbehaving. A user who is not a
 * member gets the 404 of a conversation that does not exist.
 */
export async function typingRecipients (members: ConversationMembers, conversationId: string, userId: string): Promise<string[]> {
  const audience = await members.typingAudience(conversationId, userId)
  if (!audience.member) throw notFound('Conversation')
  return audience.mayPost ? audience.recipients : []
}
