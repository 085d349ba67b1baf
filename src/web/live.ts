// The live connection: events, typing, read receipts and presence as they
// come; the catch-up after each (re)connect and the sync cursor saved for the
// next load; the connection banner; and the outbox, which sends when it can.
import type { ChatEvent, Conversation } from '../client/index.js'
import type { Chat } from './chat.js'
import type { ConversationList } from './conversation-list.js'
import type { ConversationView } from './conversation.js'
import { $, show } from './dom.js'
import { createOutbox } from './outbox.js'
import { outboxKey, syncKey } from './session.js'
import { connectionText, errorText } from './texts.js'

const SYNC_SAVE_MS = 1000
const OUTBOX_RETRY_MS = 5000

export interface LiveDeps {
  list: ConversationList
  conversation: ConversationView
  /** The members dialog shows the open conversation's members again. */
  renderMembers: () => void
}

export function createLive (chat: Chat, deps: LiveDeps) {
  const { sdk, state, me, partnerOf } = chat
  const { list, conversation } = deps
  let connection = 'idle'
  let syncSaveTimer: ReturnType<typeof setTimeout> | undefined
  let outboxTimer: ReturnType<typeof setInterval> | undefined

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

  /** At logout: no cursor is saved for the user who left. */
  function cancelSave (): void {
    clearTimeout(syncSaveTimer)
    syncSaveTimer = undefined
  }

  function renderBanner (): void {
    const text = connectionText(connection, chat.outbox?.size ?? 0)
    $('banner').textContent = text ?? ''
    show($('banner'), text !== undefined)
  }

  async function onEvent (event: ChatEvent): Promise<void> {
    if (event.type === 'member.removed' && (event.data as { userId?: string }).userId === me()?.id) {
      // Removed, or left on another device: the conversation is gone from here (fetching it would be refused).
      state.conversations.delete(event.conversationId)
      if (state.currentId === event.conversationId) conversation.close()
      list.render()
      return
    }
    let c = state.conversations.get(event.conversationId)
    if (c === undefined || event.type === 'member.added' || event.type === 'members.added' || event.type === 'member.removed' || event.type === 'conversation.updated') {
      const since = chat.generation
      c = await sdk.conversations.get(event.conversationId).catch(() => undefined)
      if (since !== chat.generation) return
      if (c === undefined) {
        state.conversations.delete(event.conversationId)
        if (state.currentId === event.conversationId) conversation.close()
      } else {
        state.conversations.set(c.id, c)
        if (partnerOf(c) !== undefined && !state.online.has(partnerOf(c)!)) void list.loadPresence().catch(() => {})
      }
    }
    // Newer than the conversation as last read from the server (a list or a catch-up counted the others).
    const fresh = c !== undefined && event.seq > c.lastSeq
    if (c !== undefined) c.lastSeq = Math.max(c.lastSeq, event.seq)
    // The page shows the conversation's own timeline: thread replies are not in it (README "Threads and custom message data").
    if (c !== undefined && (event.type === 'message.created' || event.type === 'message.updated' || event.type === 'message.deleted') &&
      event.data.threadRootId === null) {
      const mine = event.data.senderId === me()?.id
      if (mine && event.type === 'message.created') chat.outbox?.confirmed(event.data.clientMessageId)
      state.applyMessage(event.data, event.type === 'message.created' && !mine && fresh)
      if (state.currentId === c.id) {
        conversation.renderMessages(true)
        if (!mine) $('typing').textContent = ''
        await conversation.markRead()
      }
    }
    if (event.type === 'reaction.added' || event.type === 'reaction.removed') {
      const r = event.data as { messageId: string, userId: string, emoji: string }
      state.applyReaction(r.messageId, r.emoji, event.type === 'reaction.added', r.userId === me()?.id)
      if (state.currentId === event.conversationId) conversation.renderMessages(false)
    }
    list.render()
    conversation.renderHeader()
    if (!$('members-dialog').hidden && state.currentId === event.conversationId) deps.renderMembers()
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
      if (partial) void conversation.loadAllMembers(c.id, true).catch(() => {})
      if (c.unreadCount > 0) void conversation.markRead()
    }
    const partner = partnerOf(c)
    if (partner !== undefined && !state.online.has(partner)) void list.loadPresence().catch(() => {})
    list.render()
    conversation.renderHeader()
  }

  /** Left or removed while away. */
  function onLeft (id: string): void {
    state.conversations.delete(id)
    if (state.currentId === id) conversation.close()
    list.render()
  }

  function startOutbox (): void {
    const user = me()
    if (user === undefined) return
    chat.outbox = createOutbox(outboxKey(user.id), async (p) => {
      const m = await sdk.messages.send(p.conversationId, { body: p.body, clientMessageId: p.clientMessageId, ...(p.replyToId === undefined ? {} : { replyToId: p.replyToId }) })
      state.applyMessage(m, false)
      return m
    }, () => {
      renderBanner()
      if (state.currentId !== undefined) conversation.renderMessages(true)
      list.render()
    }, (err) => errorText(err, 'The message was refused.'))
    clearInterval(outboxTimer)
    // Transient refusals (503 while the database is back, 429) are tried again without waiting for a reconnect.
    outboxTimer = setInterval(() => { if (chat.outbox !== undefined && chat.outbox.size > 0 && connection === 'live') void chat.outbox.flush() }, OUTBOX_RETRY_MS)
    void chat.outbox.flush()
  }

  /** At logout: what waited is dropped for good, saved copy included. */
  function stopOutbox (): void {
    clearInterval(outboxTimer)
    chat.outbox?.remove()
    chat.outbox = undefined
  }

  function wireOnline (): void {
    window.addEventListener('online', () => { void chat.outbox?.flush() })
  }

  function wire (): void {
    sdk.realtime.on('event', (e) => {
      saveSyncSoon()
      void onEvent(e)
    })
    // After each (re)connect the SDK has caught up; send what waited. Through the cursor it also brought each changed
    // conversation (counts, order: 'conversation', 'left'); through the list, refresh counts, order and presence here.
    sdk.realtime.on('synced', ({ via }) => {
      saveSync()
      void chat.outbox?.flush()
      if (via === 'conversations' || !chat.listed) void list.load().catch(() => {})
      else void list.loadPresence().catch(() => {})
    })
    sdk.realtime.on('conversation', onConversation)
    sdk.realtime.on('left', onLeft)
    sdk.realtime.on('cursor', saveSync)
    window.addEventListener('pagehide', saveSync)
    sdk.realtime.on('typing', (t) => conversation.onTyping(t.conversationId, t.data.userId))
    sdk.realtime.on('read', (r) => {
      state.applyRead(r.conversationId, r.data.userId, r.data.seq)
      if (r.conversationId === state.currentId) conversation.renderMessages(false)
    })
    sdk.realtime.on('presence', (p) => {
      state.online.set(p.userId, p.online)
      list.render()
      conversation.renderHeader()
    })
    sdk.realtime.on('state', (s) => {
      connection = s
      $('connection').className = `status${s === 'live' ? ' live' : ''}`
      $('connection').title = s
      document.body.dataset.connection = s
      renderBanner()
    })
  }

  return { startOutbox, stopOutbox, cancelSave, wireOnline, wire }
}

export type Live = ReturnType<typeof createLive>
