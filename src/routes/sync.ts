// GET /v1/sync: what changed for the caller since a cursor (src/domain/sync.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { errorResponses } from '../schemas/common.js'
import { SyncPage, SyncQuery } from '../schemas/sync.js'
import { badRequest } from '../domain/errors.js'
import { isUuid } from '../domain/ids.js'

function parseKnown (text: string | undefined): Map<string, number> | undefined {
  if (text === undefined) return undefined
  const known = new Map<string, number>()
  for (const pair of text.split(',')) {
    const [id = '', seq = ''] = pair.split(':')
    const n = Number(seq)
    if (!isUuid(id) || !Number.isSafeInteger(n) || n > 2_147_483_647) throw badRequest('querystring/known must be conversationId:seq pairs')
    known.set(id, Math.max(n, known.get(id) ?? 0))
  }
  return known
}

function parseIds (text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined
  const ids = text.split(',')
  if (!ids.every(isUuid)) throw badRequest('querystring/eventsFor must be conversation ids')
  return ids
}

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { sync, syncAdmission } = app.chat

  app.get('/sync', {
    onRequest: app.authenticate,
    // Per user, counted after authentication. A reconnecting device makes one to a few; a page is a request.
    config: {
      rateLimit: {
        max: app.config.syncRateLimitPerMinute,
        timeWindow: 60_000,
        hook: 'preHandler',
        keyGenerator: (request: FastifyRequest) => request.auth.userId
      }
    },
    schema: {
      security: [{ bearer: [] }],
      tags: ['conversations'],
      operationId: 'sync',
      summary: 'Everything that changed for the caller since a cursor: conversations joined and left, their new events, own read positions, the badge',
      description: 'Keyset-paged: follow cursor while hasMore, then keep the last cursor for the next sync. Exact under concurrency: a change ' +
        'committed while a client pages is in that sync or the next, never in both, never in neither. A sync with nothing changed is one ' +
        'indexed query. The ready frame of the WebSocket carries a cursor too (README "Sync"). Bad cursors answer 400 VALIDATION_FAILED. ' +
        'Each process reads SYNC_CONCURRENCY pages at once and queues the others in arrival order; a page that finds the queue full, or ' +
        'that waited SYNC_QUEUE_TIMEOUT_MS, answers 503 UNAVAILABLE with a Retry-After of about the time the queue takes to drain.',
      querystring: SyncQuery,
      response: { 200: SyncPage, ...errorResponses(400, 401, 429, 503) }
    }
  }, async (request) => {
    const q = request.query
    const opts = { since: q.since, until: q.until, limit: q.limit, mode: q.mode, eventsFor: parseIds(q.eventsFor), known: parseKnown(q.known) }
    // In turn with the other syncs of this process (a reconnect storm's); skipped when the client left while it waited.
    return await syncAdmission.run(() => sync.sync(request.auth.userId, opts), () => request.raw.socket.destroyed)
  })
}

export default routes
