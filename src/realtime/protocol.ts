// The WebSocket protocol: frames both ways and close codes (see
// docs in README "WebSocket protocol" and the AsyncAPI document).
import { Type, type Static } from 'typebox'
import { isUuid } from '../domain/ids.js'
import { invalidText } from '../domain/text.js'
import type { ChatEvent } from '../domain/events.js'

export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  tooBig: 1009,
  sessionEnded: 4001,
  slowConsumer: 4008
} as const

export const TypingFrame = Type.Object({ type: Type.Literal('typing'), conversationId: Type.String({ format: 'uuid' }) })
export const PingFrame = Type.Object({ type: Type.Literal('ping') })
export const ClientFrame = Type.Union([TypingFrame, PingFrame])
export type ClientFrame = Static<typeof ClientFrame>

export type ServerFrame =
  | { type: 'ready', userId: string, connectionId: string, heartbeatMs: number }
  | ({ type: ChatEvent['type'] } & Omit<ChatEvent, 'type'>)
  | { type: 'presence', data: { userId: string, online: boolean, lastSeenAt: string | null } }
  | { type: 'typing', conversationId: string, data: { userId: string } }
  | { type: 'read', conversationId: string, data: { userId: string, seq: number } }
  | { type: 'pong' }
  | { type: 'error', code: string, message: string }

export type ParseResult = { ok: true, frame: ClientFrame } | { ok: false, code: 'MALFORMED_FRAME' | 'UNKNOWN_FRAME' | 'VALIDATION_FAILED', message: string }

/** Parses one client frame; never throws. */
export function parseClientFrame (raw: string): ParseResult {
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return { ok: false, code: 'MALFORMED_FRAME', message: 'Frame is not valid JSON' }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, code: 'MALFORMED_FRAME', message: 'Frame must be a JSON object' }
  }
  // The same rule as for REST requests: no string the database cannot store.
  const problem = invalidText(value, 'frame')
  if (problem !== undefined) return { ok: false, code: 'VALIDATION_FAILED', message: problem }
  const frame = value as Record<string, unknown>
  switch (frame.type) {
    case 'ping':
      return { ok: true, frame: { type: 'ping' } }
    case 'typing':
      if (typeof frame.conversationId !== 'string' || !isUuid(frame.conversationId)) {
        return { ok: false, code: 'VALIDATION_FAILED', message: 'typing needs a conversationId (uuid)' }
      }
      return { ok: true, frame: { type: 'typing', conversationId: frame.conversationId } }
    default:
      return { ok: false, code: 'UNKNOWN_FRAME', message: `Unknown frame type ${JSON.stringify(String(frame.type)).slice(0, 40)}` }
  }
}

export const eventFrame = (e: ChatEvent): string =>
  JSON.stringify({ type: e.type, conversationId: e.conversationId, seq: e.seq, createdAt: e.createdAt, data: e.data })
