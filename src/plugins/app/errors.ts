// The one error handler and the one not-found handler: every failure leaves
// as API.md's error body with a stable code, and 5xx details stay in the log.
import fp from 'fastify-plugin'
import type { FastifyError, FastifyRequest } from 'fastify'
import { AppError, RetryLaterError, type ErrorCode } from '../../domain/errors.js'
import { isDatabaseUnavailable, isDataException, isStatementTimeout, isUniqueViolation } from '../../domain/prisma-errors.js'
import { sendError } from '../../routes/error-reply.js'

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  503: 'UNAVAILABLE'
}

function classify (err: FastifyError | AppError | Error, request: FastifyRequest): { status: number, code: string, message: string } {
  if (err instanceof AppError) return { status: err.statusCode, code: err.code, message: err.message }
  const fe = err as FastifyError
  if (fe.validation !== undefined) return { status: 400, code: 'VALIDATION_FAILED', message: fe.message }
  if (isDatabaseUnavailable(err)) {
    request.log.warn({ err }, 'database unavailable')
    return { status: 503, code: 'UNAVAILABLE', message: 'The database is unavailable; retry shortly' }
  }
  if (isStatementTimeout(err)) {
    // DATABASE_STATEMENT_TIMEOUT_MS cancelled it (a held lock, an overloaded database): nothing was written.
    request.log.warn({ err }, 'database statement timed out')
    return { status: 503, code: 'UNAVAILABLE', message: 'The database did not answer in time; retry shortly' }
  }
  if (isUniqueViolation(err)) {
    // Two requests wrote the same row at once and no rule above expected it: the loser may retry, it did no harm.
    request.log.warn({ err }, 'concurrent write of the same row')
    return { status: 409, code: 'CONFLICT', message: 'Another request changed this at the same moment; retry' }
  }
  if (isDataException(err)) {
    // A value the database cannot take (out of range, malformed) that validation let through.
    request.log.warn({ err }, 'value refused by the database')
    return { status: 400, code: 'VALIDATION_FAILED', message: 'A value in the request is out of range or malformed' }
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500
  if (status >= 400 && status < 500) {
    // Fastify's own client errors: malformed JSON, body too large, bad media type...
    let message = fe.message
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') message = 'Request body is too large'
    else if (err instanceof SyntaxError || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY') message = 'Malformed JSON in request body'
    return { status, code: CODE_BY_STATUS[status] ?? 'VALIDATION_FAILED', message }
  }
  request.log.error({ err }, 'request failed')
  return { status: status === 503 ? 503 : 500, code: status === 503 ? 'UNAVAILABLE' : 'INTERNAL_ERROR', message: 'Internal server error' }
}

export default fp(async (app) => {
  app.setErrorHandler((err, request, reply) => {
    const { status, code, message } = classify(err as FastifyError, request)
    if (err instanceof RetryLaterError) reply.header('retry-after', String(err.retryAfterSeconds))
    if ((status === 429 || status === 503) && !reply.hasHeader('retry-after')) reply.header('retry-after', '1')
    return sendError(reply, status, code, message)
  })
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, 'NOT_FOUND', `Route ${request.method} ${(request.url.split('?')[0] ?? '').slice(0, 200)} not found`))
}, { name: 'errors' })
