// What the page holds: conversations, who is online, and the open
// conversation's messages by seq (so a message from a push and the same one
// from history or from the send answer are one entry).
import type { Conversation, Message } from '../client/index.js'

export function createState () {
  const conversations = new Map<string, Conversation>()
  const online = new Map<string, boolean>()
  let messages = new Map<number, Message>()
  let currentId: string | undefined
  let hasOlder = false

  return {
    conversations,
    online,
    get currentId () { return currentId },
    get hasOlder () { return hasOlder },
    current: () => currentId === undefined ? undefined : conversations.get(currentId),

    sortedConversations (): Conversation[] {
      const activity = (c: Conversation) => c.lastMessage?.createdAt ?? c.createdAt
      return [...conversations.values()].sort((a, b) => activity(b).localeCompare(activity(a)))
    },

    open (id: string): void {
      currentId = id
      messages = new Map()
      hasOlder = false
    },

    close (): void {
      currentId = undefined
      messages = new Map()
      hasOlder = false
    },

    addMessages (page: Message[], more: boolean): void {
      for (const m of page) if (m.conversationId === currentId) messages.set(m.seq, m)
      hasOlder = more
    },

    /** A created, edited or deleted message; `unread` when it is someone else's new one. */
    applyMessage (m: Message, unread: boolean): void {
      const c = conversations.get(m.conversationId)
      if (c !== undefined) {
        if (c.lastMessage === null || c.lastMessage.seq <= m.seq) c.lastMessage = m
        c.lastSeq = Math.max(c.lastSeq, m.seq)
        if (unread && m.conversationId !== currentId) c.unreadCount++
      }
      if (m.conversationId === currentId) messages.set(m.seq, m)
    },

    currentMessages: (): Message[] => [...messages.values()].sort((a, b) => a.seq - b.seq),
    /** A loaded message of the open conversation. */
    messageById: (id: string): Message | undefined => [...messages.values()].find((m) => m.id === id),

    /** A reaction added or removed by a member (a reaction.* event), on a loaded message; `mine` when it is the caller's. */
    applyReaction (messageId: string, emoji: string, added: boolean, mine: boolean): void {
      const m = [...messages.values()].find((x) => x.id === messageId)
      if (m === undefined) return
      const list = [...(m.reactions ?? [])]
      const at = list.findIndex((r) => r.emoji === emoji)
      const current = at >= 0 ? list[at]! : { emoji, count: 0, me: false }
      const next = { emoji, count: Math.max(0, current.count + (added ? 1 : -1)), me: mine ? added : current.me }
      if (at >= 0) list[at] = next
      else list.push(next)
      m.reactions = list.filter((r) => r.count > 0)
    },

    /** A read receipt: that member has read up to seq. */
    applyRead (conversationId: string, userId: string, seq: number): void {
      const member = conversations.get(conversationId)?.members.find((m) => m.user.id === userId)
      if (member !== undefined) member.lastReadSeq = Math.max(member.lastReadSeq, seq)
    },
    oldestSeq: (): number | undefined => messages.size === 0 ? undefined : Math.min(...messages.keys()),

    reset (): void {
      conversations.clear()
      online.clear()
      messages = new Map()
      currentId = undefined
      hasOlder = false
    }
  }
}
