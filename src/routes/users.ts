import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { notFound } from '../domain/errors.js'
import { createUsersRepository } from '../repositories/users.js'
import { errorResponses, IdParams } from '../schemas/common.js'
import { PublicUser, User, UserList, UserSearchQuery } from '../schemas/users.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const users = createUsersRepository(app.db.prisma)
  const auth = { onRequest: app.authenticate, schema: { security: [{ bearer: [] }] } }
  const userRef = { $ref: 'User' } as unknown as typeof User
  const publicUserRef = { $ref: 'PublicUser' } as unknown as typeof PublicUser

  const withPresence = (online: Set<string>) => (u: { id: string, username: string, displayName: string, createdAt: Date, lastSeenAt: Date | null }) => ({
    id: u.id,
    username: u.username,
    displayName: u.displayName,
    createdAt: u.createdAt.toISOString(),
    online: online.has(u.id),
    lastSeenAt: u.lastSeenAt?.toISOString() ?? null
  })

  app.get('/me', {
    ...auth,
    schema: { ...auth.schema, tags: ['users'], operationId: 'getMe', summary: 'The caller', response: { 200: userRef, ...errorResponses(401) } }
  }, async (request) => {
    const me = await users.findById(request.auth.userId)
    if (me === null) throw notFound('User')
    return { ...me, createdAt: me.createdAt.toISOString() }
  })

  app.get('/users/:id', {
    ...auth,
    schema: { ...auth.schema, tags: ['users'], operationId: 'getUser', summary: 'Public profile with presence', params: IdParams, response: { 200: publicUserRef, ...errorResponses(400, 401, 404) } }
  }, async (request) => {
    const user = await users.findById(request.params.id)
    if (user === null) throw notFound('User')
    return withPresence(await app.presence.online([user.id]))(user)
  })

  app.get('/users', {
    ...auth,
    schema: { ...auth.schema, tags: ['users'], operationId: 'searchUsers', summary: 'Username prefix search', querystring: UserSearchQuery, response: { 200: UserList, ...errorResponses(400, 401) } }
  }, async (request) => {
    const found = await users.searchByPrefix(request.query.query.toLowerCase(), request.query.limit ?? 20)
    return { users: found.map(withPresence(await app.presence.online(found.map((u) => u.id)))) }
  })
}

export default routes
