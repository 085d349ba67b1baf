// The connection's public shapes: what it needs of a WebSocket, the events it
// emits and its options (realtime.ts).
import type { Conversation, DeliveredFrame, ChatEvent, InvitationFrame, InvitationWithdrawnFrame, PresenceFrame, ReadFrame, ReadyFrame, ThreadReadFrame, TypingFrame, UnreadTotals, UserUpdatedFrame } from './types.js'
import type { BackoffOptions } from './backoff.js'

/** What the SDK needs of a WebSocket: the browser's, React Native's and the `ws` package's all fit. */
export interface WebSocketLike {
  readonly readyState: number
  send (data: string): void
  close (code?: number, reason?: string): void
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code: number, reason: string }) => void) | null
  onerror: ((ev: unknown) => void) | null
}
/** A WebSocket class, e.g. globalThis.WebSocket or `import WebSocket from 'ws'`. */
export type WebSocketConstructor = new (url: string) => object

export type ConnectionState = 'idle' | 'connecting' | 'syncing' | 'live' | 'reconnecting' | 'closed'

/** How a catch-up was made. */
export interface SyncedInfo {
  /**
   * sync: GET /v1/sync from the cursor; the conversations that changed came
   * as `conversation` and `left` events, the badge as `unread`.
   * conversations: GET /v1/conversations and a replay per conversation that
   * moved (no cursor yet, or `sync: false`); list the conversations yourself.
   */
  via: 'sync' | 'conversations'
}

export interface RealtimeEvents {
  /** A conversation event, exactly once and in seq order per conversation. */
  event: [ChatEvent]
  presence: [PresenceFrame['data']]
  /** A contact changed their profile (display name). */
  userUpdated: [UserUpdatedFrame['data']]
  /** You were invited to a group (GROUP_ADDS=invite). */
  invitation: [InvitationFrame['data']]
  /** Your pending invitation to a group was withdrawn (by its owner or an admin, or as its inviter left, was removed, banned, demoted or deleted): drop it from your list. */
  invitationWithdrawn: [InvitationWithdrawnFrame['data']]
  typing: [TypingFrame]
  read: [ReadFrame]
  /** You read a thread on one of your devices (this one too): your position and counts after it. */
  threadRead: [ThreadReadFrame]
  /** Another member's devices received a conversation up to a seq (two ticks). */
  delivered: [DeliveredFrame]
  ready: [ReadyFrame]
  /** Caught up after a (re)connect: every conversation replayed to its lastSeq. */
  synced: [SyncedInfo]
  /**
   * Sync path: a conversation you are a member of changed while you were away
   * (joined, new events, your read position moved on another device), as it
   * is now (counts, lastMessage, lastSeq; the first members only, as in the
   * list). Fires after the `event`s of that conversation in the same sync.
   */
  conversation: [Conversation]
  /**
   * You left or were removed from a conversation, as a sync found it: after
   * its last `event`s (which end with your member.removed), once that
   * conversation's position is forgotten; nothing more comes from it. A
   * re-base while live can report one whose member.removed was pushed. The
   * per-conversation flow fires it too, for a conversation missing from the list.
   */
  left: [string]
  /** Sync path: the badge counts (as GET /v1/me/unread) after a sync that changed something. */
  unread: [UnreadTotals]
  /** The sync cursor moved (after a catch-up or a re-base): save it together with positions() to resume after a restart. */
  cursor: [string]
  state: [ConnectionState]
  /** Closed for good: the session is gone; log in again, then connect(). */
  unauthenticated: []
  /** Error frames (ErrorFrame) and failures the connection recovers from. */
  error: [unknown]
}

export interface RealtimeOptions {
  WebSocket?: WebSocketConstructor
  backoff?: Partial<BackoffOptions>
  /**
   * Saved positions (conversationId -> last seq the app has). Without one, a
   * conversation known at the first connect starts at its current lastSeq
   * (load its history over REST); one that appears later is replayed from its start.
   */
  positions?: Record<string, number>
  /** Events per replay request (1-100). */
  replayPageSize?: number
  /**
   * Catch up after a reconnect through GET /v1/sync from a cursor (default
   * true). false: always GET /v1/conversations and a replay per conversation
   * that moved.
   */
  sync?: boolean
  /**
   * A saved cursor (`cursor` after a catch-up), to resume from with the
   * `positions` saved at the same time; without positions it is not used
   * (the first connect lists the conversations, then takes the ready frame's).
   * Both belong to the user of the saved `session` passed with them: a login
   * (or another user's session) starts afresh.
   */
  cursor?: string
  /** Events (and conversations) per GET /v1/sync page (1-500, default 200). */
  syncPageSize?: number
}
