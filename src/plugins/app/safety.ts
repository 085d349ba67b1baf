// The safety services: blocks, reports, conversation moderation and the
// operator's admin service (src/domain/safety-*.ts).
import fp from 'fastify-plugin'
import { createAdminService, type AdminService } from '../../domain/safety-admin.js'
import { createBlockService, type BlockService } from '../../domain/safety-blocks.js'
import { createModerationService, type ModerationService } from '../../domain/safety-moderation.js'
import { createReportService, type ReportService } from '../../domain/safety-reports.js'

declare module 'fastify' {
  interface FastifyInstance {
    safety: { blocks: BlockService, reports: ReportService, moderation: ModerationService, admin: AdminService }
  }
}

export default fp(async (app) => {
  const { prisma, pool } = app.db
  app.decorate('safety', {
    blocks: createBlockService({ prisma, pool }),
    reports: createReportService({ prisma, pool, deletedAccountMessages: app.config.deletedAccountMessages }),
    moderation: createModerationService({
      prisma,
      pool,
      publisher: app.realtime,
      invitationTtlDays: app.config.invitationTtlDays,
      announceInvitationWithdrawn: (userIds, conversationId) => app.realtime.publishFrame(userIds, { type: 'invitation.withdrawn', data: { conversationId } })
    }),
    admin: createAdminService({
      prisma,
      pool,
      publisher: app.realtime,
      onSessionRevoked: (sessionId, userId) => { app.sessionEvents.emit('revoked', { sessionId, userId }) },
      // The account plugin (me.ts) registers after this one; it is there by the time a request asks.
      deleteAccount: (userId, within) => app.me.deletion.deleteAccount(userId, within),
      onFilesReleased: () => app.uploads.release()
    })
  })
}, { name: 'safety', dependencies: ['db', 'config', 'accounts', 'realtime'] })
