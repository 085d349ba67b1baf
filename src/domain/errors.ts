// Errors the domain raises, each with the HTTP status and stable code of
// API.md. The app's one error handler turns them into the error body.
export type ErrorCode =
  | 'VALIDATION_FAILED' | 'UNAUTHORIZED' | 'INVALID_CREDENTIALS' | 'FORBIDDEN' | 'NOT_FOUND'
  | 'USERNAME_TAKEN' | 'CONFLICT' | 'PAYLOAD_TOO_LARGE' | 'UNSUPPORTED_MEDIA_TYPE' | 'RATE_LIMITED'
  | 'INTERNAL_ERROR' | 'UNAVAILABLE'
  // The WebSocket route answering a plain GET (routes/ws.ts)
  | 'UPGRADE_REQUIRED'
  // Accounts (routes/me.ts, routes/password-reset.ts)
  | 'MAIL_NOT_CONFIGURED' | 'INVALID_RESET_TOKEN' | 'INVALID_CODE' | 'EMAIL_TAKEN'
  // Safety (src/domain/safety-*.ts)
  | 'BLOCKED' | 'MUTED' | 'FROZEN' | 'BANNED' | 'SLOW_MODE' | 'SUSPENDED'
  // Device push (routes/devices.ts)
  | 'PUSH_NOT_CONFIGURED'
  // Attachments (src/domain/uploads.ts)
  | 'FILE_TOO_LARGE' | 'QUOTA_EXCEEDED' | 'SIZE_MISMATCH' | 'UPLOAD_INCOMPLETE' | 'INVALID_ATTACHMENT' | 'IMAGE_TOO_COMPLEX'
  // Local driver downloads (routes/storage.ts): If-Match / If-Unmodified-Since do not hold
  | 'PRECONDITION_FAILED'
  // Custom data and threads (src/domain/custom-data.ts, src/domain/threads.ts)
  | 'INVALID_MESSAGE_TYPE' | 'INVALID_METADATA' | 'METADATA_TOO_LARGE' | 'INVALID_THREAD_ROOT'
  // Reactions and pins (src/domain/reactions.ts, src/domain/pins.ts)
  | 'INVALID_REACTION' | 'TOO_MANY_REACTIONS' | 'TOO_MANY_PINS'
  // Search (src/domain/search.ts)
  | 'INVALID_QUERY' | 'QUERY_TOO_BROAD'
  // Invite links (src/domain/invites.ts)
  | 'INVALID_INVITE'
  // Invitations (GROUP_ADDS=invite; src/domain/invitations.ts)
  | 'TOO_MANY_INVITATIONS'

export class AppError extends Error {
  constructor (readonly statusCode: number, readonly code: ErrorCode, message: string) {
    super(message)
    this.name = 'AppError'
  }
}

export const badRequest = (message: string) => new AppError(400, 'VALIDATION_FAILED', message)
export const unauthorized = (message = 'Missing or invalid access token') => new AppError(401, 'UNAUTHORIZED', message)
export const forbidden = (message = 'Not allowed') => new AppError(403, 'FORBIDDEN', message)
export const notFound = (what = 'Resource') => new AppError(404, 'NOT_FOUND', `${what} not found`)
export const unavailable = (message = 'Service temporarily unavailable') => new AppError(503, 'UNAVAILABLE', message)

/** A refusal that passes with time: answered with a Retry-After header of that many seconds (429, or 503 when the server is busy). */
export class RetryLaterError extends AppError {
  constructor (code: ErrorCode, message: string, readonly retryAfterSeconds: number, statusCode: 429 | 503 = 429) {
    super(statusCode, code, message)
  }
}
