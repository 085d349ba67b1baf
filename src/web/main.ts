// The web chat page: log in or register (and stay signed in), list
// conversations with presence, open one, page back through history, send
// (through an outbox that survives going offline), reply, edit, delete, make
// groups and manage their members, and see messages, typing, presence and
// read receipts live; leave nothing behind at logout, and share the session
// with the other tabs (session.ts). Everything goes through the client SDK (src/client).
import { ApiError, createClient, type ChatEvent, type Conversation, type Message, type SearchHit } from '../client/index.js'
import { $, dayKey, dayLabel, h, show } from './dom.js'
import { createMessageView, excerpt, nameOf } from './message-view.js'
import { createGroupDialogs } from './group-dialogs.js'
import { createOutbox, type Outbox } from './outbox.js'
import { closeNotifications, enablePush } from './push.js'
import { onSavedSessionChange, outboxKey, refreshLock, savedSession, savedSync, saveSession, syncKey } from './session.js'
import { createState } from './state.js'
import { connectionText, errorText, SIGNED_OUT } from './texts.js'

const SYNC_SAVE_MS = 1000
const TYPING_SHOWN_MS = 4000
const OUTBOX_RETRY_MS = 5000
const PRESENCE_BATCH = 100
/** The reactions offered by the React button (any emoji works over the API). */
const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏']

const initialSession = savedSession()
const sdk = createClient({
  baseUrl: location.origin,
  session: initialSession,
  ...savedSync(initialSession?.user.id),
  onSession: saveSession,
  loadSession: savedSession,
  ...refreshLock()
})
const state = createState()
let typingTimer: ReturnType<typeof setTimeout> | undefined
let outbox: Outbox | undefined
let outboxTimer: ReturnType<typeof setInterval> | undefined
let connection = 'idle'
let syncSaveTimer: ReturnType<typeof setTimeout> | undefined
/** Whether the conversation list was loaded since entering the chat (a catch-up through the cursor only brings what changed). */
let listed = false
/** The user whose chat is shown (their saved cursor and outbox are removed when they leave). */
let chatUserId: string | undefined
/** Moves when the chat is left: work begun before (a list, a fetch after an event, a new chat) then shows nothing. */
let generation = 0
/** The composer's mode: a new message, a reply to one, or an edit of one of mine. */
let composing: { kind: 'new' } | { kind: 'reply', message: Message } | { kind: 'edit', message: Message } = { kind: 'new' }

const me = () => sdk.session?.user

/** Title of a conversation as this user sees it: a group's title, or the other person's name. */
function titleOf (c: Conversation): string {
  if (c.type === 'group') return c.title ?? 'Group'
  const other = c.members.find((m) => m.user.id !== me()?.id)
  return other?.user.displayName ?? 'Just you'
}

const partnerOf = (c: Conversation) => c.type === 'direct' ? c.members.find((m) => m.user.id !== me()?.id)?.user.id : undefined

/** Saves the SDK's cursor with its positions, at the same moment (a pair the SDK can resume from). */
function saveSync (): void {
  clearTimeout(syncSaveTimer)
  syncSaveTimer = undefined
  const user = me()
  const cursor = sdk.realtime.cursor
  if (user === undefined || cursor === undefined) return
  try {
    localStorage.setItem(syncKey(user.id), JSON.stringify({ cursor, positions: sdk.realtime.positions() }))
  } catch {
    // storage full or denied: the next load lists the conversations instead
  }
}

function saveSyncSoon (): void {
  syncSaveTimer ??= setTimeout(saveSync, SYNC_SAVE_MS)
}

function setView (view: 'list' | 'conversation'): void {
  $('chat').dataset.view = view
}

function renderBanner (): void {
  const text = connectionText(connection, outbox?.size ?? 0)
  $('banner').textContent = text ?? ''
  show($('banner'), text !== undefined)
}

function renderConversations (): void {
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
    button.addEventListener('click', () => { void openConversation(c.id) })
    return h('li', { class: c.id === state.currentId ? 'active' : undefined, 'data-id': c.id }, button)
  }))
}

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

function renderSearch (hits: SearchHit[] | undefined): void {
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
    button.addEventListener('click', () => { void openConversation(hit.message.conversationId) })
    return h('li', { 'data-id': hit.message.id }, button)
  }))
}

async function search (q: string): Promise<void> {
  $('search-error').textContent = ''
  if (q.trim() === '') { renderSearch(undefined); return }
  const since = generation
  const page = await sdk.search.messages({ q: q.trim(), limit: 20 })
  if (since === generation && ($('search-input') as HTMLInputElement).value.trim() === q.trim()) renderSearch(page.hits)
}

const view = createMessageView({
  me,
  conversation: (id) => state.conversations.get(id),
  messageById: (id) => state.messageById(id),
  urls: (id) => sdk.uploads.urls(id)
})

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
  if (state.currentId !== undefined && outbox !== undefined) items.push(...outbox.of(state.currentId).map(view.pendingItem))
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

function setComposing (next: typeof composing): void {
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

/** The presence of every direct partner in the list, so the dots are right from the start. */
async function loadPresence (): Promise<void> {
  const since = generation
  const partners = [...new Set([...state.conversations.values()].map(partnerOf).filter((id): id is string => id !== undefined))]
  for (let i = 0; i < partners.length; i += PRESENCE_BATCH) {
    const { presence } = await sdk.users.presence(partners.slice(i, i + PRESENCE_BATCH))
    if (since !== generation) return
    for (const p of presence) state.online.set(p.userId, p.online)
  }
  renderConversations()
  renderHeader()
}

async function openConversation (id: string): Promise<void> {
  state.open(id)
  setView('conversation')
  setComposing({ kind: 'new' })
  $('typing').textContent = ''
  renderHeader()
  renderConversations()
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
  renderConversations()
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

async function onEvent (event: ChatEvent): Promise<void> {
  if (event.type === 'member.removed' && (event.data as { userId?: string }).userId === me()?.id) {
    // Removed, or left on another device: the conversation is gone from here (fetching it would be refused).
    state.conversations.delete(event.conversationId)
    if (state.currentId === event.conversationId) closeConversation()
    renderConversations()
    return
  }
  let c = state.conversations.get(event.conversationId)
  if (c === undefined || event.type === 'member.added' || event.type === 'members.added' || event.type === 'member.removed' || event.type === 'conversation.updated') {
    const since = generation
    c = await sdk.conversations.get(event.conversationId).catch(() => undefined)
    if (since !== generation) return
    if (c === undefined) {
      state.conversations.delete(event.conversationId)
      if (state.currentId === event.conversationId) closeConversation()
    } else {
      state.conversations.set(c.id, c)
      if (partnerOf(c) !== undefined && !state.online.has(partnerOf(c)!)) void loadPresence().catch(() => {})
    }
  }
  // Newer than the conversation as last read from the server (a list or a catch-up counted the others).
  const fresh = c !== undefined && event.seq > c.lastSeq
  if (c !== undefined) c.lastSeq = Math.max(c.lastSeq, event.seq)
  // The page shows the conversation's own timeline: thread replies are not in it (README "Threads and custom message data").
  if (c !== undefined && (event.type === 'message.created' || event.type === 'message.updated' || event.type === 'message.deleted') &&
    event.data.threadRootId === null) {
    const mine = event.data.senderId === me()?.id
    if (mine && event.type === 'message.created') outbox?.confirmed(event.data.clientMessageId)
    state.applyMessage(event.data, event.type === 'message.created' && !mine && fresh)
    if (state.currentId === c.id) {
      renderMessages(true)
      if (!mine) $('typing').textContent = ''
      await markRead()
    }
  }
  if (event.type === 'reaction.added' || event.type === 'reaction.removed') {
    const r = event.data as { messageId: string, userId: string, emoji: string }
    state.applyReaction(r.messageId, r.emoji, event.type === 'reaction.added', r.userId === me()?.id)
    if (state.currentId === event.conversationId) renderMessages(false)
  }
  renderConversations()
  renderHeader()
  if (!$('members-dialog').hidden && state.currentId === event.conversationId) groups.renderMembers()
}

function closeConversation (): void {
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

async function loadConversations (): Promise<void> {
  const since = generation
  const all = await sdk.conversations.listAll()
  if (since !== generation) return
  for (const c of all) state.conversations.set(c.id, c)
  listed = true
  renderConversations()
  renderHeader()
  if (state.currentId !== undefined) await loadAllMembers(state.currentId)
  await loadPresence()
}

function startOutbox (): void {
  const user = me()
  if (user === undefined) return
  outbox = createOutbox(outboxKey(user.id), async (p) => {
    const m = await sdk.messages.send(p.conversationId, { body: p.body, clientMessageId: p.clientMessageId, ...(p.replyToId === undefined ? {} : { replyToId: p.replyToId }) })
    state.applyMessage(m, false)
    return m
  }, () => {
    renderBanner()
    if (state.currentId !== undefined) renderMessages(true)
    renderConversations()
  }, (err) => errorText(err, 'The message was refused.'))
  clearInterval(outboxTimer)
  // Transient refusals (503 while the database is back, 429) are tried again without waiting for a reconnect.
  outboxTimer = setInterval(() => { if (outbox !== undefined && outbox.size > 0 && connection === 'live') void outbox.flush() }, OUTBOX_RETRY_MS)
  void outbox.flush()
}

async function enterChat (): Promise<void> {
  show($('login'), false)
  show($('chat'), true)
  setView('list')
  $('me-name').textContent = me()?.displayName ?? ''
  startOutbox()
  chatUserId = me()?.id
  listed = false
  // The list first, then the socket: what the catch-up brings applies to listed conversations (no fetch per event).
  // Offline, the socket still starts; the list is loaded after its first catch-up.
  try {
    await loadConversations()
  } finally {
    sdk.realtime.connect()
  }
  // Opened from a push notification (sw.js): that conversation first.
  const fromPush = new URLSearchParams(location.search).get('conversation')
  if (fromPush !== null && state.conversations.has(fromPush)) await openConversation(fromPush)
}

/** A conversation as the catch-up found it (joined, new messages, read elsewhere). */
function onConversation (c: Conversation): void {
  const shown = state.conversations.get(c.id)
  const open = c.id === state.currentId
  if (shown !== undefined && shown.lastSeq > c.lastSeq) {
    // Pushes applied here are newer than this answer.
    c.lastSeq = shown.lastSeq
    c.lastMessage = shown.lastMessage
    c.unreadCount = shown.unreadCount
  }
  // It shows the first members only: the open conversation keeps its whole list on screen until it is read again.
  const partial = c.members.length < c.memberCount
  if (open && partial && shown !== undefined) c.members = shown.members
  state.conversations.set(c.id, c)
  if (open) {
    if (partial) void loadAllMembers(c.id, true).catch(() => {})
    if (c.unreadCount > 0) void markRead()
  }
  const partner = partnerOf(c)
  if (partner !== undefined && !state.online.has(partner)) void loadPresence().catch(() => {})
  renderConversations()
  renderHeader()
}

/** Left or removed while away. */
function onLeft (id: string): void {
  state.conversations.delete(id)
  if (state.currentId === id) closeConversation()
  renderConversations()
}

/**
 * Back to the login screen, leaving nothing of the user behind for the next
 * person at this computer: their saved cursor and outbox, and everything the
 * chat screen, its dialogs and the notifications show. `notice`: why, when it
 * was not this tab's Log out.
 */
function leaveChat (notice = ''): void {
  const shown = !$('chat').hidden
  generation++
  if (chatUserId !== undefined) {
    localStorage.removeItem(syncKey(chatUserId))
    localStorage.removeItem(outboxKey(chatUserId))
  }
  chatUserId = undefined
  clearTimeout(syncSaveTimer)
  syncSaveTimer = undefined
  sdk.realtime.close()
  clearInterval(outboxTimer)
  outbox?.remove()
  outbox = undefined
  clearTimeout(typingTimer)
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
  composing = { kind: 'new' }
  for (const id of ['message-input', 'search-input', 'new-chat-username', 'attach-input', 'add-member-username']) ($(id) as HTMLInputElement).value = ''
  for (const id of ['me-name', 'typing', 'composer-context-text', 'search-error', 'new-chat-error', 'push-status', 'banner', 'group-error', 'members-error']) $(id).textContent = ''
  for (const id of ['message-list', 'search-results', 'conversations', 'member-list']) $(id).replaceChildren()
  for (const id of ['composer-context', 'banner', 'search-results', 'search-clear', 'add-member-form']) show($(id), false)
  show($('conversations'), true)
  delete document.body.dataset.push
  ;($('group-form') as HTMLFormElement).reset()
  for (const id of ['group-dialog', 'members-dialog']) ($(id) as HTMLDialogElement).close()
  setView('list')
  renderHeader()
  renderMessages(true)
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
  void enterChat().catch((err: unknown) => { if (!(err instanceof ApiError && err.transient)) leaveChat() })
}

const groups = createGroupDialogs({
  sdk,
  state,
  me,
  titleOf,
  openConversation,
  loadAllMembers,
  afterChange: renderHeader,
  afterLeave: () => { closeConversation(); renderConversations() },
  generation: () => generation
})
const { formError, userByName } = groups

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
  if (action === 'retry') return outbox?.retry(id)
  if (action === 'discard') return outbox?.discard(id)
  const m = state.messageById(id)
  if (c === undefined || m === undefined) return
  if (action === 'react') showReactionPicker(c.id, m)
  else if (action === 'toggle-reaction' && emoji !== undefined) toggleReaction(c.id, m, emoji)
  else if (action === 'reply') setComposing({ kind: 'reply', message: m })
  else if (action === 'edit') setComposing({ kind: 'edit', message: m })
  else if (action === 'delete' && confirm('Delete this message for everyone?')) {
    sdk.messages.remove(c.id, m.id).then((deleted) => {
      state.applyMessage(deleted, false)
      if (state.currentId === c.id) renderMessages(false)
      renderConversations()
    }).catch((err: unknown) => { $('typing').textContent = errorText(err, 'Could not delete it.') })
  }
}

function wire (): void {
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
  $('back').addEventListener('click', () => { setView('list'); renderConversations() })
  $('search-form').addEventListener('submit', (e) => {
    e.preventDefault()
    search(($('search-input') as HTMLInputElement).value).catch((err: unknown) => { $('search-error').textContent = errorText(err, 'Could not search.') })
  })
  $('search-clear').addEventListener('click', () => {
    ;($('search-input') as HTMLInputElement).value = ''
    $('search-error').textContent = ''
    renderSearch(undefined)
  })
  $('push-toggle').addEventListener('click', () => {
    $('push-status').textContent = 'Turning notifications on…'
    enablePush(sdk).then(({ state, text }) => {
      document.body.dataset.push = state
      $('push-status').textContent = text
    }).catch((err: unknown) => {
      document.body.dataset.push = 'failed'
      $('push-status').textContent = errorText(err, 'Could not turn notifications on.')
    })
  })
  $('new-chat').addEventListener('submit', (e) => {
    e.preventDefault()
    const input = $('new-chat-username') as HTMLInputElement
    const since = generation
    void (async () => {
      const found = await userByName(input.value)
      const c = await sdk.conversations.openDirect(found.id)
      if (since !== generation) return
      state.conversations.set(c.id, c)
      input.value = ''
      $('new-chat-error').textContent = ''
      await openConversation(c.id)
      if (!state.online.has(found.id)) await loadPresence()
    })().catch((err: unknown) => { $('new-chat-error').textContent = formError(err, 'Could not open the chat.') })
  })
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
        if (state.currentId === id) renderMessages(false)
        renderConversations()
      }).catch((err: unknown) => {
        input.value = body
        setComposing(mode)
        $('typing').textContent = errorText(err, 'Could not save the edit.')
      })
      return
    }
    // Shown at once as pending; sent now, or when the connection is back.
    outbox?.add(id, body, mode.kind === 'reply' ? mode.message.id : undefined)
  })
  $('composer-cancel').addEventListener('click', () => {
    if (composing.kind === 'edit') ($('message-input') as HTMLInputElement).value = ''
    setComposing({ kind: 'new' })
  })
  $('message-input').addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && composing.kind !== 'new') $('composer-cancel').click()
  })
  $('message-list').addEventListener('click', (e) => {
    const button = (e.target as HTMLElement).closest<HTMLElement>('button[data-action]')
    if (button !== null) onMessageAction(button.dataset.action!, button.dataset.id!, button.dataset.emoji)
  })
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
      if (state.currentId === id) renderMessages(true)
      renderConversations()
    })().catch((err: unknown) => { status.textContent = errorText(err, 'Could not send the photo.') })
  })
  $('message-input').addEventListener('input', () => { if (state.currentId !== undefined && composing.kind !== 'edit') sdk.realtime.typing(state.currentId) })
  $('load-older').addEventListener('click', () => { void loadOlder() })
  document.addEventListener('visibilitychange', () => { void markRead() })
  window.addEventListener('online', () => { void outbox?.flush() })
  groups.wire()

  // A click on a notification while the page is open (sw.js).
  navigator.serviceWorker?.addEventListener('message', (e: MessageEvent<{ type?: string, conversationId?: string }>) => {
    const id = e.data?.conversationId
    if (e.data?.type === 'open-conversation' && id !== undefined && state.conversations.has(id)) void openConversation(id)
  })
  sdk.on('unauthenticated', () => leaveChat(SIGNED_OUT))
  onSavedSessionChange(onSavedSession)
  sdk.realtime.on('event', (e) => {
    saveSyncSoon()
    void onEvent(e)
  })
  // After each (re)connect the SDK has caught up; send what waited. Through the cursor it also brought each changed
  // conversation (counts, order: 'conversation', 'left'); through the list, refresh counts, order and presence here.
  sdk.realtime.on('synced', ({ via }) => {
    saveSync()
    void outbox?.flush()
    if (via === 'conversations' || !listed) void loadConversations().catch(() => {})
    else void loadPresence().catch(() => {})
  })
  sdk.realtime.on('conversation', onConversation)
  sdk.realtime.on('left', onLeft)
  sdk.realtime.on('cursor', saveSync)
  window.addEventListener('pagehide', saveSync)
  sdk.realtime.on('typing', (t) => onTyping(t.conversationId, t.data.userId))
  sdk.realtime.on('read', (r) => {
    state.applyRead(r.conversationId, r.data.userId, r.data.seq)
    if (r.conversationId === state.currentId) renderMessages(false)
  })
  sdk.realtime.on('presence', (p) => {
    state.online.set(p.userId, p.online)
    renderConversations()
    renderHeader()
  })
  sdk.realtime.on('state', (s) => {
    connection = s
    $('connection').className = `status${s === 'live' ? ' live' : ''}`
    $('connection').title = s
    document.body.dataset.connection = s
    renderBanner()
  })
}

wire()
if (sdk.session === null) show($('login'), true)
// Offline at load: the chat (and the outbox) stays, and fills in when the connection is back; a refused session shows the login.
else void enterChat().catch((err: unknown) => { if (!(err instanceof ApiError && err.transient)) leaveChat() })
