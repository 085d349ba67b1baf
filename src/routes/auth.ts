import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AuthResult, LoginBody, RefreshBody, RegisterBody } from '../schemas/auth.js'
import { errorResponses } from '../schemas/common.js'
import { trimFields } from './trim.js'
import { extraBudget } from './budgets.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { authRateLimitMax: max, authRateLimitWindowMs: timeWindow } = app.config
  const limited = { rateLimit: { max, timeWindow } }
  const authResult = { $ref: 'AuthResult' } as unknown as typeof AuthResult
  // No bearer token: these routes are how a client gets one (or gives one up).
  const security: Array<Record<string, string[]>> = []

  app.post('/register', {
    config: limited,
    preValidation: trimFields('displayName'),
    schema: {
      security,
      tags: ['auth'],
      operationId: 'register',
      summary: 'Create an account and a first session',
      body: RegisterBody,
      response: { 201: authResult, ...errorResponses(400, 409, 413, 429) }
    }
  }, async (request, reply) => {
    const result = await app.accounts.register(request.body, { userAgent: request.headers['user-agent'] })
    return reply.code(201).send(result)
  })

  // Password guessing spread over many addresses: every address's attempts at one username count together too.
  const perUsername = extraBudget(app, app.config.loginRateLimitPerUsername, 15 * 60_000,
    (request) => `login-username:${String((request.body as { username?: unknown } | undefined)?.username ?? '').toLowerCase()}`)
  app.post('/login', {
    config: limited,
    preHandler: perUsername,
    schema: {
      security,
      tags: ['auth'],
      operationId: 'login',
      summary: 'Start a session with username and password',
      body: LoginBody,
      response: { 200: authResult, ...errorResponses(400, 401, 429) }
    }
  }, async (request) => app.accounts.login(request.body, { userAgent: request.headers['user-agent'] }))

  app.post('/refresh', {
    config: limited,
    schema: {
      security,
      tags: ['auth'],
      operationId: 'refresh',
      summary: 'Exchange a refresh token for new tokens (rotation; a reused token revokes its session)',
      description: 'The token exchanged last, presented again within REFRESH_REUSE_GRACE_SECONDS (default 5; concurrent tabs, a retried request), ' +
        'gets the same new pair as the first exchange. Presented later, it is a reuse: the session is revoked and the answer is 401.',
      body: RefreshBody,
      response: { 200: authResult, ...errorResponses(400, 401, 429) }
    }
  }, async (request) => app.accounts.refresh(request.body.refreshToken))

  app.post('/logout', {
    config: limited,
    schema: {
      security,
      tags: ['auth'],
      operationId: 'logout',
      summary: 'End the session of a refresh token; its sockets are closed with 4001',
      body: RefreshBody,
      response: { 204: Type.Null(), ...errorResponses(400, 401, 429) }
    }
  }, async (request, reply) => {
    await app.accounts.logout(request.body.refreshToken)
    return reply.code(204).send(null)
  })
}

export default routes
