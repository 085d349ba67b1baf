// Mentions: the @username tokens of a body. The service only finds the names
// here; which of them become mentions (current members other than the sender,
// whose window holds the message) is decided where the message is stored,
// under the conversation's lock: by post_messages for posts, by the edit's
// transaction for edits (a member who joined after the message is not one).

/** At most this many distinct @names of one body are looked up; the rest stay plain text. */
export const MAX_MENTIONS = 50

/** The token that mentions every member when the owner or an admin of a group writes it. */
export const ALL = 'all'

// A name is what a username may hold (3-32 of A-Z a-z 0-9 _ .) after an @ that
// does not follow such a character (so user@example.com is no mention);
// trailing dots end the sentence, not the name.
const TOKEN = /(?<![A-Za-z0-9_.])@([A-Za-z0-9_.]+)/g

export interface ParsedMentions {
  /** Distinct lower-case names in order of first appearance, without `all`. */
  names: string[]
  /** Whether the body holds an @all token. */
  all: boolean
}

export function parseMentions (body: string): ParsedMentions {
  const names = new Set<string>()
  let all = false
  for (const match of body.matchAll(TOKEN)) {
    const name = match[1]!.replace(/\.+$/, '').toLowerCase()
    if (name.length < 3 || name.length > 32) continue
    if (name === ALL) {
      all = true
      continue
    }
    if (names.size < MAX_MENTIONS) names.add(name)
  }
  return { names: [...names], all }
}

/** Whether a message mentions the user (by name or by @all), as the counts and notifications take it. */
export const mentionsUser = (message: { senderId: string, mentions: string[], mentionsAll: boolean }, userId: string): boolean =>
  message.senderId !== userId && (message.mentionsAll || message.mentions.includes(userId))
