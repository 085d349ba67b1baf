// Password reset by mail. The request answers 202 before anything is looked
// up, whatever the account: no enumeration, no timing difference.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { badRequest } from '../domain/errors.js'
import { errorResponses } from '../schemas/common.js'
import { Accepted, ResetConfirmBody, ResetRequestBody } from '../schemas/me.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { recovery } = app.me
  const limited = { rateLimit: { max: app.config.accountMailRateLimitMax, timeWindow: app.config.accountMailRateLimitWindowMs } }
  const security: Array<Record<string, string[]>> = []
  const tags = ['accounts']

  app.post('/password-reset', {
    config: limited,
    schema: {
      security, tags, operationId: 'requestPasswordReset',
      summary: 'Mail a password-reset token to the verified email of the account of this username or email',
      description: 'Answers 202 whether or not such an account (with a verified email) exists, before looking. The token works once, ' +
        'within PASSWORD_RESET_TTL_MINUTES. 503 MAIL_NOT_CONFIGURED when the server has no SMTP_URL.',
      body: ResetRequestBody,
      response: { 202: Accepted, ...errorResponses(400, 429, 503) }
    }
  }, async (request, reply) => {
    // The schema asks for exactly one; a body whose only property was an unknown one has none left once it is dropped.
    const who = request.body.username ?? request.body.email
    if (who === undefined) throw badRequest('body must have username or email')
    recovery.requestReset(who)
    return reply.code(202).send({ accepted: true })
  })

  app.post('/password-reset/confirm', {
    config: limited,
    schema: {
      security, tags, operationId: 'confirmPasswordReset',
      summary: 'Set a new password with a mailed token; every session of the account ends',
      description: '400 INVALID_RESET_TOKEN when the token is unknown, used or expired.',
      body: ResetConfirmBody,
      response: { 204: Type.Null(), ...errorResponses(400, 429) }
    }
  }, async (request, reply) => {
    await recovery.confirmReset(request.body.token, request.body.newPassword)
    return reply.code(204).send(null)
  })
}

export default routes
