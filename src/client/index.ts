// Switchboard client SDK: typed REST (API.md) with automatic token refresh,
// and a realtime connection that delivers every conversation event exactly
// once, in order, across reconnects. Runs in browsers, React Native and
// Node 20+ (pass the `ws` package as WebSocket where there is no global one).
import { createApi, type Api } from './api.js'
import { Emitter } from './emitter.js'
import { RealtimeConnection, type RealtimeOptions } from './realtime.js'
import { Transport, type FetchLike, type Session } from './transport.js'

export interface ClientOptions extends RealtimeOptions {
  /** The service's origin, e.g. https://chat.example.com */
  baseUrl: string
  fetch?: FetchLike
  /** A saved session to resume. */
  session?: Session | null
  /**
   * Called on every change of the session made here (save it to resume later; null: logged out).
   * Not called for a session taken from loadSession or adoptSession: that one is saved already.
   */
  onSession?: (session: Session | null) => void
  /**
   * The newest saved session, where several clients share one (tabs of a browser, with localStorage).
   * Read before each refresh: a session of the same user saved by another client that refreshed is used
   * instead (its access token as is if it is not about to expire), rather than presenting the refresh
   * token held here, which that refresh rotated (the server would take it for a reuse and end the session).
   */
  loadSession?: () => Session | null
  /**
   * Runs a refresh alone among the clients sharing the saved session, e.g.
   * `(fn) => navigator.locks.request('my-app.refresh', fn)`; the saved session is read inside it.
   */
  refreshLock?: <T>(fn: () => Promise<T>) => Promise<T>
  /** Per-request timeout (ms), default 15000. */
  timeoutMs?: number
}

export interface ClientEvents {
  /** The session is gone (refresh refused, logged out elsewhere): show the login screen. */
  unauthenticated: []
  session: [Session | null]
  error: [unknown]
}

export class SwitchboardClient extends Emitter<ClientEvents> {
  readonly auth: Api['auth']
  readonly users: Api['users']
  /** The caller's own account: password, sessions, profile, email, export, deletion. */
  readonly account: Api['account']
  /** What is yours across conversations: me.unread() for the app badge, me.threads() for the threads you follow. */
  readonly me: Api['me']
  readonly conversations: Api['conversations']
  readonly messages: Api['messages']
  readonly safety: Api['safety']
  readonly moderation: Api['moderation']
  readonly admin: Api['admin']
  /** Notification preferences: your level, and each conversation's level and mute. */
  readonly notifications: Api['notifications']
  readonly devices: Api['devices']
  /** Message search (README "Search, channels and invitations"). */
  readonly search: Api['search']
  /** Public channels: the directory and joining. */
  readonly channels: Api['channels']
  /** Invite links of groups. */
  readonly invites: Api['invites']
  /** Your pending invitations to groups (GROUP_ADDS=invite). */
  readonly invitations: Api['invitations']
  /** Files: upload with progress, signed URLs of attachments (README "Attachments"). */
  readonly uploads: Api['uploads']
  /** GET /v1/sync: what changed for you since a cursor (realtime uses it to catch up after a reconnect). */
  readonly sync: Api['sync']
  private readonly transport: Transport
  private realtimeConnection: RealtimeConnection | undefined
  private userId: string | undefined

  constructor (private readonly options: ClientOptions) {
    super()
    this.transport = new Transport({
      baseUrl: options.baseUrl,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.loadSession === undefined ? {} : { loadSession: options.loadSession }),
      ...(options.refreshLock === undefined ? {} : { refreshLock: options.refreshLock }),
      session: options.session ?? null,
      onSession: (session, adopted) => {
        // Positions belong to a user: another login starts the stream afresh.
        if (session?.user.id !== this.userId) this.realtimeConnection?.reset()
        this.userId = session?.user.id
        if (!adopted) options.onSession?.(session)
        this.emit('session', session)
      },
      onUnauthenticated: () => this.emit('unauthenticated')
    })
    this.userId = options.session?.user.id
    const api = createApi(this.transport)
    this.auth = api.auth
    this.users = api.users
    this.account = api.account
    this.me = api.me
    this.conversations = api.conversations
    this.messages = api.messages
    this.me = api.me
    this.safety = api.safety
    this.moderation = api.moderation
    this.admin = api.admin
    this.notifications = api.notifications
    this.devices = api.devices
    this.search = api.search
    this.channels = api.channels
    this.invites = api.invites
    this.invitations = api.invitations
    this.uploads = api.uploads
    this.sync = api.sync
  }

  get session (): Session | null {
    return this.transport.session
  }

  /**
   * Uses a session saved elsewhere from now on (another tab refreshed, logged in, or logged out: null),
   * without reporting it to onSession. Another user's session starts the realtime stream afresh.
   */
  adoptSession (session: Session | null): void {
    this.transport.adoptSession(session)
  }

  /** The push channel (created on first use; call connect() on it). */
  get realtime (): RealtimeConnection {
    this.realtimeConnection ??= new RealtimeConnection(this.transport, {
      auth: this.auth, users: this.users, account: this.account, conversations: this.conversations, messages: this.messages, me: this.me,
      safety: this.safety, moderation: this.moderation, admin: this.admin, notifications: this.notifications, devices: this.devices, search: this.search, channels: this.channels, invites: this.invites, invitations: this.invitations, sync: this.sync, uploads: this.uploads
    }, this.options)
    return this.realtimeConnection
  }

  /** Closes the realtime connection and ends the session. */
  async logout (): Promise<void> {
    this.realtimeConnection?.close()
    await this.auth.logout()
  }
}

export function createClient (options: ClientOptions): SwitchboardClient {
  return new SwitchboardClient(options)
}

export { ApiError, isApiError } from './errors.js'
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js'
export { SeqTracker, type PushOutcome, type Sequenced } from './tracker.js'
export { hideBlocked, mentionsMe, newClientMessageId, type Api } from './api.js'
export { ThreadTracker } from './threads.js'
export { RealtimeConnection, type ConnectionState, type RealtimeEvents, type RealtimeOptions, type SyncedInfo, type WebSocketConstructor, type WebSocketLike } from './realtime.js'
export type { FetchLike, Session } from './transport.js'
export type { UploadData, UploadOptions, UploadProgress } from './uploads.js'
export type * from './types.js'
