// The web chat page: log in or register, list conversations, open one, page
// back through history, send, and see messages, typing and presence live.
// Everything goes through the client SDK (src/client).
import { ApiError, createClient, type Attachment, type ChatEvent, type Conversation, type Message, type Session } from '../client/index.js'
import { $, h, show, time } from './dom.js'
import { enablePush } from './push.js'
import { createState } from './state.js'

const STORAGE_KEY = 'switchboard.session'
const TYPING_SHOWN_MS = 4000

function savedSession (): Session | null {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') as Session | null
  } catch {
    return null
  }
}

const sdk = createClient({
  baseUrl: location.origin,
  session: savedSession(),
  onSession: (s) => {
    if (s === null) sessionStorage.removeItem(STORAGE_KEY)
    else sessionStorage.setItem(STORAGE_KEY, JSON.stringify(s))
  }
})
const state = createState()
let typingTimer: ReturnType<typeof setTimeout> | undefined

const errorText = (err: unknown) => err instanceof ApiError ? err.message : 'Something went wrong; try again'
const me = () => sdk.session?.user

/** Title of a conversation as this user sees it: a group's title, or the other person's name. */
function titleOf (c: Conversation): string {
  if (c.type === 'group') return c.title ?? 'Group'
  const other = c.members.find((m) => m.user.id !== me()?.id)
  return other?.user.displayName ?? 'Just you'
}

const partnerOf = (c: Conversation) => c.type === 'direct' ? c.members.find((m) => m.user.id !== me()?.id)?.user.id : undefined

function renderConversations (): void {
  const list = $('conversations')
  list.replaceChildren(...state.sortedConversations().map((c) => {
    const partner = partnerOf(c)
    const last = c.lastMessage
    const item = h('li', { class: c.id === state.currentId ? 'active' : undefined, 'data-id': c.id },
      h('span', { class: `dot${partner !== undefined && state.online.get(partner) === true ? ' online' : ''}` }),
      h('span', { class: 'name' }, titleOf(c)),
      c.unreadCount > 0 && c.id !== state.currentId ? h('span', { class: 'badge' }, String(c.unreadCount)) : h('span'),
      h('span', { class: 'last' }, last === null ? 'No messages yet' : last.deletedAt !== null ? 'Message deleted' : last.body !== '' ? last.body : last.attachments.length > 0 ? 'Photo' : ''))
    item.addEventListener('click', () => { void openConversation(c.id) })
    return item
  }))
}

/** Signed URLs of attachments, fetched once per page (they live for minutes; a reload fetches new ones). */
const signedUrls = new Map<string, Promise<{ url: string, thumbnailUrl: string | null }>>()
const urlsOf = (id: string) => {
  let urls = signedUrls.get(id)
  if (urls === undefined) {
    urls = sdk.uploads.urls(id)
    urls.catch(() => signedUrls.delete(id))
    signedUrls.set(id, urls)
  }
  return urls
}

/** An attachment: a thumbnail for images (sized before it loads), a download link for anything else. */
function attachmentItem (a: Attachment): HTMLElement {
  if (a.kind === 'image' && a.thumbnailUrl !== null) {
    const img = h('img', { class: 'thumb', alt: a.filename, 'data-attachment': a.id }) as HTMLImageElement
    if (a.width !== null && a.height !== null) img.style.aspectRatio = `${a.width} / ${a.height}`
    void urlsOf(a.id).then((u) => { if (u.thumbnailUrl !== null) img.src = u.thumbnailUrl }).catch(() => {})
    const link = h('a', { class: 'attachment', target: '_blank', rel: 'noopener' }, img)
    void urlsOf(a.id).then((u) => link.setAttribute('href', u.url)).catch(() => {})
    return link
  }
  const link = h('a', { class: 'attachment file', target: '_blank', rel: 'noopener' }, `${a.filename} (${Math.ceil(a.size / 1024)} KB)`)
  void urlsOf(a.id).then((u) => link.setAttribute('href', u.url)).catch(() => {})
  return link
}

function messageItem (m: Message): HTMLElement {
  const conversation = state.conversations.get(m.conversationId)
  const sender = conversation?.members.find((x) => x.user.id === m.senderId)?.user.displayName ?? 'Someone'
  const classes = ['message', m.senderId === me()?.id ? 'mine' : '', m.deletedAt !== null ? 'deleted' : ''].filter(Boolean).join(' ')
  return h('li', { class: classes, 'data-seq': String(m.seq), 'data-id': m.id },
    h('span', { class: 'meta' }, `${sender} · ${time(m.createdAt)}${m.editedAt !== null ? ' · edited' : ''}`),
    m.deletedAt === null && m.attachments.length > 0 ? h('span', { class: 'attachments' }, ...m.attachments.map(attachmentItem)) : null,
    m.deletedAt !== null ? h('span', { class: 'body' }, 'Message deleted') : m.body === '' ? null : h('span', { class: 'body' }, m.body))
}

function renderMessages (stickToBottom: boolean): void {
  const box = $('messages')
  const fromBottom = box.scrollHeight - box.scrollTop
  $('message-list').replaceChildren(...state.currentMessages().map(messageItem))
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
}

/**
 * Loads every member of a conversation whose list entry shows only the first
 * few (a big group), so that senders and typists have names.
 */
async function loadAllMembers (id: string): Promise<void> {
  const c = state.conversations.get(id)
  if (c === undefined || c.members.length >= c.memberCount) return
  const members = await sdk.conversations.allMembers(id)
  const now = state.conversations.get(id)
  if (now === undefined) return
  now.members = members
  now.memberCount = members.length
  if (state.currentId === id) renderMessages(false)
}

async function openConversation (id: string): Promise<void> {
  state.open(id)
  $('typing').textContent = ''
  renderHeader()
  renderConversations()
  renderMessages(true)
  const [page] = await Promise.all([sdk.messages.history(id, { limit: 30 }), loadAllMembers(id)])
  if (state.currentId !== id) return
  state.addMessages(page.messages, page.hasMore)
  renderMessages(true)
  const partner = partnerOf(state.current()!)
  if (partner !== undefined && !state.online.has(partner)) {
    state.online.set(partner, (await sdk.users.get(partner)).online)
    renderHeader()
    renderConversations()
  }
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
  let c = state.conversations.get(event.conversationId)
  if (c === undefined || event.type === 'member.added' || event.type === 'members.added' || event.type === 'member.removed' || event.type === 'conversation.updated') {
    c = await sdk.conversations.get(event.conversationId).catch(() => undefined)
    if (c === undefined) state.conversations.delete(event.conversationId)
    else state.conversations.set(c.id, c)
  }
  if (c !== undefined) c.lastSeq = Math.max(c.lastSeq, event.seq)
  // The page shows the conversation's own timeline: thread replies are not in it (README "Threads and custom message data").
  if (c !== undefined && (event.type === 'message.created' || event.type === 'message.updated' || event.type === 'message.deleted') &&
    event.data.threadRootId === null) {
    state.applyMessage(event.data, event.type === 'message.created' && event.data.senderId !== me()?.id)
    if (state.currentId === c.id) {
      renderMessages(true)
      if (event.data.senderId !== me()?.id) $('typing').textContent = ''
      await markRead()
    }
  }
  renderConversations()
  renderHeader()
}

function onTyping (conversationId: string, userId: string): void {
  if (conversationId !== state.currentId) return
  const name = state.current()?.members.find((m) => m.user.id === userId)?.user.displayName ?? 'Someone'
  $('typing').textContent = `${name} is typing…`
  clearTimeout(typingTimer)
  typingTimer = setTimeout(() => { $('typing').textContent = '' }, TYPING_SHOWN_MS)
}

async function loadConversations (): Promise<void> {
  for (const c of await sdk.conversations.listAll()) state.conversations.set(c.id, c)
  renderConversations()
  renderHeader()
  if (state.currentId !== undefined) await loadAllMembers(state.currentId)
}

async function enterChat (): Promise<void> {
  show($('login'), false)
  show($('chat'), true)
  $('me-name').textContent = me()?.displayName ?? ''
  sdk.realtime.connect()
  await loadConversations()
  // Opened from a push notification (sw.js): that conversation first.
  const fromPush = new URLSearchParams(location.search).get('conversation')
  if (fromPush !== null && state.conversations.has(fromPush)) await openConversation(fromPush)
}

function leaveChat (): void {
  sdk.realtime.close()
  state.reset()
  show($('chat'), false)
  show($('login'), true)
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
    done.then(() => { $('login-error').textContent = ''; return enterChat() })
      .catch((err: unknown) => { $('login-error').textContent = errorText(err) })
  })
  $('logout').addEventListener('click', () => { void sdk.logout().finally(leaveChat) })
  $('push-toggle').addEventListener('click', () => {
    $('push-status').textContent = 'Turning notifications on…'
    enablePush(sdk).then(({ state, text }) => {
      document.body.dataset.push = state
      $('push-status').textContent = text
    }).catch((err: unknown) => {
      document.body.dataset.push = 'failed'
      $('push-status').textContent = errorText(err)
    })
  })
  $('new-chat').addEventListener('submit', (e) => {
    e.preventDefault()
    const input = $('new-chat-username') as HTMLInputElement
    const name = input.value.trim().toLowerCase()
    void (async () => {
      const found = (await sdk.users.search(name, 5)).users.find((u) => u.username === name)
      if (found === undefined) throw new ApiError(404, 'NOT_FOUND', `No user named ${name}`)
      const c = await sdk.conversations.openDirect(found.id)
      state.conversations.set(c.id, c)
      input.value = ''
      $('new-chat-error').textContent = ''
      await openConversation(c.id)
    })().catch((err: unknown) => { $('new-chat-error').textContent = errorText(err) })
  })
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault()
    const input = $('message-input') as HTMLInputElement
    const id = state.currentId
    const body = input.value.trim()
    if (id === undefined || body === '') return
    input.value = ''
    sdk.messages.send(id, body).then((m) => {
      state.applyMessage(m, false)
      if (state.currentId === id) renderMessages(true)
      renderConversations()
    }).catch((err: unknown) => { $('typing').textContent = errorText(err) })
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
    })().catch((err: unknown) => { status.textContent = errorText(err) })
  })
  $('message-input').addEventListener('input', () => { if (state.currentId !== undefined) sdk.realtime.typing(state.currentId) })
  $('load-older').addEventListener('click', () => { void loadOlder() })
  document.addEventListener('visibilitychange', () => { void markRead() })

  // A click on a notification while the page is open (sw.js).
  navigator.serviceWorker?.addEventListener('message', (e: MessageEvent<{ type?: string, conversationId?: string }>) => {
    const id = e.data?.conversationId
    if (e.data?.type === 'open-conversation' && id !== undefined && state.conversations.has(id)) void openConversation(id)
  })
  sdk.on('unauthenticated', leaveChat)
  sdk.realtime.on('event', (e) => { void onEvent(e) })
  // After each (re)connect the SDK has replayed what was missed; refresh counts and order too.
  sdk.realtime.on('synced', () => { void loadConversations().catch(() => {}) })
  sdk.realtime.on('typing', (t) => onTyping(t.conversationId, t.data.userId))
  sdk.realtime.on('presence', (p) => {
    state.online.set(p.userId, p.online)
    renderConversations()
    renderHeader()
  })
  sdk.realtime.on('state', (s) => {
    $('connection').className = `status${s === 'live' ? ' live' : ''}`
    $('connection').title = s
    document.body.dataset.connection = s
  })
}

wire()
if (sdk.session === null) show($('login'), true)
else void enterChat().catch(leaveChat)
