// The retention sweep of sessions, refresh tokens and password resets
// (domain/session-retention.ts), every RETENTION_SWEEP_INTERVAL_MS in each
// process; the first a minute after start (or sooner, with a shorter
// interval), so a server restarted more often than the interval sweeps too.
import fp from 'fastify-plugin'
import { createSessionRetention, type SessionRetention } from '../../domain/session-retention.js'
import { createSessionsRepository } from '../../repositories/sessions.js'

declare module 'fastify' {
  interface FastifyInstance {
    sessionRetention: SessionRetention
  }
}

export default fp(async (app) => {
  const { config } = app
  const retention = createSessionRetention({
    sessions: createSessionsRepository(app.db),
    accessTokenTtlSeconds: config.accessTokenTtlSeconds,
    historyDays: config.sessionHistoryDays,
    onSessionsLapsed: (sessions) => {
      for (const { id, userId } of sessions) app.sessionEvents.emit('revoked', { sessionId: id, userId })
    }
  })
  app.decorate('sessionRetention', retention)

  // One pass at a time; the timers do not keep the process alive.
  let sweeping: Promise<void> = Promise.resolve()
  let first: NodeJS.Timeout | undefined
  let timer: NodeJS.Timeout | undefined
  const sweep = () => {
    sweeping = retention.sweep()
      .then((r) => { if (r.tokens + r.lapsed + r.sessions + r.resets > 0) app.log.info(r, 'swept sessions and tokens') })
      .catch((err: unknown) => app.log.warn({ err }, 'session retention sweep failed; retried at the next'))
  }
  const next = () => { void sweeping.then(sweep) }
  app.addHook('onReady', async () => {
    first = setTimeout(next, Math.min(config.retentionSweepIntervalMs, 60_000)).unref()
    timer = setInterval(next, config.retentionSweepIntervalMs).unref()
  })
  app.addHook('preClose', async () => {
    clearTimeout(first)
    clearInterval(timer)
    await sweeping
  })
}, { name: 'session-retention', dependencies: ['db', 'config', 'accounts'] })
