// The opaque keyset cursor of pages ordered by (a time, an id) — the
// conversation list (last activity) and the followed threads (last reply):
// base64url of "<ISO time>|<uuid>".
import { badRequest } from './errors.js'
import { isUuid } from './ids.js'

export interface TimeIdCursor { at: Date, id: string }

export const encodeTimeIdCursor = (c: TimeIdCursor): string => Buffer.from(`${c.at.toISOString()}|${c.id}`).toString('base64url')

// Only what encodeTimeIdCursor writes is read back: a four-digit year from 0001 on
// (JavaScript dates reach years PostgreSQL cannot hold, such as -271821 or 0).
const CURSOR_TIME = /^(?!0000)\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

/** The cursor, or 400 VALIDATION_FAILED for anything this API did not write. */
export function decodeTimeIdCursor (cursor: string): TimeIdCursor {
  const parts = Buffer.from(cursor, 'base64url').toString('utf8').split('|')
  const [iso = '', id = ''] = parts
  const at = new Date(iso)
  if (parts.length !== 2 || !isUuid(id) || !CURSOR_TIME.test(iso) || Number.isNaN(at.getTime()) || at.toISOString() !== iso) {
    throw badRequest('querystring/cursor is not a cursor this API returned')
  }
  return { at, id }
}
