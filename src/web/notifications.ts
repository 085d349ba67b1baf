// Notifications on the page: the button that turns Web Push on (push.ts), and
// a click on a notification while the page is open (sw.js), which opens that
// conversation.
import type { Chat } from './chat.js'
import { $ } from './dom.js'
import { enablePush } from './push.js'
import { errorText } from './texts.js'

export function wirePushToggle (chat: Chat): void {
  $('push-toggle').addEventListener('click', () => {
    $('push-status').textContent = 'Turning notifications on…'
    enablePush(chat.sdk).then(({ state, text }) => {
      document.body.dataset.push = state
      $('push-status').textContent = text
    }).catch((err: unknown) => {
      document.body.dataset.push = 'failed'
      $('push-status').textContent = errorText(err, 'Could not turn notifications on.')
    })
  })
}

export function wireNotificationClicks (chat: Chat, open: (id: string) => Promise<void>): void {
  navigator.serviceWorker?.addEventListener('message', (e: MessageEvent<{ type?: string, conversationId?: string }>) => {
    const id = e.data?.conversationId
    if (e.data?.type === 'open-conversation' && id !== undefined && chat.state.conversations.has(id)) void open(id)
  })
}
