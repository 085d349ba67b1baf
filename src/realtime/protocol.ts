// The WebSocket protocol as the server uses it, derived from its one
// definition, the frame schemas of schemas/realtime.ts (which also make the
// AsyncAPI document and the SDK's types): the frame types both ways, the
// client frame parser (those schemas, compiled) and the close codes.
import type { Static, TSchema } from 'typebox'
import type { ValidateFunction } from 'ajv'
import type { ChatEvent } from '../domain/events.js'
import { invalidText } from '../domain/text.js'
import { createValidator } from '../domain/validator.js'
import { CLOSE_CODES, ClientFrames, ServerFrames } from '../schemas/realtime.js'

type OneOf<T extends readonly TSchema[]> = { [K in keyof T]: Static<T[K]> }[number]

export type ServerFrame = OneOf<typeof ServerFrames>
export type ClientFrame = OneOf<typeof ClientFrames>

type Sendable = Extract<(typeof CLOSE_CODES)[number], { name: string }>
/** The close codes the server sends, by name: CloseCode.sessionEnded is 4001. */
export const CloseCode = Object.fromEntries(CLOSE_CODES.flatMap((c) => 'name' in c ? [[c.name, c.code]] : [])) as
  { readonly [C in Sendable as C['name']]: C['code'] }

export type ParseResult = { ok: true, frame: ClientFrame } | { ok: false, code: 'MALFORMED_FRAME' | 'UNKNOWN_FRAME' | 'VALIDATION_FAILED', message: string }

// One compiled validator per client frame type, by the type's literal.
const validator = createValidator(false)
const validators = new Map<unknown, ValidateFunction>(ClientFrames.map((schema) => [schema.properties.type.const, validator.compile(schema)]))

/**
 * What a client frame may hold: client frames are flat objects of two or three
 * fields, so these bounds are far above any valid frame.
 */
export const FRAME_SHAPE = { maxDepth: 8, maxValues: 64 }

/**
 * Why JSON text is too complex for a client frame (nested deeper than
 * `maxDepth`, or more than `maxValues` arrays, objects and members: commas and
 * opening brackets outside strings), or undefined. A linear scan of the raw
 * text before JSON.parse: a 16 KiB frame of 8,000 nested arrays, or of 5,000
 * empty ones, costs JSON.parse and the walks after it about a millisecond, so
 * frames within the frame budget could hold a core; the scan costs microseconds.
 */
export function frameShapeProblem (raw: string, shape = FRAME_SHAPE): string | undefined {
  let depth = 0
  let values = 0
  let inString = false
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // a backslash: the next character is escaped
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > shape.maxDepth) return `Frame nests deeper than ${shape.maxDepth} levels`
      if (++values > shape.maxValues) return `Frame holds more than ${shape.maxValues} values`
    } else if (c === 0x5d || c === 0x7d) {
      depth--
    } else if (c === 0x2c) {
      if (++values > shape.maxValues) return `Frame holds more than ${shape.maxValues} values`
    }
  }
  return undefined
}

/** Parses one client frame; never throws. */
export function parseClientFrame (raw: string): ParseResult {
  const shapeProblem = frameShapeProblem(raw)
  if (shapeProblem !== undefined) return { ok: false, code: 'VALIDATION_FAILED', message: shapeProblem }
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
  const { type } = value as { type?: unknown }
  const validate = validators.get(type)
  if (validate === undefined) {
    // Only a string is shown: String() of an object may run (or fail in) a `toString` the client sent.
    const shown = typeof type === 'string' ? JSON.stringify(type).slice(0, 40) : `of type ${Array.isArray(type) ? 'array' : type === null ? 'null' : typeof type}`
    return { ok: false, code: 'UNKNOWN_FRAME', message: `Unknown frame type ${shown}` }
  }
  if (!validate(value)) {
    // Worded as REST validation errors are: `frame/conversationId must match format "uuid"`.
    const error = validate.errors?.[0]
    return { ok: false, code: 'VALIDATION_FAILED', message: error === undefined ? 'Invalid frame' : `frame${error.instancePath} ${error.message ?? 'is invalid'}` }
  }
  return { ok: true, frame: value as ClientFrame }
}

export const eventFrame = (e: ChatEvent): string =>
  JSON.stringify({ type: e.type, conversationId: e.conversationId, seq: e.seq, createdAt: e.createdAt, data: e.data })
