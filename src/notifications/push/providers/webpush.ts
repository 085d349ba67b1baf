// Web Push with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291):
// the `web-push` library makes the request (headers, encrypted body), and we
// send it, because its own sender reads the answer whole into one string with
// only an idle timeout: an endpoint (any host a user registers) answering an
// endless body took the process down (RangeError past ~512 MiB, thrown in a
// stream listener), and one dripping a byte at a time held the worker past its
// job's expiry, so the job ran again and other recipients got the push twice.
// Here the answer's body is read up to 4 KiB (the rest is not read), and the
// whole exchange has one deadline. A kept-alive agent reuses connections to
// each push service.
import { Agent, request } from 'node:https'
import webpush from 'web-push'
import type { PushConfig } from '../../../config.js'
import { collapseId, dataFields, fit, isSilent, type Notice } from '../notice.js'
import { webPushEndpointAllowed } from '../endpoint-hosts.js'
import { certificates, describe, passing, retryAfterMs, type PushProvider, type SendResult } from './provider.js'

/** A 4,096-byte aes128gcm record holds 3,993 bytes of plaintext after its header, tag and padding; kept below. */
export const WEBPUSH_MAX_PAYLOAD = 3800

/** What the service worker (src/public/sw.js) receives. */
export function webPushPayload (n: Notice): string {
  return JSON.stringify({ ...dataFields(n), badge: n.badge, title: n.title, body: n.body, ...(n.conversationId === undefined ? {} : { tag: collapseId(n.conversationId) }) })
}

/** The most of an answer's body that is read (kept for the delivery's reason). */
const MAX_ANSWER_BYTES = 4096

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: string }

/** Sends a prepared Web Push request; rejects when `deadlineMs` pass before the answer's end (or its first 4 KiB). */
function post (details: ReturnType<typeof webpush.generateRequestDetails>, agent: Agent, deadlineMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = new URL(details.endpoint)
    const req = request(url, { method: details.method, headers: details.headers as Record<string, string>, agent })
    const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${deadlineMs} ms`)), deadlineMs)
    req.on('error', (err) => {
      clearTimeout(deadline)
      reject(err)
    })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      let bytes = 0
      const done = () => {
        clearTimeout(deadline)
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })
      }
      res.on('data', (chunk: Buffer) => {
        if (bytes >= MAX_ANSWER_BYTES) return
        chunks.push(chunk.subarray(0, MAX_ANSWER_BYTES - bytes))
        bytes += chunk.length
        // Enough to tell what happened: the rest is not read (nor kept), and the connection is not reused.
        if (bytes >= MAX_ANSWER_BYTES) {
          res.destroy()
          done()
        }
      })
      res.on('end', done)
      res.on('error', (err) => {
        clearTimeout(deadline)
        if (bytes >= MAX_ANSWER_BYTES) return
        reject(err)
      })
    })
    req.end(details.body ?? undefined)
  })
}

export function createWebPushProvider (vapid: NonNullable<PushConfig['webpush']>, opts: { ca: string | undefined, timeoutMs: number, ttlSeconds: number, concurrency: number, endpointHosts: string[] }): PushProvider {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency, ...(opts.ca === undefined ? {} : { ca: certificates(opts.ca) }) })
  const vapidDetails = { subject: vapid.subject, publicKey: vapid.publicKey, privateKey: vapid.privateKey }
  return {
    platform: 'webpush',
    async send (target, notice): Promise<SendResult> {
      if (target.keys === null) return { status: 'invalid', reason: 'subscription without keys' }
      // Registered before WEBPUSH_ENDPOINT_HOSTS was narrowed: pruned, not sent to.
      if (!webPushEndpointAllowed(target.token, opts.endpointHosts)) return { status: 'invalid', reason: 'endpoint host not in WEBPUSH_ENDPOINT_HOSTS' }
      const payload = fit(notice, WEBPUSH_MAX_PAYLOAD, webPushPayload)
      if (payload === undefined) return { status: 'failed', reason: 'payload too large' }
      try {
        const details = webpush.generateRequestDetails({ endpoint: target.token, keys: target.keys }, payload, {
          vapidDetails,
          TTL: opts.ttlSeconds,
          urgency: isSilent(notice) ? 'normal' : 'high',
          ...(notice.conversationId === undefined ? {} : { topic: (isSilent(notice) ? 'r' : '') + collapseId(notice.conversationId).slice(isSilent(notice) ? 1 : 0) })
        })
        const answer = await post(details, agent, opts.timeoutMs)
        if (answer.status >= 200 && answer.status <= 299) return { status: 'accepted' }
        const reason = `HTTP ${answer.status}${answer.body === '' ? '' : `: ${answer.body.slice(0, 150)}`}`
        if (answer.status === 404 || answer.status === 410) return { status: 'invalid', reason }
        if (passing(answer.status)) {
          const after = retryAfterMs(answer.headers['retry-after'])
          return { status: 'retry', reason, ...(after === undefined ? {} : { retryAfterMs: after }) }
        }
        return { status: 'failed', reason }
      } catch (err) {
        return { status: 'retry', reason: describe(err) }
      }
    },
    async close () { agent.destroy() }
  }
}
