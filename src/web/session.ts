// The page's saved session and what is kept beside it, per user. The session
// stays across tab closes (the SDK's refresh token, rotated on every
// refresh); logging out or a refused refresh removes it. Every tab of the
// browser shares it: a tab reads the saved one before refreshing (under a
// lock the tabs share), and follows what another tab saves (the storage event).
import type { Session } from '../client/index.js'

const STORAGE_KEY = 'switchboard.session'
const REFRESH_LOCK = 'switchboard.refresh'
/** The messages written and not yet acknowledged (src/web/outbox.ts). */
export const outboxKey = (userId: string) => `switchboard.outbox.${userId}`
/** The SDK's sync cursor and positions, saved together, so a reload or a reconnect catches up through GET /v1/sync. */
export const syncKey = (userId: string) => `switchboard.sync.${userId}`

export function savedSession (): Session | null {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null') as Session | null
  } catch {
    return null
  }
}

/** The SDK's onSession: saves a session made in this tab (login, refresh), or removes it (logout, refused). */
export function saveSession (session: Session | null): void {
  if (session === null) localStorage.removeItem(STORAGE_KEY)
  else localStorage.setItem(STORAGE_KEY, JSON.stringify(session))
}

/** Calls `changed` when another tab saves or removes the session (a tab does not hear its own writes). */
export function onSavedSessionChange (changed: () => void): void {
  window.addEventListener('storage', (e) => {
    // key null: the other tab cleared the whole storage.
    if (e.storageArea === localStorage && (e.key === STORAGE_KEY || e.key === null)) changed()
  })
}

/** One refresh at a time across the tabs (navigator.locks is missing outside secure contexts and in old browsers). */
export function refreshLock (): { refreshLock: <T>(fn: () => Promise<T>) => Promise<T> } | Record<string, never> {
  const locks = (navigator as { locks?: LockManager }).locks
  if (locks === undefined) return {}
  return { refreshLock: <T>(fn: () => Promise<T>) => locks.request(REFRESH_LOCK, fn) as Promise<T> }
}

/** The cursor and positions saved for this user (both or neither: the SDK resumes from them only together). */
export function savedSync (userId: string | undefined): { cursor?: string, positions?: Record<string, number> } {
  if (userId === undefined) return {}
  try {
    const saved = JSON.parse(localStorage.getItem(syncKey(userId)) ?? 'null') as { cursor?: unknown, positions?: unknown } | null
    if (typeof saved?.cursor === 'string' && typeof saved.positions === 'object' && saved.positions !== null) {
      const positions = Object.entries(saved.positions).filter((e): e is [string, number] => Number.isSafeInteger(e[1]) && e[1] >= 0)
      return { cursor: saved.cursor, positions: Object.fromEntries(positions) }
    }
  } catch {
    // unreadable: start without it
  }
  return {}
}
