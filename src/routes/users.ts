import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses, IdParams } from '../schemas/common.js'
import { PublicUser, User, UserList, UserSearchQuery } from '../schemas/users.js'

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
    schema: { ...auth.schema, tags: ['users'], operationId: 'getUser', summary: 'Public profile with presence', params: IdParams, response: { 200: publicUserRef, ...errorResponses(400, 401, 404) } }
  }, async (request) => {
    const profile = await users.profile(request.params.id)
    // A user who blocked the caller shows them no presence (README "Accounts and safety").
    const hidden = (await app.safety.blocks.blockersOf(request.auth.userId, [profile.id])).length > 0
    return hidden ? { ...profile, online: false, lastSeenAt: null } : profile
  })

  app.get('/users', {
    ...auth,
    schema: { ...auth.schema, tags: ['users'], operationId: 'searchUsers', summary: 'Username prefix search', querystring: UserSearchQuery, response: { 200: UserList, ...errorResponses(400, 401) } }
  }, async (request) => users.search(request.query.query, request.query.limit ?? 20))
}

export default routes
