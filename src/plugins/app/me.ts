// The caller's own account: password, sessions, profile, email, password
// reset, deletion and export. Sessions it ends go through the same signal as
// logout, so their sockets close with 4001 on every process.
import fp from 'fastify-plugin'
import { createAccountDeletionService, type AccountDeletionService } from '../../domain/account-deletion.js'
import { createAccountRecoveryService, type AccountRecoveryService } from '../../domain/account-recovery.js'
import { createAccountSelfService, type AccountSelfService } from '../../domain/account-self.js'
import { createMailer } from '../../mail/mailer.js'
import { keyBudget } from '../external/rate-limit.js'

declare module 'fastify' {
  interface FastifyInstance {
    me: { self: AccountSelfService, recovery: AccountRecoveryService, deletion: AccountDeletionService }
  }
}

export default fp(async (app) => {
  const { config } = app
  const onSessionsRevoked = (sessionIds: string[], userId: string) => {
    for (const sessionId of sessionIds) app.sessionEvents.emit('revoked', { sessionId, userId })
  }
  const mailer = createMailer({ smtpUrl: config.smtpUrl, from: config.mailFrom })
  if ((config.smtpUrl === undefined) !== (config.mailFrom === undefined)) {
    app.log.warn('SMTP_URL and MAIL_FROM must both be set for account mail; sending none (MAIL_NOT_CONFIGURED)')
  }
  const resetMails = keyBudget(app, config.passwordResetMailsPerHour, 3_600_000)
  const recovery = createAccountRecoveryService({
    ...app.db,
    mailer,
    resetMailBudget: (userId) => resetMails(`reset-mails:${userId}`),
    resetTtlMinutes: config.passwordResetTtlMinutes,
    codeTtlMinutes: config.emailCodeTtlMinutes,
    onSessionsRevoked,
    onError: (err, what) => app.log.warn({ err }, what)
  })
  app.decorate('me', {
    self: createAccountSelfService({
      ...app.db,
      onSessionsRevoked,
      accessTokenTtlSeconds: config.accessTokenTtlSeconds,
      announceProfile: (userIds, profile) => app.realtime.publishFrame(userIds, { type: 'user.updated', data: profile }),
      onFilesReleased: () => app.uploads.release()
    }),
    recovery,
    deletion: createAccountDeletionService({
      ...app.db,
      publisher: app.realtime,
      messages: config.deletedAccountMessages,
      invitationTtlDays: config.invitationTtlDays,
      announceInvitationWithdrawn: (userIds, conversationId) => app.realtime.publishFrame(userIds, { type: 'invitation.withdrawn', data: { conversationId } }),
      onSessionsRevoked,
      onFilesReleased: () => app.uploads.release()
    })
  })
  // Deletions a crash interrupted are finished in the background once the app is up.
  let sweep: Promise<void> = Promise.resolve()
  app.addHook('onReady', async () => {
    sweep = app.me.deletion.finishPending()
      .then((n) => { if (n > 0) app.log.info({ accounts: n }, 'finished interrupted account deletions') })
      .catch((err: unknown) => app.log.warn({ err }, 'could not finish interrupted account deletions'))
  })
  app.addHook('preClose', async () => {
    await sweep
    await recovery.idle()
    mailer?.close()
  })
}, { name: 'me', dependencies: ['db', 'config', 'rate-limit', 'accounts', 'realtime', 'uploads'] })
