// The composer of the open conversation: a new message, a reply or an edit of
// one of mine (sent through the outbox, or saved), a photo sent with what is
// typed, and the typing signal while writing.
import type { Message } from '../client/index.js'
import type { Chat } from './chat.js'
import { $, show } from './dom.js'
import { excerpt, nameOf } from './message-view.js'
import { errorText } from './texts.js'

/** The composer's mode: a new message, a reply to one, or an edit of one of mine. */
export type Composing = { kind: 'new' } | { kind: 'reply', message: Message } | { kind: 'edit', message: Message }

export interface ComposerDeps {
  renderMessages: (stickToBottom: boolean) => void
  renderConversations: () => void
}

export function createComposer (chat: Chat, deps: ComposerDeps) {
  const { sdk, state } = chat
  let composing: Composing = { kind: 'new' }

  function setComposing (next: Composing): void {
    composing = next
    const input = $('message-input') as HTMLInputElement
    const c = state.current()
    if (next.kind === 'new') {
      show($('composer-context'), false)
    } else {
      $('composer-context-text').textContent = next.kind === 'reply'
        ? `Replying to ${nameOf(c, next.message.senderId)}: ${excerpt(next.message)}`
        : 'Editing your message'
      show($('composer-context'), true)
    }
    if (next.kind === 'edit') input.value = next.message.body
    input.focus()
  }

  /** Back to a new message without touching the screen (the chat screen is being emptied). */
  function reset (): void {
    composing = { kind: 'new' }
  }

  function wireSend (): void {
    $('composer').addEventListener('submit', (e) => {
      e.preventDefault()
      const input = $('message-input') as HTMLInputElement
      const id = state.currentId
      const body = input.value.trim()
      if (id === undefined || body === '') return
      const mode = composing
      input.value = ''
      setComposing({ kind: 'new' })
      if (mode.kind === 'edit') {
        sdk.messages.edit(id, mode.message.id, body).then((m) => {
          state.applyMessage(m, false)
          if (state.currentId === id) deps.renderMessages(false)
          deps.renderConversations()
        }).catch((err: unknown) => {
          input.value = body
          setComposing(mode)
          $('typing').textContent = errorText(err, 'Could not save the edit.')
        })
        return
      }
      // Shown at once as pending; sent now, or when the connection is back.
      chat.outbox?.add(id, body, mode.kind === 'reply' ? mode.message.id : undefined)
    })
    $('composer-cancel').addEventListener('click', () => {
      if (composing.kind === 'edit') ($('message-input') as HTMLInputElement).value = ''
      setComposing({ kind: 'new' })
    })
    $('message-input').addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && composing.kind !== 'new') $('composer-cancel').click()
    })
  }

  function wireAttach (): void {
    // A photo is uploaded (progress shown where typing is), then sent with whatever is typed.
    $('attach').addEventListener('click', () => { $('attach-input').click() })
    $('attach-input').addEventListener('change', () => {
      const picker = $('attach-input') as HTMLInputElement
      const file = picker.files?.[0]
      const id = state.currentId
      picker.value = ''
      if (file === undefined || id === undefined) return
      const input = $('message-input') as HTMLInputElement
      const status = $('typing')
      void (async () => {
        const upload = await sdk.uploads.upload(id, file, { onProgress: (p) => { status.textContent = `Uploading ${Math.floor(100 * p.loaded / Math.max(1, p.total))}%` } })
        const body = input.value.trim()
        input.value = ''
        const m = await sdk.messages.send(id, body === '' ? { attachments: [upload.id] } : { body, attachments: [upload.id] })
        status.textContent = ''
        state.applyMessage(m, false)
        if (state.currentId === id) deps.renderMessages(true)
        deps.renderConversations()
      })().catch((err: unknown) => { status.textContent = errorText(err, 'Could not send the photo.') })
    })
    $('message-input').addEventListener('input', () => { if (state.currentId !== undefined && composing.kind !== 'edit') sdk.realtime.typing(state.currentId) })
  }

  return { setComposing, reset, wireSend, wireAttach }
}
