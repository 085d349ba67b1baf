// The conversation list: each conversation with its presence dot, unread
// badge and last message; loading the list and its direct partners' presence;
// and starting a direct chat by username.
import type { Chat } from './chat.js'
import { $, h } from './dom.js'
import { formError } from './group-dialogs.js'
import { excerpt } from './message-view.js'

const PRESENCE_BATCH = 100

export interface ConversationListDeps {
  open: (id: string) => Promise<void>
  renderHeader: () => void
  loadAllMembers: (id: string) => Promise<void>
  /** A user by exact username, or an error saying there is none. */
  userByName: (raw: string) => Promise<{ id: string }>
}

export function createConversationList (chat: Chat, deps: ConversationListDeps) {
  const { sdk, state, titleOf, partnerOf } = chat

  function render (): void {
    const list = $('conversations')
    list.replaceChildren(...state.sortedConversations().map((c) => {
      const partner = partnerOf(c)
      const last = c.lastMessage
      const online = partner !== undefined && state.online.get(partner) === true
      const unread = c.unreadCount > 0 && c.id !== state.currentId
      const button = h('button', { type: 'button', 'aria-current': c.id === state.currentId ? 'true' : undefined },
        h('span', { class: `dot${online ? ' online' : ''}`, role: partner === undefined ? undefined : 'img', 'aria-label': partner === undefined ? undefined : online ? 'online' : 'offline' }),
        h('span', { class: 'name' }, titleOf(c)),
        unread ? h('span', { class: 'badge', 'aria-label': `${c.unreadCount} unread` }, String(c.unreadCount)) : h('span'),
        h('span', { class: 'last' }, last === null ? 'No messages yet' : excerpt(last)))
      button.addEventListener('click', () => { void deps.open(c.id) })
      return h('li', { class: c.id === state.currentId ? 'active' : undefined, 'data-id': c.id }, button)
    }))
  }

  /** The presence of every direct partner in the list, so the dots are right from the start. */
  async function loadPresence (): Promise<void> {
    const since = chat.generation
    const partners = [...new Set([...state.conversations.values()].map(partnerOf).filter((id): id is string => id !== undefined))]
    for (let i = 0; i < partners.length; i += PRESENCE_BATCH) {
      const { presence } = await sdk.users.presence(partners.slice(i, i + PRESENCE_BATCH))
      if (since !== chat.generation) return
      for (const p of presence) state.online.set(p.userId, p.online)
    }
    render()
    deps.renderHeader()
  }

  async function load (): Promise<void> {
    const since = chat.generation
    const all = await sdk.conversations.listAll()
    if (since !== chat.generation) return
    for (const c of all) state.conversations.set(c.id, c)
    chat.listed = true
    render()
    deps.renderHeader()
    if (state.currentId !== undefined) await deps.loadAllMembers(state.currentId)
    await loadPresence()
  }

  function wire (): void {
    $('new-chat').addEventListener('submit', (e) => {
      e.preventDefault()
      const input = $('new-chat-username') as HTMLInputElement
      const since = chat.generation
      void (async () => {
        const found = await deps.userByName(input.value)
        const c = await sdk.conversations.openDirect(found.id)
        if (since !== chat.generation) return
        state.conversations.set(c.id, c)
        input.value = ''
        $('new-chat-error').textContent = ''
        await deps.open(c.id)
        if (!state.online.has(found.id)) await loadPresence()
      })().catch((err: unknown) => { $('new-chat-error').textContent = formError(err, 'Could not open the chat.') })
    })
  }

  return { render, loadPresence, load, wire }
}

export type ConversationList = ReturnType<typeof createConversationList>
