// Messages written but not yet acknowledged by the server. Each keeps the
// clientMessageId it was first sent with, so sending it again (after a lost
// answer, a dropped connection, a reload or a server restart) stores it once.
// Kept in localStorage per user, so a reload while offline loses nothing.
import { ApiError, newClientMessageId, type Message } from '../client/index.js'

export interface Pending {
  conversationId: string
  clientMessageId: string
  body: string
  replyToId?: string
  createdAt: string
  /** waiting: for the connection; failed: refused (error says why), sent again only when asked. */
  state: 'waiting' | 'failed'
  error?: string
}

export type Send = (p: Pending) => Promise<Message>

export function createOutbox (storageKey: string, send: Send, onChange: () => void, describe: (err: unknown) => string) {
  let items: Pending[] = load()
  let flushing = false
  /** Removed at logout: a send still in flight then neither saves nor shows anything. */
  let closed = false

  function load (): Pending[] {
    try {
      const parsed = JSON.parse(localStorage.getItem(storageKey) ?? '[]') as Pending[]
      return Array.isArray(parsed) ? parsed : []
    } catch {
      return []
    }
  }
  function save (): void {
    if (closed) return
    if (items.length === 0) localStorage.removeItem(storageKey)
    else localStorage.setItem(storageKey, JSON.stringify(items))
    onChange()
  }
  const drop = (clientMessageId: string) => { items = items.filter((p) => p.clientMessageId !== clientMessageId) }

  const outbox = {
    get size () { return items.filter((p) => p.state === 'waiting').length },
    of: (conversationId: string) => items.filter((p) => p.conversationId === conversationId),

    /** Queues a message and tries to send it (and anything queued before it). */
    add (conversationId: string, body: string, replyToId?: string): void {
      items.push({ conversationId, clientMessageId: newClientMessageId(), body, ...(replyToId === undefined ? {} : { replyToId }), createdAt: new Date().toISOString(), state: 'waiting' })
      save()
      void outbox.flush()
    },

    /** The server has the message (an answer, or its event from another path): no longer pending. */
    confirmed (clientMessageId: string | null): void {
      if (clientMessageId === null || !items.some((p) => p.clientMessageId === clientMessageId)) return
      drop(clientMessageId)
      save()
    },

    retry (clientMessageId: string): void {
      const p = items.find((x) => x.clientMessageId === clientMessageId)
      if (p === undefined) return
      p.state = 'waiting'
      delete p.error
      save()
      void outbox.flush()
    },

    discard (clientMessageId: string): void {
      drop(clientMessageId)
      save()
    },

    /** Drops every message and the saved copy, for good (the user logged out or was signed out). */
    remove (): void {
      closed = true
      items = []
      localStorage.removeItem(storageKey)
    },

    /**
     * Sends the waiting messages one at a time, oldest first; stops at the
     * first that gets no answer (offline: the next connection calls flush again).
     */
    async flush (): Promise<void> {
      if (flushing || closed) return
      flushing = true
      try {
        for (;;) {
          const next = items.find((p) => p.state === 'waiting')
          if (next === undefined || closed) return
          try {
            await send(next)
            drop(next.clientMessageId)
          } catch (err) {
            if (err instanceof ApiError && err.transient) return
            next.state = 'failed'
            next.error = describe(err)
          } finally {
            save()
          }
        }
      } finally {
        flushing = false
      }
    }
  }
  return outbox
}

export type Outbox = ReturnType<typeof createOutbox>
