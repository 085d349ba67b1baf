// An error answer in the contract's body ({ statusCode, error, code, message }),
// for the few places that answer one themselves instead of throwing an AppError
// to the error handler (plugins/app/errors.ts), which answers with this too.
import type { FastifyReply } from 'fastify'
import { STATUS_CODES } from 'node:http'

export function sendError (reply: FastifyReply, statusCode: number, code: string, message: string) {
  return reply.code(statusCode).type('application/json; charset=utf-8').send({
    statusCode,
    error: STATUS_CODES[statusCode] ?? 'Error',
    code,
    message
  })
}
