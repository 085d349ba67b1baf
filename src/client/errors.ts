// Errors the SDK throws: API.md's error body as an exception, and transport
// failures (status 0) so callers can tell "offline" from "refused".
import type { ErrorBody } from './types.js'

export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor (
    /** HTTP status; 0 when the request never got an answer (network, timeout). */
    readonly status: number,
    /** API.md's stable code, e.g. VALIDATION_FAILED, or NETWORK_ERROR / TIMEOUT. */
    readonly code: string,
    message: string,
    /** Seconds, from Retry-After on a 429. */
    readonly retryAfter?: number
  ) {
    super(message)
  }

  static fromBody (status: number, body: Partial<ErrorBody> | undefined, retryAfter?: number): ApiError {
    const code = typeof body?.code === 'string' ? body.code : `HTTP_${status}`
    const message = typeof body?.message === 'string' ? body.message : `Request failed with status ${status}`
    return new ApiError(status, code, message, retryAfter)
  }

  /** True for failures worth retrying later: no answer, 429, 503. */
  get transient (): boolean {
    return this.status === 0 || this.status === 429 || this.status === 503
  }
}

export const isApiError = (err: unknown, status?: number): err is ApiError =>
  err instanceof ApiError && (status === undefined || err.status === status)
