// Web Push on the web page: registers the service worker (sw.js), asks for
// permission, subscribes with the server's VAPID key (GET /v1/push/config)
// and registers the subscription as this browser's device. The device id is
// kept per browser, so subscribing again updates the same device.
import type { SwitchboardClient } from '../client/index.js'

const DEVICE_KEY = 'switchboard.device'

export type PushState = 'unsupported' | 'off-on-server' | 'denied' | 'subscribed' | 'failed'

function deviceId (): string {
  let id = localStorage.getItem(DEVICE_KEY)
  if (id === null) {
    id = `web-${Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('')}`
    localStorage.setItem(DEVICE_KEY, id)
  }
  return id
}

/** The VAPID key as PushManager.subscribe takes it. */
function keyBytes (base64url: string): Uint8Array<ArrayBuffer> {
  const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(base64url.length / 4) * 4, '=')
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))
}

/** Subscribes this browser to Web Push; the outcome, with a line for the user. */
export async function enablePush (sdk: SwitchboardClient): Promise<{ state: PushState, text: string }> {
  if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) {
    return { state: 'unsupported', text: 'This browser cannot receive push notifications' }
  }
  const { vapidPublicKey } = await sdk.devices.pushConfig()
  if (vapidPublicKey === null) return { state: 'off-on-server', text: 'This server sends no web notifications' }
  const registration = await navigator.serviceWorker.register('/sw.js', { scope: '/' })
  document.body.dataset.serviceWorker = 'registered'
  const permission = await Notification.requestPermission()
  if (permission !== 'granted') return { state: 'denied', text: 'Notifications are blocked for this site' }
  await navigator.serviceWorker.ready
  let subscription: PushSubscription
  try {
    subscription = await registration.pushManager.getSubscription() ??
      await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(vapidPublicKey) })
  } catch (err) {
    // Without a reachable push service (offline, or a browser build without one) subscribing fails here.
    return { state: 'failed', text: `Could not subscribe: ${(err as Error).message}` }
  }
  const json = subscription.toJSON()
  await sdk.devices.register(deviceId(), {
    platform: 'webpush',
    subscription: { endpoint: subscription.endpoint, keys: { p256dh: json.keys?.p256dh ?? '', auth: json.keys?.auth ?? '' } },
    locale: navigator.language
  })
  return { state: 'subscribed', text: 'Notifications on' }
}

/** Closes the notifications sw.js shows (with message text) and clears the app badge: at logout they were the previous user's. */
export async function closeNotifications (): Promise<void> {
  try {
    const registration = await navigator.serviceWorker?.getRegistration()
    for (const n of await registration?.getNotifications() ?? []) n.close()
    await navigator.clearAppBadge?.()
  } catch {
    // best effort: no service worker, or notifications not allowed
  }
}
