// The push webhook: a small JSON payload per offline recipient, signed with
// HMAC-SHA256 so the receiver (a relay to FCM/APNs) can trust it. The
// signature covers the timestamp and the raw body, so a captured request
// cannot be replayed later with a new timestamp.
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { PushWebhookConfig } from '../config.js'

export interface PushPayload {
  type: 'message.created'
  conversationId: string
  messageId: string
  seq: number
  senderId: string
  recipientId: string
  /** The start of the message body; absent when previews are off. */
  preview?: string
  createdAt: string
  /** Whether the message mentions the recipient (by name or by @all). */
  mentioned: boolean
}

export const SIGNATURE_HEADER = 'x-switchboard-signature'
export const TIMESTAMP_HEADER = 'x-switchboard-timestamp'
export const DELIVERY_HEADER = 'x-switchboard-delivery'
export const EVENT_HEADER = 'x-switchboard-event'

/** `sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<raw body>")>` */
export function signature (secret: string, timestamp: string, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`
}

/** What a receiver does: a valid signature on a timestamp within `toleranceSeconds` of now. */
export function verifySignature (secret: string, headers: { signature?: string | undefined, timestamp?: string | undefined }, rawBody: string,
  { toleranceSeconds = 300, now = Date.now() } = {}): boolean {
  const { signature: given, timestamp } = headers
  if (given === undefined || timestamp === undefined || !/^\d{1,12}$/.test(timestamp)) return false
  if (Math.abs(now / 1000 - Number(timestamp)) > toleranceSeconds) return false
  const expected = Buffer.from(signature(secret, timestamp, rawBody))
  const actual = Buffer.from(given)
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}

/** Cuts a body to `chars` characters (code points), with an ellipsis when cut. */
export function preview (body: string, chars: number): string | undefined {
  if (chars <= 0 || body === '') return undefined
  const points = [...body]
  return points.length <= chars ? body : `${points.slice(0, chars - 1).join('')}…`
}

export class WebhookError extends Error {}

/** One delivery attempt; throws unless the receiver answers 2xx in time. */
export async function deliver (config: PushWebhookConfig, payload: PushPayload, deliveryId: string): Promise<number> {
  const body = JSON.stringify(payload)
  const timestamp = String(Math.floor(Date.now() / 1000))
  let res: Response
  try {
    res = await fetch(config.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Switchboard-Webhook/1',
        [EVENT_HEADER]: payload.type,
        [DELIVERY_HEADER]: deliveryId,
        [TIMESTAMP_HEADER]: timestamp,
        [SIGNATURE_HEADER]: signature(config.secret, timestamp, body)
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(config.timeoutMs)
    })
  } catch (err) {
    throw new WebhookError(`webhook request failed: ${(err as Error).message}`, { cause: err })
  }
  await res.body?.cancel().catch(() => {})
  if (res.status < 200 || res.status >= 300) throw new WebhookError(`webhook answered ${res.status}`)
  return res.status
}
