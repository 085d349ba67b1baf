// HTTP for the SDK: JSON over the platform's fetch, the session's tokens, and
// refresh on 401. One refresh at a time (single flight): a refresh token is
// single-use, and presenting a rotated one would revoke the whole session.
// Where several clients share one saved session (tabs of a browser), each
// reads the newest saved one before refreshing, under a lock they share.
import { ApiError } from './errors.js'
import type { AuthResult, User } from './types.js'

/** The part of fetch the SDK uses; the global fetch of browsers, React Native and Node 20+ fits. */
export type FetchLike = (url: string, init: {
  method: string
  headers: Record<string, string>
  body?: string
  signal?: AbortSignal
}) => Promise<{ status: number, headers: { get (name: string): string | null }, text (): Promise<string> }>

export interface Session {
  user: User
  accessToken: string
  refreshToken: string
  /** Epoch ms when the access token expires (local clock). */
  expiresAt: number
}

export interface TransportOptions {
  baseUrl: string
  fetch?: FetchLike
  /** A saved session to start from (see onSession). */
  session?: Session | null
  /**
   * Called whenever the session changes (login, refresh, logout, revocation): persist it here.
   * `adopted`: the session came from loadSession or adoptSession (it is saved already).
   */
  onSession?: (session: Session | null, adopted: boolean) => void
  /** The newest saved session (shared with other clients, e.g. other tabs), read before a refresh. */
  loadSession?: () => Session | null
  /** Runs a refresh alone among the clients that share the saved session (e.g. navigator.locks in browsers). */
  refreshLock?: <T>(fn: () => Promise<T>) => Promise<T>
  /** Called when the session is gone for good (refresh refused): the user must log in again. */
  onUnauthenticated?: () => void
  /** Per-request timeout (ms). */
  timeoutMs?: number
}

export interface RequestOptions {
  body?: unknown
  query?: Record<string, string | number | boolean | undefined | null>
  /** Send the access token (default true). */
  auth?: boolean
  /** This request's timeout (ms), instead of the client's `timeoutMs`. */
  timeoutMs?: number
}

/** Refresh this long before the access token expires. */
const EXPIRY_MARGIN_MS = 15_000

export class Transport {
  readonly baseUrl: string
  private readonly fetchImpl: FetchLike
  private current: Session | null
  private refreshing: Promise<Session> | null = null

  constructor (private readonly options: TransportOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
    const f = options.fetch ?? (globalThis as { fetch?: FetchLike }).fetch
    if (f === undefined) throw new Error('No fetch available: pass options.fetch')
    // Browsers refuse fetch called with another `this`.
    this.fetchImpl = options.fetch ?? ((url, init) => f.call(globalThis, url, init))
    this.current = options.session ?? null
  }

  get session (): Session | null {
    return this.current
  }

  setSession (session: Session | null): void {
    this.current = session
    this.options.onSession?.(session, false)
  }

  /** Takes a session saved elsewhere (another client refreshed or logged in): used from now on, not saved again. */
  adoptSession (session: Session | null): void {
    this.current = session
    this.options.onSession?.(session, true)
  }

  /** Stores the answer of register, login or refresh. */
  accept (result: AuthResult): Session {
    const session = {
      user: result.user,
      accessToken: result.accessToken,
      refreshToken: result.refreshToken,
      expiresAt: Date.now() + result.expiresIn * 1000
    }
    this.setSession(session)
    return session
  }

  /** A usable access token, refreshed first when it is about to expire. */
  async accessToken (): Promise<string> {
    const session = this.current
    if (session === null) throw new ApiError(401, 'UNAUTHORIZED', 'Not logged in')
    if (session.expiresAt - Date.now() > EXPIRY_MARGIN_MS) return session.accessToken
    return (await this.refresh()).accessToken
  }

  /**
   * New tokens: those another client saved meanwhile if they are still good,
   * else an exchange of the refresh token; concurrent callers share one request.
   */
  refresh (): Promise<Session> {
    const lock = this.options.refreshLock
    this.refreshing ??= (lock === undefined ? this.doRefresh() : lock(() => this.doRefresh())).finally(() => { this.refreshing = null })
    return this.refreshing
  }

  /**
   * The saved session when another client has replaced the one held here: the
   * same user's, with another refresh token, and not older (a refresh there).
   */
  private newerSaved (held: Session): Session | undefined {
    let saved: Session | null
    try {
      saved = this.options.loadSession?.() ?? null
    } catch {
      return undefined
    }
    if (saved === null || saved.user?.id !== held.user.id || saved.refreshToken === held.refreshToken) return undefined
    return saved.expiresAt >= held.expiresAt ? saved : undefined
  }

  private async doRefresh (): Promise<Session> {
    const held = this.current
    if (held === null) throw new ApiError(401, 'UNAUTHORIZED', 'Not logged in')
    // Another client (tab) refreshed: its refresh token is the live one, and
    // presenting the one held here would be taken for a stolen token's reuse.
    const saved = this.newerSaved(held)
    if (saved !== undefined) {
      this.adoptSession(saved)
      if (saved.expiresAt - Date.now() > EXPIRY_MARGIN_MS) return saved
    }
    const session = saved ?? held
    try {
      const result = await this.send<AuthResult>('POST', '/v1/auth/refresh', { body: { refreshToken: session.refreshToken } }, undefined)
      return this.accept(result)
    } catch (err) {
      // Refused (expired, logged out, revoked): only a new login helps, unless
      // another client saved new tokens meanwhile. A network failure keeps the
      // session for the next try.
      if (err instanceof ApiError && err.status === 401 && this.current === session) {
        const newer = this.newerSaved(session)
        if (newer !== undefined) {
          this.adoptSession(newer)
          return newer
        }
        this.setSession(null)
        this.options.onUnauthenticated?.()
      }
      throw err
    }
  }

  async request<T> (method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    if (opts.auth === false) return this.send<T>(method, path, opts, undefined)
    const token = await this.accessToken()
    try {
      return await this.send<T>(method, path, opts, token)
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err
      // Another call may have refreshed meanwhile; otherwise refresh once.
      const now = this.current
      if (now === null) throw err
      const fresh = now.accessToken !== token ? now.accessToken : (await this.refresh()).accessToken
      return this.send<T>(method, path, opts, fresh)
    }
  }

  private async send<T> (method: string, path: string, opts: RequestOptions, token: string | undefined): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    let body: string | undefined
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body)
      headers['content-type'] = 'application/json'
    }
    const controller = typeof AbortController === 'function' ? new AbortController() : undefined
    const timer = controller === undefined ? undefined : setTimeout(() => controller.abort(), opts.timeoutMs ?? this.options.timeoutMs ?? 15_000)
    let res
    let text: string
    try {
      res = await this.fetchImpl(this.baseUrl + path + queryString(opts.query), {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
        ...(controller === undefined ? {} : { signal: controller.signal })
      })
      text = await res.text()
    } catch (err) {
      const timedOut = controller?.signal.aborted === true
      throw new ApiError(0, timedOut ? 'TIMEOUT' : 'NETWORK_ERROR', timedOut ? `${method} ${path} timed out` : `${method} ${path} failed: ${String((err as Error)?.message ?? err)}`)
    } finally {
      if (timer !== undefined) clearTimeout(timer)
    }
    let parsed: unknown
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      parsed = undefined
    }
    if (res.status >= 400) {
      const retryAfter = Number(res.headers.get('retry-after'))
      throw ApiError.fromBody(res.status, parsed as Record<string, string> | undefined, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined)
    }
    return parsed as T
  }
}

function queryString (query: RequestOptions['query']): string {
  if (query === undefined) return ''
  const parts: string[] = []
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
  }
  return parts.length === 0 ? '' : `?${parts.join('&')}`
}
