// What the parts of the chat screen share: the SDK, the page state, how a
// message is drawn, how a conversation is named, and what lasts only while one
// user's chat is shown (its generation, its outbox, whether the list was loaded).
import type { Conversation, SwitchboardClient, User } from '../client/index.js'
import { createMessageView } from './message-view.js'
import type { Outbox } from './outbox.js'
import { createState } from './state.js'

export interface Chat {
  sdk: SwitchboardClient
  state: ReturnType<typeof createState>
  view: ReturnType<typeof createMessageView>
  me: () => User | undefined
  /** Title of a conversation as this user sees it: a group's title, or the other person's name. */
  titleOf: (c: Conversation) => string
  /** The other person of a direct conversation. */
  partnerOf: (c: Conversation) => string | undefined
  /** Moves when the chat is left: work begun before (a list, a fetch after an event, a new chat) then shows nothing. */
  generation: number
  outbox: Outbox | undefined
  /** Whether the conversation list was loaded since entering the chat (a catch-up through the cursor only brings what changed). */
  listed: boolean
}

export function createChat (sdk: SwitchboardClient): Chat {
  const state = createState()
  const me = () => sdk.session?.user

  function titleOf (c: Conversation): string {
    if (c.type === 'group') return c.title ?? 'Group'
    const other = c.members.find((m) => m.user.id !== me()?.id)
    return other?.user.displayName ?? 'Just you'
  }

  const partnerOf = (c: Conversation) => c.type === 'direct' ? c.members.find((m) => m.user.id !== me()?.id)?.user.id : undefined

  const view = createMessageView({
    me,
    conversation: (id) => state.conversations.get(id),
    messageById: (id) => state.messageById(id),
    urls: (id) => sdk.uploads.urls(id)
  })

  return { sdk, state, view, me, titleOf, partnerOf, generation: 0, outbox: undefined, listed: false }
}
