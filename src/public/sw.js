// The web page's service worker: shows Switchboard's Web Push notifications
// (one per conversation: the tag replaces the previous one), keeps the app
// badge at the user's total unread, clears a conversation's notification when
// it was read elsewhere, and opens the page on a click.
/* global self, URL */
self.addEventListener('install', () => { self.skipWaiting() })
self.addEventListener('activate', (event) => { event.waitUntil(self.clients.claim()) })

async function setBadge (count) {
  if (typeof self.navigator.setAppBadge !== 'function') return
  try {
    if (count > 0) await self.navigator.setAppBadge(count)
    else await self.navigator.clearAppBadge()
  } catch { /* badges are best effort */ }
}

async function handle (push) {
  await setBadge(Number(push.badge) || 0)
  if (push.type === 'read') {
    // Read on another device: its notification goes.
    const shown = await self.registration.getNotifications(push.tag === undefined ? {} : { tag: push.tag })
    for (const n of shown) n.close()
    return
  }
  await self.registration.showNotification(push.title || 'Switchboard', {
    body: push.body || '',
    tag: push.tag,
    renotify: push.tag !== undefined,
    data: { conversationId: push.conversationId, seq: push.seq },
    icon: '/favicon.svg'
  })
}

self.addEventListener('push', (event) => {
  let push = {}
  try { push = event.data === null ? {} : event.data.json() } catch { push = { title: 'Switchboard', body: event.data.text() } }
  event.waitUntil(handle(push))
})

self.addEventListener('notificationclick', (event) => {
  event.notification.close()
  const id = event.notification.data && event.notification.data.conversationId
  const url = id ? `/?conversation=${encodeURIComponent(id)}` : '/'
  event.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: 'window', includeUncontrolled: true })
    const page = open.find((c) => new URL(c.url).origin === self.location.origin)
    if (page !== undefined) {
      await page.focus()
      page.postMessage({ type: 'open-conversation', conversationId: id })
    } else {
      await self.clients.openWindow(url)
    }
  })())
})
