// What the buttons on a message do: reply, edit, delete, react (a row of
// quick reactions, or a reaction shown on it) and, for one still in the
// outbox, retry or discard.
import type { Message } from '../client/index.js'
import type { Chat } from './chat.js'
import type { Composing } from './composer.js'
import { $, h } from './dom.js'
import { errorText } from './texts.js'

/** The reactions offered by the React button (any emoji works over the API). */
const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏']

export interface MessageActionDeps {
  setComposing: (next: Composing) => void
  renderMessages: (stickToBottom: boolean) => void
  renderConversations: () => void
}

export function createMessageActions (chat: Chat, deps: MessageActionDeps) {
  const { sdk, state } = chat

  /** Adds or takes back the caller's reaction; the reaction.* event updates every device, this one included. */
  function toggleReaction (conversationId: string, m: Message, emoji: string): void {
    const mine = m.reactions?.find((r) => r.emoji === emoji)?.me === true
    const done = mine ? sdk.conversations.unreact(conversationId, m.id, emoji) : sdk.conversations.react(conversationId, m.id, emoji)
    done.catch((err: unknown) => { $('typing').textContent = errorText(err, 'Could not react.') })
  }

  /** A row of quick reactions under the message, until one is picked or the row is closed. */
  function showReactionPicker (conversationId: string, m: Message): void {
    const item = $('message-list').querySelector(`li[data-id="${m.id}"]`)
    if (item === null) return
    item.querySelector('.picker')?.remove()
    const picker = h('span', { class: 'picker', role: 'group', 'aria-label': 'Pick a reaction' },
      ...QUICK_REACTIONS.map((emoji) => {
        const b = h('button', { type: 'button', class: 'link', 'aria-label': `React with ${emoji}` }, emoji)
        b.addEventListener('click', (e) => { e.stopPropagation(); picker.remove(); toggleReaction(conversationId, m, emoji) })
        return b
      }))
    item.append(picker)
    ;(picker.firstElementChild as HTMLElement | null)?.focus()
  }

  function onMessageAction (action: string, id: string, emoji?: string): void {
    const c = state.current()
    if (action === 'retry') return chat.outbox?.retry(id)
    if (action === 'discard') return chat.outbox?.discard(id)
    const m = state.messageById(id)
    if (c === undefined || m === undefined) return
    if (action === 'react') showReactionPicker(c.id, m)
    else if (action === 'toggle-reaction' && emoji !== undefined) toggleReaction(c.id, m, emoji)
    else if (action === 'reply') deps.setComposing({ kind: 'reply', message: m })
    else if (action === 'edit') deps.setComposing({ kind: 'edit', message: m })
    else if (action === 'delete' && confirm('Delete this message for everyone?')) {
      sdk.messages.remove(c.id, m.id).then((deleted) => {
        state.applyMessage(deleted, false)
        if (state.currentId === c.id) deps.renderMessages(false)
        deps.renderConversations()
      }).catch((err: unknown) => { $('typing').textContent = errorText(err, 'Could not delete it.') })
    }
  }

  function wire (): void {
    $('message-list').addEventListener('click', (e) => {
      const button = (e.target as HTMLElement).closest<HTMLElement>('button[data-action]')
      if (button !== null) onMessageAction(button.dataset.action!, button.dataset.id!, button.dataset.emoji)
    })
  }

  return { wire }
}
