// Custom message data (README "Threads and custom message data"): an
// app-defined `type` and a `metadata` object, so apps build polls, locations
// and stickers without a fork. Checked here, before a post joins a group
// commit, so a bad one is refused on its own and never fails another post.
import { AppError } from './errors.js'

export const MESSAGE_TYPE_PATTERN = '^[a-z][a-z0-9_.-]{0,31}$'
const TYPE = new RegExp(MESSAGE_TYPE_PATTERN)
/** Serialized (JSON, UTF-8) size limit of metadata. */
export const METADATA_MAX_BYTES = 4096
/** Nesting limit of metadata: the object itself is depth 1. */
export const METADATA_MAX_DEPTH = 8

import type { Metadata } from '../repositories/messages.js'
export type { Metadata }

/** The type, checked; 400 INVALID_MESSAGE_TYPE otherwise. */
export function checkMessageType (type: unknown): string {
  if (typeof type !== 'string' || !TYPE.test(type)) {
    throw new AppError(400, 'INVALID_MESSAGE_TYPE',
      'type must be 1-32 characters: lowercase letters, digits, _, . or -, starting with a letter')
  }
  return type
}

function depthOf (value: unknown): number {
  // Iterative, so a deep value cannot overflow the stack.
  let max = 0
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length > 0) {
    const [v, d] = stack.pop()!
    if (typeof v !== 'object' || v === null) continue
    max = Math.max(max, d)
    if (max > METADATA_MAX_DEPTH) return max
    for (const inner of Object.values(v)) stack.push([inner, d + 1])
  }
  return max
}

/**
 * The metadata, checked: a JSON object (or null), at most METADATA_MAX_BYTES
 * serialized, nested at most METADATA_MAX_DEPTH deep. 400 INVALID_METADATA or
 * METADATA_TOO_LARGE otherwise.
 */
export function checkMetadata (metadata: unknown): Metadata | null {
  if (metadata === null) return null
  if (typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new AppError(400, 'INVALID_METADATA', 'metadata must be a JSON object or null')
  }
  // Depth first: JSON.stringify recurses, so a value nested thousands deep must be refused before it.
  if (depthOf(metadata) > METADATA_MAX_DEPTH) {
    throw new AppError(400, 'INVALID_METADATA', `metadata must be nested at most ${METADATA_MAX_DEPTH} levels deep`)
  }
  if (Buffer.byteLength(JSON.stringify(metadata), 'utf8') > METADATA_MAX_BYTES) {
    throw new AppError(400, 'METADATA_TOO_LARGE', `metadata must be at most ${METADATA_MAX_BYTES} bytes as JSON`)
  }
  return metadata as Metadata
}

/** Whether a message of this content says anything: a body, files, or a non-text type with metadata. */
export const hasContent = (m: { body: string, attachments: unknown[], type: string, metadata: Metadata | null }) =>
  m.body !== '' || m.attachments.length > 0 || (m.type !== 'text' && m.metadata !== null)
