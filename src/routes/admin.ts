// The operator's API under /v1/admin. Every route needs an app role, read from
import { Type } from 'typebox'
// the database on each request (so a revocation holds at once); every action
// is written to the audit log in the same transaction.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { errorResponses, IdParams } from '../schemas/common.js'
import { writeBudget } from './budgets.js'
import { Message } from '../schemas/messages.js'
import { AdminUserPage, AdminUserQuery, AuditPage, AuditQuery, MessageIdParams, Report, ReportListQuery, ReportPage, ResolveReportBody, SuspendBody } from '../schemas/safety.js'
import type { AppRole } from '../domain/safety-admin.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's app roles, once an admin route has checked them. */
    appRoles: string[]
  }
}

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { admin } = app.safety
  app.decorateRequest('appRoles', null as unknown as string[])
  const security = [{ bearer: [] }]
  const tags = ['admin']
  const staff: readonly AppRole[] = ['admin', 'moderator']
  const role = (allowed: readonly AppRole[]) => async (request: FastifyRequest) => {
    request.appRoles = await admin.requireRole(request.auth.userId, allowed)
  }
  const asStaff = { onRequest: app.authenticate, preHandler: role(staff) }
  const staffNote = 'App role admin or moderator (else 403 FORBIDDEN).'

  app.get('/reports', {
    ...asStaff,
    schema: {
      security, tags, operationId: 'adminListReports', summary: 'Reports by status (open by default), newest first',
      description: staffNote, querystring: ReportListQuery, response: { 200: ReportPage, ...errorResponses(400, 401, 403) }
    }
  }, async (request) => admin.reports(request.query.status ?? 'open', { limit: request.query.limit ?? 50, cursor: request.query.cursor }))

  app.post('/reports/:id/resolve', {
    ...asStaff,
    config: writeBudget(app),
    schema: {
      security, tags, operationId: 'adminResolveReport', summary: 'Resolve a report (audited)',
      description: `${staffNote} Already resolved: 409 CONFLICT.`,
      params: IdParams, body: ResolveReportBody,
      response: { 200: { $ref: 'Report' } as unknown as typeof Report, ...errorResponses(400, 401, 403, 404, 409, 429) }
    }
  }, async (request) => admin.resolveReport(request.auth.userId, request.params.id, request.body))

  app.put('/users/:id/suspension', {
    ...asStaff,
    config: writeBudget(app),
    schema: {
      security, tags, operationId: 'adminSuspendUser', summary: 'Suspend a user: every session ends, sockets close (4001), login answers 403 SUSPENDED (audited)',
      description: `${staffNote} Only an admin suspends an admin or a moderator; nobody suspends themself (403).`,
      params: IdParams, body: SuspendBody, response: { 204: Type.Null({ description: 'Suspended' }), ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request, reply) => {
    await admin.suspend(request.auth.userId, request.appRoles, request.params.id, request.body?.reason ?? null)
    return reply.code(204).send(null)
  })

  app.delete('/users/:id/suspension', {
    ...asStaff,
    config: writeBudget(app),
    schema: {
      security, tags, operationId: 'adminUnsuspendUser', summary: 'Lift a suspension (audited); the user logs in again',
      description: `${staffNote} Only an admin lifts the suspension of an admin or a moderator (else 403 FORBIDDEN).`, params: IdParams, response: { 204: Type.Null({ description: 'Unsuspended' }), ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request, reply) => {
    await admin.unsuspend(request.auth.userId, request.appRoles, request.params.id)
    return reply.code(204).send(null)
  })

  app.delete('/users/:id', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    preHandler: role(['admin']),
    schema: {
      security, tags, operationId: 'adminDeleteUser',
      summary: 'Delete a user\'s account for them, as DELETE /v1/me does (audited)',
      description: 'App role admin (else 403 FORBIDDEN). For a data-erasure request of a user who cannot delete the account ' +
        'themself (a suspended one cannot log in). Personal data erased, sessions ended (sockets close with 4001), the user ' +
        'leaves every conversation, messages erased unless DELETED_ACCOUNT_MESSAGES=keep. Not your own account (403: use ' +
        'DELETE /v1/me); an unknown or already deleted account: 404.',
      params: IdParams, response: { 204: Type.Null({ description: 'Deleted' }), ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request, reply) => {
    await admin.deleteUser(request.auth.userId, request.params.id)
    return reply.code(204).send(null)
  })

  app.delete('/messages/:messageId', {
    ...asStaff,
    config: writeBudget(app),
    schema: {
      security, tags, operationId: 'adminDeleteMessage', summary: 'Delete any message: the tombstone, a message.deleted event, earlier events redacted (audited)',
      description: staffNote, params: MessageIdParams,
      response: { 200: { $ref: 'Message' } as unknown as typeof Message, ...errorResponses(400, 401, 403, 404, 429) }
    }
  }, async (request) => admin.deleteMessage(request.auth.userId, request.params.messageId))

  app.get('/users', {
    ...asStaff,
    schema: {
      security, tags, operationId: 'adminListUsers', summary: 'Users in username order (by prefix when query is given), with roles and suspension',
      description: staffNote, querystring: AdminUserQuery, response: { 200: AdminUserPage, ...errorResponses(400, 401, 403) }
    }
  }, async (request) => admin.users(request.query.query, { limit: request.query.limit ?? 50, cursor: request.query.cursor }))

  app.get('/audit', {
    onRequest: app.authenticate,
    preHandler: role(['admin']),
    schema: {
      security, tags, operationId: 'adminAudit', summary: 'The audit log of admin actions, newest first',
      description: 'App role admin (else 403 FORBIDDEN).', querystring: AuditQuery, response: { 200: AuditPage, ...errorResponses(400, 401, 403) }
    }
  }, async (request) => admin.audit({ limit: request.query.limit ?? 50, cursor: request.query.cursor }))
}

export default routes
