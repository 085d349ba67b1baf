// Offline notifications through the push webhook, when PUSH_WEBHOOK_URL is
// set. The realtime node hands it every committed batch of events.
import fp from 'fastify-plugin'
import type { OfflineNotifier } from '../../notifications/offline.js'
import { shouldNotify } from '../../domain/notification-preferences.js'
import { createMessagesRepository } from '../../repositories/messages.js'
import { createThreadsRepository } from '../../repositories/threads.js'

declare module 'fastify' {
  interface FastifyInstance {
    notifications: OfflineNotifier
  }
}

export default fp<{ databaseUrl: string }>(async (app, opts) => {
  const config = app.config.pushWebhook
  if (config === undefined) return
  // Loaded only when configured: pg-boss is a large import for every start.
  const { startOfflineNotifier } = await import('../../notifications/offline.js')
  const threads = createThreadsRepository(app.db)
  const messages = createMessagesRepository(app.db)
  const notifier = await startOfflineNotifier({
    databaseUrl: opts.databaseUrl,
    config,
    online: (userIds) => app.presence.online(userIds),
    shouldNotify: (questions) => shouldNotify(app.db, questions),
    threadFollowers: (rootIds) => threads.followers(rootIds),
    messageLive: (id) => messages.isLive(id),
    log: app.log.child({ component: 'push-webhook' }),
    ...(app.hasDecorator('metrics') ? { count: app.metrics.webhook } : {})
  })
  app.decorate('notifications', notifier)
  app.realtime.committed.on('events', (events, userIds) => notifier.onEvents(events, userIds))
  app.addHook('onClose', async () => { await notifier.stop(Math.min(5_000, app.config.shutdownTimeoutMs)) })
}, { name: 'notifications', dependencies: ['config', 'realtime'] })
