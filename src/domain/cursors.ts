// The opaque keyset cursor of pages ordered by (a time, an id) — the
// conversation list (last activity) and the followed threads (last reply):
// base64url of "<ISO time>|<uuid>". And the one rule for a time a client
// hands in (a cursor's, or a date-time field such as a mute's end): only
// what both JavaScript and PostgreSQL hold.
import { badRequest } from './errors.js'
import { isUuid } from './ids.js'

export interface TimeIdCursor { at: Date, id: string }

/** The opaque cursor of pages ordered by an id alone (search hits, channels, unread conversations): base64url of it. */
export const encodeIdCursor = (id: string) => Buffer.from(id).toString('base64url')

/** The id of a cursor encodeIdCursor made; anything else is a 400 naming the parameter it came in. */
export function decodeIdCursor (cursor: string, param = 'cursor'): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8')
  if (!isUuid(id) || encodeIdCursor(id) !== cursor) throw badRequest(`querystring/${param} is not a cursor this API returned`)
  return id
}

/**
 * Whether a time can be stored and read back: a valid Date from year 0001 to
 * 9999 in UTC. JavaScript dates reach years PostgreSQL cannot hold (such as
 * -271821 or 0), and one past 9999 is stored but reads back as an Invalid Date.
 */
export function isStorableTime (at: Date): boolean {
  const year = at.getUTCFullYear()
  return !Number.isNaN(at.getTime()) && year >= 1 && year <= 9999
}

/**
 * A date-time the request schema has accepted (format date-time, RFC 3339),
 * as a Date; 400 VALIDATION_FAILED naming `field` unless it is storable (a
 * leap second such as 23:59:60 is an Invalid Date; year 0000, or a time zone
 * offset that moves it before 0001 or past 9999 in UTC, is out of range).
 */
export function parseDateTime (text: string, field: string): Date {
  const at = new Date(text)
  if (!isStorableTime(at)) {
    throw badRequest(`${field} must be a valid date-time from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z (no leap second)`)
  }
  return at
}

export const encodeTimeIdCursor = (c: TimeIdCursor): string => Buffer.from(`${c.at.toISOString()}|${c.id}`).toString('base64url')

// Only what encodeTimeIdCursor writes is read back: a four-digit year, storable.
const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

/** The cursor, or 400 VALIDATION_FAILED for anything this API did not write. */
export function decodeTimeIdCursor (cursor: string): TimeIdCursor {
  const parts = Buffer.from(cursor, 'base64url').toString('utf8').split('|')
  const [iso = '', id = ''] = parts
  const at = new Date(iso)
  if (parts.length !== 2 || !isUuid(id) || !CURSOR_TIME.test(iso) || !isStorableTime(at) || at.toISOString() !== iso) {
    throw badRequest('querystring/cursor is not a cursor this API returned')
  }
  return { at, id }
}
