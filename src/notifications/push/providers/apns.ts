// APNs over HTTP/2 with token (.p8, ES256) authentication: one multiplexed
// connection, a provider token signed with jose and renewed every 50 minutes
// (APNs refuses tokens older than an hour and renewals more often than every 20).
import { connect, constants, type ClientHttp2Session } from 'node:http2'
import { importPKCS8, SignJWT, type CryptoKey } from 'jose'
import type { PushConfig } from '../../../config.js'
import { collapseId, dataFields, fit, isSilent, type Notice } from '../notice.js'
import { certificates, describe, passing, retryAfterMs, type PushProvider, type PushTarget, type SendResult } from './provider.js'

/** APNs refuses payloads over 4 KB. */
export const APNS_MAX_PAYLOAD = 4096
const TOKEN_RENEW_MS = 50 * 60_000
/** Reasons that say the token will never work again (the device is pruned). */
const INVALID = new Set(['BadDeviceToken', 'Unregistered', 'DeviceTokenNotForTopic', 'ExpiredToken'])

export function apnsPayload (n: Notice): string {
  // A badge update is an alert push with only the badge: Apple's background pushes
  // (content-available) may not set a badge, and are throttled to a few an hour.
  const aps: Record<string, unknown> = isSilent(n)
    ? { badge: n.badge }
    : { alert: { title: n.title, body: n.body }, badge: n.badge, sound: 'default', ...(n.conversationId === undefined ? {} : { 'thread-id': n.conversationId }) }
  return JSON.stringify({ aps, ...dataFields(n) })
}

export function createApnsProvider (apns: NonNullable<PushConfig['apns']>, opts: { ca: string | undefined, timeoutMs: number, ttlSeconds: number }): PushProvider {
  let key: Promise<CryptoKey> | undefined
  let jwt: { token: string, at: number } | undefined
  let session: ClientHttp2Session | undefined

  async function bearer (renew = false): Promise<string> {
    if (!renew && jwt !== undefined && Date.now() - jwt.at < TOKEN_RENEW_MS) return jwt.token
    key ??= importPKCS8(apns.key, 'ES256')
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: apns.keyId }).setIssuer(apns.teamId).setIssuedAt().sign(await key)
    jwt = { token, at: Date.now() }
    return token
  }

  function connection (): ClientHttp2Session {
    if (session !== undefined && !session.closed && !session.destroyed) return session
    const s = connect(apns.url, opts.ca === undefined ? {} : { ca: certificates(opts.ca) })
    s.on('error', () => { if (session === s) session = undefined })
    s.on('close', () => { if (session === s) session = undefined })
    s.on('goaway', () => { if (session === s) session = undefined })
    s.unref()
    session = s
    return s
  }

  function post (path: string, headers: Record<string, string>, body: string): Promise<{ status: number, headers: Record<string, unknown>, body: string }> {
    return new Promise((resolve, reject) => {
      let req
      try {
        req = connection().request({ ':method': 'POST', ':path': path, ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) })
      } catch (err) {
        session = undefined
        reject(err as Error)
        return
      }
      let text = ''
      let status = 0
      let answer: Record<string, unknown> = {}
      req.setEncoding('utf8')
      req.setTimeout(opts.timeoutMs, () => req.close(constants.NGHTTP2_CANCEL))
      req.on('response', (h) => { status = Number(h[':status']); answer = h })
      req.on('data', (chunk: string) => { text += chunk })
      req.on('end', () => status === 0 ? reject(new Error('APNs stream ended without an answer')) : resolve({ status, headers: answer, body: text }))
      req.on('error', reject)
      req.on('close', () => { if (status === 0) reject(new Error(`APNs request timed out or was cancelled (${req.rstCode})`)) })
      req.end(body)
    })
  }

  async function attempt (target: PushTarget, notice: Notice, id: string, renew: boolean): Promise<SendResult> {
    const body = fit(notice, APNS_MAX_PAYLOAD, apnsPayload)
    if (body === undefined) return { status: 'failed', reason: 'PayloadTooLarge' }
    const silent = isSilent(notice)
    const headers: Record<string, string> = {
      authorization: `bearer ${await bearer(renew)}`,
      'apns-topic': target.appId ?? apns.topic,
      'apns-push-type': 'alert',
      // A badge update is not urgent: delivered as the device's power allows.
      'apns-priority': silent ? '5' : '10',
      'apns-expiration': String(opts.ttlSeconds === 0 ? 0 : Math.floor(Date.now() / 1000) + opts.ttlSeconds),
      'apns-id': id
    }
    if (notice.conversationId !== undefined) headers['apns-collapse-id'] = silent ? `read-${collapseId(notice.conversationId)}` : collapseId(notice.conversationId)
    const res = await post(`/3/device/${encodeURIComponent(target.token)}`, headers, body)
    if (res.status === 200) return { status: 'accepted' }
    let reason = `HTTP ${res.status}`
    try { reason = (JSON.parse(res.body) as { reason?: string }).reason ?? reason } catch { /* not JSON */ }
    if (res.status === 410 || INVALID.has(reason)) return { status: 'invalid', reason }
    if (res.status === 403 && reason === 'ExpiredProviderToken' && !renew) return await attempt(target, notice, id, true)
    if (passing(res.status)) {
      const after = retryAfterMs(res.headers['retry-after'] as string | undefined)
      return { status: 'retry', reason, ...(after === undefined ? {} : { retryAfterMs: after }) }
    }
    return { status: 'failed', reason }
  }

  return {
    platform: 'apns',
    async send (target, notice, id) {
      try {
        return await attempt(target, notice, id, false)
      } catch (err) {
        return { status: 'retry', reason: describe(err) }
      }
    },
    async close () {
      const s = session
      session = undefined
      if (s !== undefined && !s.closed) await new Promise<void>((resolve) => s.close(() => resolve()))
    }
  }
}
