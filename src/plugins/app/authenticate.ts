// Bearer authentication, declared per route (`onRequest: app.authenticate`).
// A token must verify, and its session must not be revoked. Live sessions are
// cached for a while: a revocation clears its entry at once in every process
// (here, and through the broker elsewhere), and when broker messages may have
// been lost the whole cache is dropped; the time limit only bounds the rest.
// An answer read while a revocation landed is not cached (LiveSessions).
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { unauthorized } from '../../domain/errors.js'
import { isUuid } from '../../domain/ids.js'
import { LiveSessions } from '../../domain/live-sessions.js'
import type { AccessClaims } from '../../domain/accounts.js'

export interface Auth { userId: string, sessionId: string }

declare module 'fastify' {
  interface FastifyInstance {
    authenticate (request: FastifyRequest): Promise<void>
    /**
     * Verifies an access token (signature, expiry, live session); throws a 401 AppError. `signed` is called
     * once the token is known to be ours and unexpired, before its session is checked (a database read at times).
     */
    verifyAccessToken (token: string, signed?: (auth: Auth) => void): Promise<Auth>
    /** Drops a session from the cache of live sessions (revoked elsewhere). */
    forgetSession (sessionId: string): void
    /** Drops every cached session (a revocation elsewhere may have been missed). */
    forgetAllSessions (): void
    /** A stamp to take before verifying a token whose admission outlives the check (a socket). */
    revocationStamp (): number
    /**
     * Whether the session was revoked, asked after what was admitted on a
     * check (taken at `stamp`) has become visible to revocations (a socket
     * in the hub): false at once when no revocation was seen since the stamp.
     */
    revokedSince (sessionId: string, stamp: number): Promise<boolean>
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
  const liveSessions = new LiveSessions({ max: 100_000, ttlMs: SESSION_CACHE_TTL_MS })
  app.sessionEvents.on('revoked', ({ sessionId }) => { liveSessions.revoked(sessionId) })
  app.decorate('forgetSession', (sessionId: string) => { liveSessions.revoked(sessionId) })
  app.decorate('forgetAllSessions', () => { liveSessions.clear() })
  app.decorate('revocationStamp', () => liveSessions.stamp())
  app.decorate('revokedSince', async (sessionId: string, stamp: number) =>
    liveSessions.changedSince(stamp) && !(await app.accounts.isSessionActive(sessionId)))

  async function checkSession (claims: AccessClaims, signed?: (auth: Auth) => void): Promise<Auth> {
    // Signed by us, but checked as any input: a claim that is not a canonical
    // id would fail its SQL (500), or not match the ids it is compared with.
    if (typeof claims.sub !== 'string' || typeof claims.sid !== 'string' || !isUuid(claims.sub) || !isUuid(claims.sid)) throw unauthorized()
    signed?.({ userId: claims.sub, sessionId: claims.sid })
    if (!liveSessions.has(claims.sid)) {
      const stamp = liveSessions.stamp()
      if (!(await app.accounts.isSessionActive(claims.sid))) throw unauthorized('The session has been logged out or revoked')
      // Not cached when a revocation was seen meanwhile: it may be this session's.
      liveSessions.remember(claims.sid, stamp)
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

  app.decorate('verifyAccessToken', async (token: string, signed?: (auth: Auth) => void) => {
    let claims: AccessClaims
    try {
      claims = app.jwt.verify<AccessClaims>(token)
    } catch (err) {
      throw verifyError(err)
    }
    return checkSession(claims, signed)
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
