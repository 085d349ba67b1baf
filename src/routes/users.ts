import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses, IdParams } from '../schemas/common.js'
import { PresenceList, PresenceQuery, PublicUser, User, UserList, UserSearchQuery } from '../schemas/users.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { users } = app.chat
  const auth = { onRequest: app.authenticate, schema: { security: [{ bearer: [] }] } }
  const userRef = { $ref: 'User' } as unknown as typeof User
  const publicUserRef = { $ref: 'PublicUser' } as unknown as typeof PublicUser

  app.get('/me', {
    ...auth,
    schema: { ...auth.schema, tags: ['users'], operationId: 'getMe', summary: 'The caller', response: { 200: userRef, ...errorResponses(401) } }
  }, async (request) => users.me(request.auth.userId))

  app.get('/users/:id', {
    ...auth,
    schema: { ...auth.schema, tags: ['users'], operationId: 'getUser', summary: 'Public profile; online and lastSeenAt only when the user shares a conversation with the caller and has not blocked them (else false and null)', params: IdParams, response: { 200: publicUserRef, ...errorResponses(400, 401, 404) } }
  }, async (request) => users.profile(request.auth.userId, request.params.id))

  app.get('/users', {
    ...auth,
    schema: { ...auth.schema, tags: ['users'], operationId: 'searchUsers', summary: 'Username prefix search (3+ characters), without presence', querystring: UserSearchQuery, response: { 200: UserList, ...errorResponses(400, 401) } }
  }, async (request) => users.search(request.query.query, request.query.limit ?? 20))

  app.get('/presence', {
    ...auth,
    schema: { ...auth.schema, tags: ['users'], operationId: 'getPresence', summary: 'Presence of up to 100 users at once (a contact list), with the rule of GET /v1/users/:id', querystring: PresenceQuery, response: { 200: PresenceList, ...errorResponses(400, 401) } }
  }, async (request) => users.presence(request.auth.userId, request.query.userIds.split(',')))
}

export default routes
