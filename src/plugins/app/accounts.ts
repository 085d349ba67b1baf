// The account service, and the signal other parts (sockets, caches) listen to
// when a session ends.
import { EventEmitter } from 'node:events'
import fp from 'fastify-plugin'
import { createAccountService, type AccountService } from '../../domain/accounts.js'
import { setPasswordHashCost } from '../../domain/passwords.js'

export interface SessionRevokedEvent { sessionId: string, userId: string }

declare module 'fastify' {
  interface FastifyInstance {
    accounts: AccountService
    /** Emits 'revoked' (SessionRevokedEvent) when a session is logged out or revoked. */
    sessionEvents: EventEmitter<{ revoked: [SessionRevokedEvent] }>
  }
}

export default fp(async (app) => {
  setPasswordHashCost(app.config.passwordHashCost)
  const sessionEvents = new EventEmitter<{ revoked: [SessionRevokedEvent] }>()
  sessionEvents.setMaxListeners(0)
  app.decorate('sessionEvents', sessionEvents)
  app.decorate('accounts', createAccountService({
    prisma: app.db.prisma,
    pool: app.db.pool,
    lane: app.db.lane,
    signAccessToken: (claims) => app.jwt.sign(claims),
    accessTokenTtlSeconds: app.config.accessTokenTtlSeconds,
    refreshTokenTtlSeconds: app.config.refreshTokenTtlSeconds,
    refreshReuseGraceSeconds: app.config.refreshReuseGraceSeconds,
    sessionsPerUser: app.config.sessionsPerUser,
    onSessionRevoked: (sessionId, userId) => { sessionEvents.emit('revoked', { sessionId, userId }) }
  }))
}, { name: 'accounts', dependencies: ['db', 'jwt', 'config'] })
