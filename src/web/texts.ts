// What people read when something goes wrong: a sentence chosen by the
// error's stable code (API.md), never the server's wording for developers.
import { ApiError } from '../client/index.js'

/** Said on the login screen when the session ended without this tab's Log out (refused, or ended in another tab). */
export const SIGNED_OUT = 'You were signed out. Log in again.'

const BY_CODE: Record<string, string> = {
  NETWORK_ERROR: 'Can’t reach the server. Check your connection.',
  TIMEOUT: 'The server is taking too long. Try again in a moment.',
  INVALID_CREDENTIALS: 'Wrong username or password.',
  USERNAME_TAKEN: 'That username is taken. Pick another one.',
  RATE_LIMITED: 'Too many tries. Wait a moment and try again.',
  UNAVAILABLE: 'The server is busy. Try again in a moment.',
  UNAUTHORIZED: SIGNED_OUT,
  SUSPENDED: 'This account has been suspended.',
  NOT_FOUND: 'That no longer exists, or you can’t see it.',
  FORBIDDEN: 'You’re not allowed to do that here.',
  BLOCKED: 'You can’t message this person.',
  MUTED: 'You’ve been muted in this group.',
  FROZEN: 'This group is frozen: nobody can post for now.',
  BANNED: 'You were banned from this group.',
  SLOW_MODE: 'Slow mode is on: wait a little before posting again.',
  PAYLOAD_TOO_LARGE: 'That’s too long.',
  FILE_TOO_LARGE: 'That file is too large.',
  QUOTA_EXCEEDED: 'You’ve used all your storage.',
  IMAGE_TOO_COMPLEX: 'That image is too large or its animation too long.',
  UNSUPPORTED_MEDIA_TYPE: 'That kind of file can’t be sent.',
  INVALID_ATTACHMENT: 'That file can’t be sent.',
  CONFLICT: 'That changed meanwhile. Reload and try again.',
  INVALID_QUERY: 'Search for words of at least two letters (three to find parts of words).',
  QUERY_TOO_BROAD: 'That search is too broad. Add words, or use longer ones.'
}

/** What a form says for a failure; `context` words the fallback for a refusal without its own sentence. */
export function errorText (err: unknown, context = 'That didn’t work.'): string {
  if (err instanceof ApiError) {
    const known = BY_CODE[err.code]
    if (known !== undefined) return known
    if (err.code === 'VALIDATION_FAILED') return `${context} Check what you entered.`
    if (err.status === 0) return BY_CODE.NETWORK_ERROR!
  }
  return `${context} Try again.`
}

/** Connection states (the SDK's) as a person would say them; undefined when nothing needs saying. */
export function connectionText (state: string, pending: number): string | undefined {
  const waiting = pending === 0 ? '' : ` ${pending === 1 ? 'One message' : `${pending} messages`} will be sent when it’s back.`
  switch (state) {
    case 'live': return pending === 0 ? undefined : `Sending ${pending === 1 ? 'one message' : `${pending} messages`}…`
    case 'connecting': case 'syncing': return `Connecting…${waiting}`
    case 'reconnecting': return `Offline: reconnecting…${waiting}`
    default: return undefined
  }
}
