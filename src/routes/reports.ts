import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { errorResponses } from '../schemas/common.js'
import { CreateReportBody, ReportCreated } from '../schemas/safety.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { reports } = app.safety

  app.post('/reports', {
    onRequest: app.authenticate,
    // Per user, after authentication: the membership budget bounds report floods too.
    config: { rateLimit: { max: app.config.membershipRateLimitPerMinute, timeWindow: 60_000, hook: 'preHandler', keyGenerator: (request: FastifyRequest) => request.auth.userId } },
    schema: {
      security: [{ bearer: [] }],
      tags: ['safety'],
      operationId: 'createReport',
      summary: 'Report a message or a user to the operator',
      description: 'Exactly one of messageId and userId (else 400). A message must be one the caller can see (a member, from their joining on, ' +
        'not deleted, and with DELETED_ACCOUNT_MESSAGES=erase not of a deleted account), else 404 NOT_FOUND as for one that does not exist; ' +
        'a deleted user: 404; reporting oneself or one\'s own message: 400.',
      body: CreateReportBody,
      response: { 201: ReportCreated, ...errorResponses(400, 401, 404, 429) }
    }
  }, async (request, reply) => reply.code(201).send(await reports.create(request.auth.userId, request.body)))
}

export default routes
