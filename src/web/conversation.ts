// The open conversation: its header, its messages by day (with what still
// waits in the outbox), paging back through history, loading all its members,
// marking it read, and who is typing in it; and which of the two views (list
// or conversation) a phone shows.
import type { Chat } from './chat.js'
import { $, dayKey, dayLabel, h, show } from './dom.js'
import { nameOf } from './message-view.js'

const TYPING_SHOWN_MS = 4000

export interface ConversationDeps {
  renderConversations: () => void
  /** A conversation was opened: the composer starts a new message. */
  resetComposer: () => void
}

export function createConversationView (chat: Chat, deps: ConversationDeps) {
  const { sdk, state, view, titleOf, partnerOf } = chat
  let typingTimer: ReturnType<typeof setTimeout> | undefined

  function setView (which: 'list' | 'conversation'): void {
    $('chat').dataset.view = which
  }

  function renderMessages (stickToBottom: boolean): void {
    const box = $('messages')
    const fromBottom = box.scrollHeight - box.scrollTop
    const items: HTMLElement[] = []
    let day: string | undefined
    for (const m of state.currentMessages()) {
      if (dayKey(m.createdAt) !== day) {
        day = dayKey(m.createdAt)
        items.push(h('li', { class: 'day' }, dayLabel(m.createdAt)))
      }
      items.push(view.messageItem(m))
    }
    if (state.currentId !== undefined && chat.outbox !== undefined) items.push(...chat.outbox.of(state.currentId).map(view.pendingItem))
    $('message-list').replaceChildren(...items)
    show($('load-older'), state.hasOlder)
    box.scrollTop = stickToBottom ? box.scrollHeight : box.scrollHeight - fromBottom
  }

  function renderHeader (): void {
    const c = state.current()
    $('conversation-title').textContent = c === undefined ? 'Pick a conversation' : titleOf(c)
    const partner = c === undefined ? undefined : partnerOf(c)
    $('conversation-presence').textContent = partner === undefined
      ? (c?.type === 'group' ? `${c.memberCount} members` : '')
      : state.online.get(partner) === true ? 'online' : 'offline'
    show($('composer'), c !== undefined)
    show($('members-button'), c?.type === 'group')
  }

  /**
   * Loads every member of a conversation whose list entry shows only the first
   * few (a big group), so that senders and typists have names.
   */
  async function loadAllMembers (id: string, again = false): Promise<void> {
    const c = state.conversations.get(id)
    if (c === undefined || (!again && c.members.length >= c.memberCount)) return
    const members = await sdk.conversations.allMembers(id)
    const now = state.conversations.get(id)
    if (now === undefined) return
    now.members = members
    now.memberCount = members.length
    if (state.currentId === id) renderMessages(false)
  }

  async function open (id: string): Promise<void> {
    state.open(id)
    setView('conversation')
    deps.resetComposer()
    $('typing').textContent = ''
    renderHeader()
    deps.renderConversations()
    renderMessages(true)
    // minSeq: a server that reads from a replica answers from one that has what this page has seen.
    const known = state.conversations.get(id)?.lastSeq ?? 0
    const [page] = await Promise.all([sdk.messages.history(id, { limit: 30, ...(known > 0 ? { minSeq: known } : {}) }), loadAllMembers(id)])
    if (state.currentId !== id) return
    state.addMessages(page.messages, page.hasMore)
    renderMessages(true)
    await markRead()
    ;($('message-input') as HTMLInputElement).focus()
  }

  async function markRead (): Promise<void> {
    const c = state.current()
    if (c === undefined || c.lastSeq === 0 || document.visibilityState === 'hidden') return
    c.unreadCount = 0
    await sdk.conversations.markRead(c.id, c.lastSeq).catch(() => {})
    deps.renderConversations()
  }

  async function loadOlder (): Promise<void> {
    const id = state.currentId
    const oldest = state.oldestSeq()
    if (id === undefined || oldest === undefined) return
    const page = await sdk.messages.history(id, { before: oldest, limit: 30 })
    if (state.currentId !== id) return
    state.addMessages(page.messages, page.hasMore)
    renderMessages(false)
  }

  function close (): void {
    state.close()
    setView('list')
    renderHeader()
    renderMessages(true)
  }

  function onTyping (conversationId: string, userId: string): void {
    if (conversationId !== state.currentId) return
    $('typing').textContent = `${nameOf(state.current(), userId)} is typing…`
    clearTimeout(typingTimer)
    typingTimer = setTimeout(() => { $('typing').textContent = '' }, TYPING_SHOWN_MS)
  }

  /** At logout: a typist shown before is not cleared later over the next user's chat. */
  function stopTyping (): void {
    clearTimeout(typingTimer)
  }

  function wireBack (): void {
    $('back').addEventListener('click', () => { setView('list'); deps.renderConversations() })
  }

  function wire (): void {
    $('load-older').addEventListener('click', () => { void loadOlder() })
    document.addEventListener('visibilitychange', () => { void markRead() })
  }

  return { setView, renderMessages, renderHeader, loadAllMembers, open, markRead, close, onTyping, stopTyping, wireBack, wire }
}

export type ConversationView = ReturnType<typeof createConversationView>
