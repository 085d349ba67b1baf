// Searching messages: the hits (conversation, sender, day, and the snippet
// with its matches marked) in place of the conversation list until cleared.
import type { SearchHit } from '../client/index.js'
import type { Chat } from './chat.js'
import { $, dayLabel, h, show } from './dom.js'
import { nameOf } from './message-view.js'
import { errorText } from './texts.js'

/** A snippet's text with its matches marked: text nodes and <mark> elements only, never HTML. */
function highlighted (snippet: SearchHit['snippet']): Array<Node | string> {
  const out: Array<Node | string> = []
  let at = 0
  for (const { start, end } of snippet.highlights) {
    if (start > at) out.push(snippet.text.slice(at, start))
    out.push(h('mark', {}, snippet.text.slice(start, end)))
    at = end
  }
  if (at < snippet.text.length) out.push(snippet.text.slice(at))
  return out
}

export function createSearch (chat: Chat, open: (id: string) => Promise<void>) {
  const { sdk, state, titleOf } = chat

  function render (hits: SearchHit[] | undefined): void {
    const searching = hits !== undefined
    show($('search-results'), searching)
    show($('conversations'), !searching)
    show($('search-clear'), searching)
    if (!searching) return
    if (hits.length === 0) {
      $('search-results').replaceChildren(h('li', { class: 'muted empty' }, 'No messages found'))
      return
    }
    $('search-results').replaceChildren(...hits.map((hit) => {
      const c = state.conversations.get(hit.message.conversationId)
      const button = h('button', { type: 'button' },
        h('span'),
        h('span', { class: 'name' }, c === undefined ? 'Conversation' : titleOf(c)),
        h('span', { class: 'muted' }, `${nameOf(c, hit.message.senderId)} · ${dayLabel(hit.message.createdAt)}`),
        h('span', { class: 'last' }, ...highlighted(hit.snippet)))
      button.addEventListener('click', () => { void open(hit.message.conversationId) })
      return h('li', { 'data-id': hit.message.id }, button)
    }))
  }

  async function search (q: string): Promise<void> {
    $('search-error').textContent = ''
    if (q.trim() === '') { render(undefined); return }
    const since = chat.generation
    const page = await sdk.search.messages({ q: q.trim(), limit: 20 })
    if (since === chat.generation && ($('search-input') as HTMLInputElement).value.trim() === q.trim()) render(page.hits)
  }

  function wire (): void {
    $('search-form').addEventListener('submit', (e) => {
      e.preventDefault()
      search(($('search-input') as HTMLInputElement).value).catch((err: unknown) => { $('search-error').textContent = errorText(err, 'Could not search.') })
    })
    $('search-clear').addEventListener('click', () => {
      ;($('search-input') as HTMLInputElement).value = ''
      $('search-error').textContent = ''
      render(undefined)
    })
  }

  return { wire }
}
