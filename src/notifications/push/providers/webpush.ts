// Web Push with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291),
// through the `web-push` library. A kept-alive agent reuses connections to
// each push service.
import { Agent } from 'node:https'
import webpush from 'web-push'
import type { PushConfig } from '../../../config.js'
import { collapseId, dataFields, fit, isSilent, type Notice } from '../notice.js'
import { certificates, describe, passing, retryAfterMs, type PushProvider, type SendResult } from './provider.js'

/** A 4,096-byte aes128gcm record holds 3,993 bytes of plaintext after its header, tag and padding; kept below. */
export const WEBPUSH_MAX_PAYLOAD = 3800

/** What the service worker (src/public/sw.js) receives. */
export function webPushPayload (n: Notice): string {
  return JSON.stringify({ ...dataFields(n), badge: n.badge, title: n.title, body: n.body, ...(n.conversationId === undefined ? {} : { tag: collapseId(n.conversationId) }) })
}

export function createWebPushProvider (vapid: NonNullable<PushConfig['webpush']>, opts: { ca: string | undefined, timeoutMs: number, ttlSeconds: number, concurrency: number }): PushProvider {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency, ...(opts.ca === undefined ? {} : { ca: certificates(opts.ca) }) })
  const vapidDetails = { subject: vapid.subject, publicKey: vapid.publicKey, privateKey: vapid.privateKey }
  return {
    platform: 'webpush',
    async send (target, notice): Promise<SendResult> {
      if (target.keys === null) return { status: 'invalid', reason: 'subscription without keys' }
      const payload = fit(notice, WEBPUSH_MAX_PAYLOAD, webPushPayload)
      if (payload === undefined) return { status: 'failed', reason: 'payload too large' }
      try {
        await webpush.sendNotification({ endpoint: target.token, keys: target.keys }, payload, {
          vapidDetails,
          TTL: opts.ttlSeconds,
          urgency: isSilent(notice) ? 'normal' : 'high',
          ...(notice.conversationId === undefined ? {} : { topic: (isSilent(notice) ? 'r' : '') + collapseId(notice.conversationId).slice(isSilent(notice) ? 1 : 0) }),
          timeout: opts.timeoutMs,
          agent
        })
        return { status: 'accepted' }
      } catch (err) {
        if (!(err instanceof webpush.WebPushError)) return { status: 'retry', reason: describe(err) }
        const reason = `HTTP ${err.statusCode}${err.body === '' ? '' : `: ${err.body.slice(0, 150)}`}`
        if (err.statusCode === 404 || err.statusCode === 410) return { status: 'invalid', reason }
        if (passing(err.statusCode)) {
          const after = retryAfterMs(err.headers['retry-after'])
          return { status: 'retry', reason, ...(after === undefined ? {} : { retryAfterMs: after }) }
        }
        return { status: 'failed', reason }
      }
    },
    async close () { agent.destroy() }
  }
}
