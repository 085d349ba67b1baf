// Device push: the device registry always (so apps can register before push
// is set up), and the push service when at least one provider has its
// credentials in the config. The realtime node hands it committed messages
// and read positions.
import fp from 'fastify-plugin'
import type { PushService } from '../../notifications/push/service.js'
import type { PushProvider } from '../../notifications/push/providers/provider.js'
import { shouldNotify } from '../../domain/notification-preferences.js'
import { createDevicesRepository, type DevicesRepository, type Platform } from '../../repositories/devices.js'
import { createThreadsRepository } from '../../repositories/threads.js'

export interface Push {
  devices: DevicesRepository
  /** The platforms with a configured provider. */
  platforms: Platform[]
  /** Undefined when no provider is configured. */
  service: PushService | undefined
  vapidPublicKey: string | null
}

declare module 'fastify' {
  interface FastifyInstance {
    push: Push
  }
}

export default fp<{ databaseUrl: string }>(async (app, opts) => {
  const { push: config } = app.config
  const devices = createDevicesRepository(app.db)
  const providers: PushProvider[] = []
  const common = { ca: config.ca, timeoutMs: config.timeoutMs, ttlSeconds: config.ttlSeconds }
  // Each provider's library is loaded only when it is configured.
  if (config.fcm !== undefined) providers.push((await import('../../notifications/push/providers/fcm.js')).createFcmProvider(config.fcm, common))
  if (config.apns !== undefined) providers.push((await import('../../notifications/push/providers/apns.js')).createApnsProvider(config.apns, common))
  if (config.webpush !== undefined) {
    providers.push((await import('../../notifications/push/providers/webpush.js')).createWebPushProvider(config.webpush, { ...common, concurrency: config.concurrency, endpointHosts: config.webpushEndpointHosts }))
  }

  let service: PushService | undefined
  if (providers.length > 0) {
    const { PushService } = await import('../../notifications/push/service.js')
    service = new PushService({
      databaseUrl: opts.databaseUrl,
      config,
      devices,
      providers,
      online: (userIds) => app.presence.online(userIds),
      // The preferences' rule, as the push webhook asks it (blocks, mutes, levels, mentions).
      shouldNotify: (questions) => shouldNotify(app.db, questions),
      // A thread reply: its followers and the mentioned only.
      threadFollowers: (rootIds) => createThreadsRepository(app.db).followers(rootIds),
      log: app.log.child({ component: 'push' }),
      ...(app.hasDecorator('metrics') ? { observer: app.metrics.push } : {})
    })
    await service.start()
    const started = service
    app.realtime.committed.on('events', (events, userIds) => started.onEvents(events, userIds))
    app.realtime.committed.on('read', (receipt) => started.onRead(receipt))
    app.addHook('onClose', async () => { await started.stop(Math.min(5_000, app.config.shutdownTimeoutMs)) })
  }
  app.decorate('push', { devices, platforms: providers.map((p) => p.platform), service, vapidPublicKey: config.webpush?.publicKey ?? null } satisfies Push)
}, { name: 'push', dependencies: ['config', 'db', 'realtime'] })
