// The web chat page: log in or register (and stay signed in), list
// conversations with presence, open one, page back through history, send
// (through an outbox that survives going offline), reply, edit, delete, make
// groups and manage their members, and see messages, typing, presence and
// read receipts live; leave nothing behind at logout, and share the session
// with the other tabs (session.ts). Everything goes through the client SDK (src/client).
// This file builds the parts and wires them to each other; each part is a module of its own.
import { createClient } from '../client/index.js'
import { createChat } from './chat.js'
import { createComposer } from './composer.js'
import { createConversationList } from './conversation-list.js'
import { createConversationView } from './conversation.js'
import { createGroupDialogs } from './group-dialogs.js'
import { createLive } from './live.js'
import { createLogin } from './login.js'
import { createMessageActions } from './message-actions.js'
import { wireNotificationClicks, wirePushToggle } from './notifications.js'
import { createSearch } from './search.js'
import { refreshLock, savedSession, savedSync, saveSession } from './session.js'

const initialSession = savedSession()
const sdk = createClient({
  baseUrl: location.origin,
  session: initialSession,
  ...savedSync(initialSession?.user.id),
  onSession: saveSession,
  loadSession: savedSession,
  ...refreshLock()
})
const chat = createChat(sdk)

// The parts call each other through these callbacks (read when called, so the order of creation is free).
const conversation = createConversationView(chat, {
  renderConversations: () => list.render(),
  resetComposer: () => composer.setComposing({ kind: 'new' })
})
const list = createConversationList(chat, {
  open: conversation.open,
  renderHeader: conversation.renderHeader,
  loadAllMembers: conversation.loadAllMembers,
  userByName: (raw) => groups.userByName(raw)
})
const composer = createComposer(chat, { renderMessages: conversation.renderMessages, renderConversations: list.render })
const actions = createMessageActions(chat, {
  setComposing: composer.setComposing,
  renderMessages: conversation.renderMessages,
  renderConversations: list.render
})
const search = createSearch(chat, conversation.open)
const groups = createGroupDialogs({
  sdk,
  state: chat.state,
  me: chat.me,
  titleOf: chat.titleOf,
  openConversation: conversation.open,
  loadAllMembers: conversation.loadAllMembers,
  afterChange: conversation.renderHeader,
  afterLeave: () => { conversation.close(); list.render() },
  generation: () => chat.generation
})
const live = createLive(chat, { list, conversation, renderMembers: groups.renderMembers })
const login = createLogin(chat, { live, list, conversation, resetComposer: composer.reset })

login.wireForm()
conversation.wireBack()
search.wire()
wirePushToggle(chat)
list.wire()
composer.wireSend()
actions.wire()
composer.wireAttach()
conversation.wire()
live.wireOnline()
groups.wire()
wireNotificationClicks(chat, conversation.open)
login.wireSession()
live.wire()

login.start()
