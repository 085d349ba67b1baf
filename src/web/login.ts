// The way in and out of the chat: the login/register screen, entering the
// chat (list, then socket), leaving it with nothing of the user behind (Log
// out, a refused session), and following the session other tabs change.
import { ApiError } from '../client/index.js'
import type { Chat } from './chat.js'
import type { ConversationList } from './conversation-list.js'
import type { ConversationView } from './conversation.js'
import { $, show } from './dom.js'
import type { Live } from './live.js'
import { closeNotifications } from './push.js'
import { onSavedSessionChange, outboxKey, savedSession, syncKey } from './session.js'
import { errorText, SIGNED_OUT } from './texts.js'

export interface LoginDeps {
  live: Live
  list: ConversationList
  conversation: ConversationView
  /** The composer back to a new message, screen untouched. */
  resetComposer: () => void
}

export function createLogin (chat: Chat, deps: LoginDeps) {
  const { sdk, state, view, me } = chat
  const { live, list, conversation } = deps
  /** The user whose chat is shown (their saved cursor and outbox are removed when they leave). */
  let chatUserId: string | undefined

  async function enterChat (): Promise<void> {
    show($('login'), false)
    show($('chat'), true)
    conversation.setView('list')
    $('me-name').textContent = me()?.displayName ?? ''
    live.startOutbox()
    chatUserId = me()?.id
    chat.listed = false
    // The list first, then the socket: what the catch-up brings applies to listed conversations (no fetch per event).
    // Offline, the socket still starts; the list is loaded after its first catch-up.
    try {
      await list.load()
    } finally {
      sdk.realtime.connect()
    }
    // Opened from a push notification (sw.js): that conversation first.
    const fromPush = new URLSearchParams(location.search).get('conversation')
    if (fromPush !== null && state.conversations.has(fromPush)) await conversation.open(fromPush)
  }

  /** Enters the chat; a refused session (not a network failure) shows the login. */
  function tryEnterChat (): void {
    void enterChat().catch((err: unknown) => { if (!(err instanceof ApiError && err.transient)) leaveChat() })
  }

  /**
   * Back to the login screen, leaving nothing of the user behind for the next
   * person at this computer: their saved cursor and outbox, and everything the
   * chat screen, its dialogs and the notifications show. `notice`: why, when it
   * was not this tab's Log out.
   */
  function leaveChat (notice = ''): void {
    const shown = !$('chat').hidden
    chat.generation++
    if (chatUserId !== undefined) {
      localStorage.removeItem(syncKey(chatUserId))
      localStorage.removeItem(outboxKey(chatUserId))
    }
    chatUserId = undefined
    live.cancelSave()
    sdk.realtime.close()
    live.stopOutbox()
    conversation.stopTyping()
    state.reset()
    view.clear()
    clearScreen()
    ;($('login-form') as HTMLFormElement).reset()
    // A second call (a refused session also fails what was loading) keeps the first one's notice.
    if (shown) $('login-error').textContent = notice
    show($('chat'), false)
    show($('login'), true)
    void closeNotifications()
  }

  /** Empties every part of the chat screen a user's content fills (state is already reset). */
  function clearScreen (): void {
    deps.resetComposer()
    for (const id of ['message-input', 'search-input', 'new-chat-username', 'attach-input', 'add-member-username']) ($(id) as HTMLInputElement).value = ''
    for (const id of ['me-name', 'typing', 'composer-context-text', 'search-error', 'new-chat-error', 'push-status', 'banner', 'group-error', 'members-error']) $(id).textContent = ''
    for (const id of ['message-list', 'search-results', 'conversations', 'member-list']) $(id).replaceChildren()
    for (const id of ['composer-context', 'banner', 'search-results', 'search-clear', 'add-member-form']) show($(id), false)
    show($('conversations'), true)
    delete document.body.dataset.push
    ;($('group-form') as HTMLFormElement).reset()
    for (const id of ['group-dialog', 'members-dialog']) ($(id) as HTMLDialogElement).close()
    conversation.setView('list')
    conversation.renderHeader()
    conversation.renderMessages(true)
  }

  /**
   * Another tab changed the saved session. The same user's newer one (that tab
   * refreshed) is used here as is; gone (logged out there, or refused) leaves
   * the chat; another user's (logged in there) leaves this user's chat and
   * enters theirs: every tab shows the account a reload would show.
   */
  function onSavedSession (): void {
    const saved = savedSession()
    const held = sdk.session
    if (saved === null) {
      if (held === null && chatUserId === undefined) return
      sdk.adoptSession(null)
      leaveChat(SIGNED_OUT)
      return
    }
    if (held !== null && saved.user.id === held.user.id) {
      if (saved.refreshToken !== held.refreshToken && saved.expiresAt >= held.expiresAt) sdk.adoptSession(saved)
      return
    }
    if (held !== null || chatUserId !== undefined) leaveChat()
    sdk.adoptSession(saved)
    tryEnterChat()
  }

  function wireForm (): void {
    $('login-form').addEventListener('submit', (e) => {
      e.preventDefault()
      const form = e.target as HTMLFormElement
      const data = new FormData(form)
      const action = ((e as SubmitEvent).submitter as HTMLButtonElement | null)?.value ?? 'login'
      const username = String(data.get('username'))
      const password = String(data.get('password'))
      const displayName = String(data.get('displayName') ?? '').trim()
      const done = action === 'register'
        ? sdk.auth.register({ username, password, ...(displayName === '' ? {} : { displayName }) })
        : sdk.auth.login({ username, password })
      done.then(() => {
        $('login-error').textContent = ''
        // Nothing typed stays in the (hidden) form while the chat is open.
        for (const id of ['password', 'display-name']) ($(id) as HTMLInputElement).value = ''
        return enterChat()
      })
        .catch((err: unknown) => { $('login-error').textContent = errorText(err, action === 'register' ? 'Could not register.' : 'Could not log in.') })
    })
    $('logout').addEventListener('click', () => { void sdk.logout().finally(() => leaveChat()) })
  }

  function wireSession (): void {
    sdk.on('unauthenticated', () => leaveChat(SIGNED_OUT))
    onSavedSessionChange(onSavedSession)
  }

  /** At load: the login, or the saved user's chat. */
  function start (): void {
    if (sdk.session === null) show($('login'), true)
    // Offline at load: the chat (and the outbox) stays, and fills in when the connection is back; a refused session shows the login.
    else tryEnterChat()
  }

  return { wireForm, wireSession, start }
}
