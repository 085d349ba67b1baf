// Notification preferences: the caller's level, and their level and mute in
// each conversation. They decide offline notifications (the push webhook)
// through shouldNotify (src/domain/notification-preferences.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses, IdParams } from '../schemas/common.js'
import { ConversationNotifications, SetConversationNotificationsBody, SetUserNotificationsBody, UserNotifications } from '../schemas/conversations.js'
import { writeBudget } from './budgets.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { preferences } = app.chat
  const security = [{ bearer: [] }]
  const tags = ['notifications']

  app.get('/me/notifications', {
    onRequest: app.authenticate,
    schema: {
      security, tags, operationId: 'getNotificationSettings',
      summary: 'The caller\'s notification level, for every conversation whose own level is default',
      response: { 200: UserNotifications, ...errorResponses(401) }
    }
  }, async (request) => preferences.getUser(request.auth.userId))

  app.put('/me/notifications', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security, tags, operationId: 'setNotificationSettings',
      summary: 'Set the caller\'s notification level: all (default), mentions or none',
      body: SetUserNotificationsBody,
      response: { 200: UserNotifications, ...errorResponses(400, 401, 429) }
    }
  }, async (request) => preferences.setUser(request.auth.userId, request.body.level))

  app.put('/conversations/:id/notifications', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security, tags, operationId: 'setConversationNotifications',
      summary: 'Set the caller\'s notification level in a conversation (default: the user\'s level) and mute it until a time',
      description: 'Only for the caller: nothing is written to the event log and no other member sees it. muteUntil omitted keeps the ' +
        'current mute; null ends it. While muted, nothing of the conversation is notified, mentions included (mentionCount still counts). ' +
        'Anyone but a current member gets the 404 of a missing conversation.',
      params: IdParams,
      body: SetConversationNotificationsBody,
      response: { 200: ConversationNotifications, ...errorResponses(400, 401, 404, 429) }
    }
  }, async (request) => preferences.setConversation(request.auth.userId, request.params.id, request.body))
}

export default routes
