// The chat services: conversations, members, messages and users. They hand committed
// events to `app.realtime`, the realtime node (realtime/node.ts).
import fp from 'fastify-plugin'
import { createChannelDirectory, type ChannelDirectory } from '../../domain/channels.js'
import { createConversationService, type ConversationService, type InvitationData } from '../../domain/conversations.js'
import { createInviteService, type InviteService } from '../../domain/invites.js'
import { createConversationsRepository } from '../../repositories/conversations.js'
import { createMemberService, type MemberService } from '../../domain/members.js'
import { createMessageService, type MessageService } from '../../domain/messages.js'
import { createUserService, type UserService } from '../../domain/users.js'
import { createThreadService, type ThreadService } from '../../domain/threads.js'
import type { RealtimePublisher } from '../../domain/events.js'
import { createNotificationPreferenceService, type NotificationPreferenceService } from '../../domain/notification-preferences.js'
import { createAdmission, type Admission } from '../../domain/admission.js'
import { createSyncService, type SyncService } from '../../domain/sync.js'
import { createSyncRepository } from '../../repositories/sync.js'
import { preparePostBatch } from '../../repositories/post-batch.js'
import { openConnections } from '../../db/pool.js'
import { SyncClock } from '../../realtime/sync-clock.js'

declare module 'fastify' {
  interface FastifyInstance {
    chat: {
      conversations: ConversationService, members: MemberService, messages: MessageService, users: UserService,
      /** Threads: replies pages, read positions, the threads a user follows. */
      threads: ThreadService,
      /** Notification preferences (their rule, shouldNotify, serves the offline notifier). */
      preferences: NotificationPreferenceService
      /** The public channel directory (joining is members.join). */
      channels: ChannelDirectory
      /** Invite links of groups. */
      invites: InviteService
      /** GET /v1/sync: what changed for an account since a cursor. */
      sync: SyncService
      /** Its pages run SYNC_CONCURRENCY at a time, the others wait in turn (domain/admission.ts). */
      syncAdmission: Admission
    }
    /** The sync cursor each ready frame carries (one snapshot per second, taken before the sockets it is handed to). */
    syncClock: SyncClock
  }
}

export default fp(async (app) => {
  // Committed events go to the realtime node, which fans them out (and to its listeners: offline notifications).
  const publisher: RealtimePublisher = app.realtime
  const deps = {
    prisma: app.db.prisma,
    pool: app.db.pool,
    lane: app.db.lane,
    replica: app.db.replica,
    publisher,
    groupMaxMembers: app.config.groupMaxMembers,
    membersPreview: app.config.conversationMembersPreview,
    groupAdds: app.config.groupAdds,
    invitationsMaxPending: app.config.invitationsMaxPending,
    announceInvitation: (userIds: string[], data: InvitationData) => app.realtime.publishFrame(userIds, { type: 'invitation', data }),
    announceInvitationWithdrawn: (userIds: string[], conversationId: string) => app.realtime.publishFrame(userIds, { type: 'invitation.withdrawn', data: { conversationId } }),
    invitationTtlDays: app.config.invitationTtlDays,
    onFilesReleased: () => app.uploads.release()
  }
  const sync = createSyncService({
    repo: createSyncRepository(app.db),
    membersPreview: app.config.conversationMembersPreview
  })
  app.decorate('syncClock', new SyncClock({ take: sync.now }))
  app.decorate('chat', {
    conversations: createConversationService(deps),
    members: createMemberService(deps),
    messages: createMessageService({
      ...deps,
      onFilesReleased: () => app.uploads.release(),
      postsInFlight: app.config.postPoolSize,
      ...(app.hasDecorator('metrics') ? { observeBatch: app.metrics.postBatch } : {})
    }),
    threads: createThreadService(deps),
    users: createUserService({ prisma: app.db.prisma, pool: app.db.pool, presence: app.presence }),
    preferences: createNotificationPreferenceService(app.db),
    channels: createChannelDirectory(createConversationsRepository(app.db)),
    invites: createInviteService(deps),
    sync,
    syncAdmission: createAdmission({
      concurrency: app.config.syncConcurrency,
      maxQueued: app.config.syncQueueMax,
      maxWaitMs: app.config.syncQueueTimeoutMs,
      what: 'Syncs'
    })
  })
  // The lane's connections (db.ts: they stay open), each opened and with post_messages planned before the
  // server takes requests. A failure only costs latency: the lane opens connections as it needs them.
  app.addHook('onReady', async () => {
    const prepared = await openConnections(app.db.lane, preparePostBatch)
    const size = app.db.lane.options.max
    if (prepared < (size ?? 0)) app.log.warn({ prepared, size }, 'not every connection of the posts\' lane could be opened at start-up')
  })
}, { name: 'chat', dependencies: ['db', 'config', 'realtime', 'uploads'] })
