// The caller's own account: password, sessions, profile, email, deletion and
// export. Every route needs a bearer token; those that check a password or
// send mail are rate-limited per client address.
import { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { exportAccount } from '../domain/account-export.js'
import { assertPasswordUnchanged } from '../domain/account-self.js'
import { unauthorized } from '../domain/errors.js'
import { errorResponses, IdParams } from '../schemas/common.js'
import { Accepted, ChangePasswordBody, DeleteMeBody, EmailBody, EmailCodeBody, EmailResult, EndedCount, SessionList, UpdateMeBody } from '../schemas/me.js'
import type { User } from '../schemas/users.js'
import { trimFields } from './trim.js'
import { extraBudget, perUser, writeBudget } from './budgets.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { self, recovery, deletion } = app.me
  const { config } = app
  const security = [{ bearer: [] }]
  const tags = ['accounts']
  const passwordLimited = { rateLimit: { max: config.authRateLimitMax, timeWindow: config.authRateLimitWindowMs } }
  const mailLimited = { rateLimit: { max: config.accountMailRateLimitMax, timeWindow: config.accountMailRateLimitWindowMs } }
  const userRef = { $ref: 'User' } as unknown as typeof User

  app.post('/me/password', {
    onRequest: app.authenticate,
    config: passwordLimited,
    schema: {
      security, tags, operationId: 'changePassword',
      summary: 'Change the password; every other session of the account ends (its sockets close with 4001)',
      body: ChangePasswordBody,
      response: { 204: Type.Null(), ...errorResponses(400, 401, 429) }
    }
  }, async (request, reply) => {
    const { currentPassword, newPassword } = request.body
    await self.changePassword(request.auth.userId, request.auth.sessionId, currentPassword, newPassword)
    return reply.code(204).send(null)
  })

  app.get('/me/sessions', {
    onRequest: app.authenticate,
    schema: {
      security, tags, operationId: 'listSessions',
      summary: 'The live sessions (logins) of the account, newest first',
      description: 'lastUsedAt is the last login or refresh-token exchange of the session; current marks the session of this request.',
      response: { 200: SessionList, ...errorResponses(401) }
    }
  }, async (request) => self.sessions(request.auth.userId, request.auth.sessionId))

  app.delete('/me/sessions/:id', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security, tags, operationId: 'endSession',
      summary: 'End one session of the account (its refresh token stops working, its sockets close with 4001)',
      params: IdParams,
      response: { 204: Type.Null(), ...errorResponses(400, 401, 404, 429) }
    }
  }, async (request, reply) => {
    await self.endSession(request.auth.userId, request.params.id)
    return reply.code(204).send(null)
  })

  app.post('/me/sessions/end-others', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security, tags, operationId: 'endOtherSessions',
      summary: 'Log out everywhere else: every session but this one ends',
      response: { 200: EndedCount, ...errorResponses(401, 429) }
    }
  }, async (request) => ({ ended: await self.endOtherSessions(request.auth.userId, request.auth.sessionId) }))

  app.patch('/me', {
    onRequest: app.authenticate,
    config: perUser(app.config.profileRateLimitPerMinute, 60_000),
    preValidation: trimFields('displayName'),
    schema: {
      security, tags, operationId: 'updateMe',
      summary: 'Change the display name and/or the avatar; users who share a conversation get a user.updated frame',
      description: 'avatarUploadId: a completed image upload of the caller (POST /v1/uploads without conversationId), else 400 INVALID_ATTACHMENT; ' +
        'null removes the avatar; a replaced avatar is deleted. An empty body: 400.',
      body: UpdateMeBody,
      response: { 200: userRef, ...errorResponses(400, 401, 429) }
    }
  }, async (request) => self.updateProfile(request.auth.userId, request.body))

  app.delete('/me', {
    onRequest: app.authenticate,
    config: passwordLimited,
    schema: {
      security, tags, operationId: 'deleteMe',
      summary: 'Delete the account',
      description: 'Every session ends and its sockets close (4001); the user leaves every conversation (member.removed, an owner hands ' +
        'ownership on as on leaving); display name, username, email and password hash are erased. Messages and reactions follow DELETED_ACCOUNT_MESSAGES: ' +
        'erase (default: bodies cleared as deletes are, with message.deleted events, earlier events redacted; every reaction taken back ' +
        'with reaction.removed) or keep. ' +
        'Their senderId then shows a deleted user ("Deleted user").',
      body: DeleteMeBody,
      response: { 204: Type.Null(), ...errorResponses(400, 401, 429) }
    }
  }, async (request, reply) => {
    const checked = await self.checkPassword(request.auth.userId, request.body.password)
    // Deleted meanwhile (a parallel request took it first): 401, as the deleted session's token gets from now on.
    // The password changed meanwhile: 401 INVALID_CREDENTIALS (checked again under the account's lock).
    if (!(await deletion.deleteAccount(request.auth.userId, async (tx) => { await assertPasswordUnchanged(tx, request.auth.userId, checked.passwordHash) }))) throw unauthorized()
    return reply.code(204).send(null)
  })

  app.get('/me/export', {
    onRequest: app.authenticate,
    config: passwordLimited,
    schema: {
      security, tags, operationId: 'exportMe',
      summary: 'Everything stored about the caller, as one JSON document (streamed)',
      description: '{ exportedAt, profile, sessions, memberships, blocks, reports, reactions, devices, uploads, threads, invitations, inviteLinks, ' +
        'messages }: profile with email and app roles, every session (revoked ones too), every membership (left ones too), everyone the caller ' +
        'blocked, the reports the caller made, the caller\'s reactions, push devices (without their tokens), stored uploads, threads, pending ' +
        'invitations received and sent, invite links made (without their codes), every message the caller sent. Streamed: its size has no limit.',
      response: {
        200: { description: 'The export', content: { 'application/json': { schema: { type: 'object' } } } },
        ...errorResponses(401, 429)
      }
    }
  }, async (request, reply) => {
    const stream = Readable.from(exportAccount(app.db, request.auth.userId), { objectMode: false })
    return reply
      .type('application/json; charset=utf-8')
      .header('content-disposition', 'attachment; filename="switchboard-export.json"')
      .send(stream)
  })

  // Per account too: a fresh code resets its five tries, so codes asked for from many addresses were guesses without end.
  const codesPerAccount = extraBudget(app, config.emailCodesPerDay, 24 * 3600_000, (request) => `email-codes:${request.auth.userId}`)
  app.post('/me/email', {
    onRequest: app.authenticate,
    config: mailLimited,
    preHandler: codesPerAccount,
    schema: {
      security, tags, operationId: 'requestEmail',
      summary: 'Mail a 6-digit code to an address; it becomes the account\'s email once the code is confirmed',
      description: 'Needs the current password (401 INVALID_CREDENTIALS otherwise). Once the code is confirmed, the previous address, if any, ' +
        'is told of the change.',
      body: EmailBody,
      response: { 202: Accepted, ...errorResponses(400, 401, 429, 503) }
    }
  }, async (request, reply) => {
    const checked = await self.checkPassword(request.auth.userId, request.body.password)
    await recovery.requestEmail(request.auth.userId, request.body.email, checked.passwordHash)
    return reply.code(202).send({ accepted: true })
  })

  app.post('/me/email/verify', {
    onRequest: app.authenticate,
    config: mailLimited,
    schema: {
      security, tags, operationId: 'verifyEmail',
      summary: 'Confirm the mailed code (five wrong tries void it); answers 400 INVALID_CODE or 409 EMAIL_TAKEN',
      body: EmailCodeBody,
      response: { 200: EmailResult, ...errorResponses(400, 401, 409, 429) }
    }
  }, async (request) => recovery.verifyEmail(request.auth.userId, request.body.code))
}

export default routes
