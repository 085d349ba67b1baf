// Bearer authentication, declared per route (`onRequest: app.authenticate`).
// A token must verify, and its session must not be revoked. Live sessions are
// cached for a while: a revocation clears its entry at once in every process
// (here, and through the broker elsewhere), and when broker messages may have
// been lost the whole cache is dropped; the time limit only bounds the rest.
import fp from 'fastify-plugin'
import { LRUCache } from 'lru-cache'
import type { FastifyRequest } from 'fastify'
import { unauthorized } from '../../domain/errors.js'
import { isUuid } from '../../domain/ids.js'
import type { AccessClaims } from '../../domain/accounts.js'

export interface Auth { userId: string, sessionId: string }

declare module 'fastify' {
  interface FastifyInstance {
    authenticate (request: FastifyRequest): Promise<void>
    /** Verifies an access token (signature, expiry, live session); throws a 401 AppError. */
    verifyAccessToken (token: string): Promise<Auth>
    /** Drops a session from the cache of live sessions (revoked elsewhere). */
    forgetSession (sessionId: string): void
    /** Drops every cached session (a revocation elsewhere may have been missed). */
    forgetAllSessions (): void
  }
  interface FastifyRequest {
    auth: Auth
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessClaims
    user: AccessClaims
  }
}

const SESSION_CACHE_TTL_MS = 30_000

export default fp(async (app) => {
  const activeSessions = new LRUCache<string, true>({ max: 100_000, ttl: SESSION_CACHE_TTL_MS })
  app.sessionEvents.on('revoked', ({ sessionId }) => { activeSessions.delete(sessionId) })
  app.decorate('forgetSession', (sessionId: string) => { activeSessions.delete(sessionId) })
  app.decorate('forgetAllSessions', () => { activeSessions.clear() })

  async function checkSession (claims: AccessClaims): Promise<Auth> {
    // Signed by us, but checked as any input: a claim that is not a canonical
    // id would fail its SQL (500), or not match the ids it is compared with.
    if (typeof claims.sub !== 'string' || typeof claims.sid !== 'string' || !isUuid(claims.sub) || !isUuid(claims.sid)) throw unauthorized()
    if (!activeSessions.has(claims.sid)) {
      if (!(await app.accounts.isSessionActive(claims.sid))) throw unauthorized('The session has been logged out or revoked')
      activeSessions.set(claims.sid, true)
    }
    return { userId: claims.sub, sessionId: claims.sid }
  }

  function verifyError (err: unknown) {
    const code = (err as { code?: string }).code
    return unauthorized(code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED' || code === 'FAST_JWT_EXPIRED'
      ? 'The access token has expired'
      : 'Missing or invalid access token')
  }

  app.decorateRequest('auth', null as unknown as Auth)

  app.decorate('verifyAccessToken', async (token: string) => {
    let claims: AccessClaims
    try {
      claims = app.jwt.verify<AccessClaims>(token)
    } catch (err) {
      throw verifyError(err)
    }
    return checkSession(claims)
  })

  app.decorate('authenticate', async (request: FastifyRequest) => {
    let claims: AccessClaims
    try {
      claims = await request.jwtVerify<AccessClaims>()
    } catch (err) {
      throw verifyError(err)
    }
    request.auth = await checkSession(claims)
  })
}, { name: 'authenticate', dependencies: ['jwt', 'accounts'] })
