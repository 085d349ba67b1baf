// FCM HTTP v1: an OAuth access token from the service account (google-auth-
// library signs the JWT grant and caches the token until it nearly expires),
// then one POST per message to projects/<id>/messages:send.
import { gaxios, JWT } from 'google-auth-library'
import type { PushConfig } from '../../../config.js'
import { collapseId, dataFields, fit, isSilent, type Notice } from '../notice.js'
import { describe, passing, retryAfterMs, type PushProvider, type PushTarget, type SendResult } from './provider.js'

/** FCM refuses messages whose payload is over 4,000 bytes. */
export const FCM_MAX_PAYLOAD = 4000
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token'
const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging'
const INVALID = new Set(['UNREGISTERED', 'SENDER_ID_MISMATCH'])

interface FcmErrorBody { error?: { code?: number, status?: string, message?: string, details?: Array<{ '@type'?: string, errorCode?: string }> } }

/** The `message` of a send request, for a registration token. */
export function fcmMessage (token: string, n: Notice, ttlSeconds: number): Record<string, unknown> {
  const silent = isSilent(n)
  const tag = n.conversationId === undefined ? undefined : collapseId(n.conversationId)
  const expiration = ttlSeconds === 0 ? 0 : Math.floor(Date.now() / 1000) + ttlSeconds
  return {
    token,
    ...(silent ? {} : { notification: { title: n.title, body: n.body } }),
    data: dataFields(n),
    android: {
      priority: silent ? 'normal' : 'high',
      ttl: `${ttlSeconds}s`,
      ...(tag === undefined ? {} : { collapse_key: silent ? `read-${tag}` : tag }),
      ...(silent ? {} : { notification: { ...(tag === undefined ? {} : { tag }), notification_count: n.badge } })
    },
    apns: {
      headers: {
        'apns-push-type': 'alert',
        'apns-priority': silent ? '5' : '10',
        'apns-expiration': String(expiration),
        ...(tag === undefined ? {} : { 'apns-collapse-id': silent ? `read-${tag}` : tag })
      },
      payload: { aps: silent ? { badge: n.badge } : { badge: n.badge, sound: 'default', ...(n.conversationId === undefined ? {} : { 'thread-id': n.conversationId }) } }
    },
    webpush: {
      headers: { TTL: String(ttlSeconds), Urgency: silent ? 'normal' : 'high', ...(tag === undefined ? {} : { Topic: tag }) }
    }
  }
}

export function createFcmProvider (fcm: NonNullable<PushConfig['fcm']>, opts: { timeoutMs: number, ttlSeconds: number }): PushProvider {
  const account = fcm.serviceAccount
  // The library posts the JWT grant to Google's token URL; the service
  // account's token_uri (or FCM_TOKEN_URI) takes its place.
  const transporter = new gaxios.Gaxios({ timeout: opts.timeoutMs })
  transporter.interceptors.request.add({
    resolved: async (request) => {
      if (String(request.url) === GOOGLE_TOKEN_URL && account.tokenUri !== GOOGLE_TOKEN_URL) request.url = new URL(account.tokenUri)
      return request
    }
  })
  const auth = new JWT({ email: account.clientEmail, key: account.privateKey, scopes: [SCOPE], transporter })
  const url = `${fcm.baseUrl.replace(/\/$/, '')}/v1/projects/${encodeURIComponent(account.projectId)}/messages:send`

  async function attempt (target: PushTarget, notice: Notice, renew: boolean): Promise<SendResult> {
    const body = fit(notice, FCM_MAX_PAYLOAD, (n) => JSON.stringify({ message: fcmMessage(target.token, n, opts.ttlSeconds) }))
    if (body === undefined) return { status: 'failed', reason: 'payload too large' }
    if (renew) auth.credentials = {}
    const { token } = await auth.getAccessToken()
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token ?? ''}`, 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(opts.timeoutMs)
    })
    const text = await res.text()
    if (res.ok) return { status: 'accepted' }
    let err: FcmErrorBody['error']
    try { err = (JSON.parse(text) as FcmErrorBody).error } catch { /* not JSON */ }
    const code = err?.details?.find((d) => d.errorCode !== undefined)?.errorCode ?? err?.status ?? `HTTP ${res.status}`
    const reason = err?.message === undefined ? code : `${code}: ${err.message}`
    if (INVALID.has(code) || res.status === 404) return { status: 'invalid', reason }
    if (res.status === 400 && /registration token/i.test(err?.message ?? '')) return { status: 'invalid', reason }
    if (res.status === 401 && !renew) return await attempt(target, notice, true)
    if (passing(res.status)) {
      const after = retryAfterMs(res.headers.get('retry-after'))
      return { status: 'retry', reason, ...(after === undefined ? {} : { retryAfterMs: after }) }
    }
    return { status: 'failed', reason }
  }

  return {
    platform: 'fcm',
    async send (target, notice) {
      try {
        return await attempt(target, notice, false)
      } catch (err) {
        return { status: 'retry', reason: describe(err) }
      }
    },
    async close () {}
  }
}
