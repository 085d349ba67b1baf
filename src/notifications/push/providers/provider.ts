// The one interface every push provider implements. A provider turns a
// notice into its service's request and the answer into one of four
// outcomes; retries, pruning and records are the push service's business.
import type { Platform, WebPushKeys } from '../../../repositories/devices.js'
import type { Notice } from '../notice.js'

export interface PushTarget {
  /** FCM registration token, APNs device token, or Web Push endpoint. */
  token: string
  keys: WebPushKeys | null
  appId: string | null
}

export type SendResult =
  /** The service took the push (it delivers it when the device is reachable). */
  | { status: 'accepted' }
  /** The token is no longer valid: the device is pruned. */
  | { status: 'invalid', reason: string }
  /** A passing refusal (429, 5xx, timeout, network): retried, after retryAfterMs when the service said so. */
  | { status: 'retry', reason: string, retryAfterMs?: number }
  /** Refused for good (payload too large, bad request): not retried. */
  | { status: 'failed', reason: string }

export interface PushProvider {
  readonly platform: Platform
  /** `id` is the delivery id (sent as apns-id where the service takes one). Never throws. */
  send (target: PushTarget, notice: Notice, id: string): Promise<SendResult>
  close (): Promise<void>
}

/** Retry-After as seconds or an HTTP date, in milliseconds (capped at an hour); undefined when absent or unreadable. */
export function retryAfterMs (header: string | string[] | null | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header
  if (value === undefined || value === null || value.trim() === '') return undefined
  const seconds = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - now
  if (!Number.isFinite(seconds)) return undefined
  return Math.min(3_600_000, Math.max(0, seconds))
}

/** 429 and 5xx pass; other statuses do not. */
export const passing = (status: number) => status === 429 || status >= 500

export const describe = (err: unknown) => (err as Error)?.message ?? String(err)

/** The certificates of a PEM bundle, one string each (TLS options take a list most reliably). */
export function certificates (pem: string | undefined): string[] | undefined {
  if (pem === undefined) return undefined
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? undefined
}
