// Group commit for posts. Prisma costs about 0.8 ms of CPU per call, so one
// transaction per message caps a process near 2,000 posts/s. Posts that
// arrive while earlier ones are being written wait and then go together: one
// transaction, a fixed handful of statements (lock, members, seqs, one
// multi-row insert of messages and events), one commit. Each request is
// answered only after that commit. At low load a batch is a single post, so
// latency does not suffer.
import type pg from 'pg'
import type { RealtimePublisher } from '../realtime/events.js'
import type { MessageRow } from '../repositories/messages.js'
import { createPostBatchRepository } from '../repositories/post-batch.js'
import { badRequest, notFound } from './errors.js'
import { newId } from './ids.js'
import { isDatabaseUnavailable, isUniqueViolation } from './prisma-errors.js'
import { toMessage, type MessageView } from './views.js'

export interface PostInput { body: string, clientMessageId?: string | null | undefined, replyToId?: string | null | undefined }
export interface PostResult { message: MessageView, created: boolean }

interface Pending {
  userId: string
  conversationId: string
  input: PostInput
  resolve (r: PostResult): void
  reject (err: unknown): void
}

type Outcome = { ok: PostResult } | { alias: Pending } | { error: unknown }

export interface PostBatcherDeps {
  pool: pg.Pool
  publisher: RealtimePublisher
  /** The one-post path, used when a batch meets a concurrent duplicate. */
  postOne (userId: string, conversationId: string, input: PostInput): Promise<PostResult>
  maxBatch?: number
  maxInFlight?: number
}

const keyOf = (p: Pending) => `${p.conversationId}|${p.userId}|${p.input.clientMessageId}`

export function createPostBatcher (deps: PostBatcherDeps) {
  const maxBatch = deps.maxBatch ?? 256
  const maxInFlight = deps.maxInFlight ?? 2
  const queue: Pending[] = []
  let inFlight = 0
  let scheduled = false

  function pump () {
    scheduled = false
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = queue.splice(0, maxBatch)
      inFlight++
      void run(batch).finally(() => {
        inFlight--
        pump()
      })
    }
  }

  async function execute (client: pg.PoolClient, batch: Pending[]) {
    const repo = createPostBatchRepository(client)
    const outcomes = new Map<Pending, Outcome>()
    const conversationIds = [...new Set(batch.map((p) => p.conversationId))]
    const found = await repo.lock(conversationIds)
    const members = found.size === 0 ? [] : await repo.activeMembers([...found])
    const joined = new Map(members.map((m) => [`${m.conversationId}|${m.userId}`, m.joinedSeq]))
    const recipients = new Map<string, string[]>()
    for (const m of members) {
      const list = recipients.get(m.conversationId)
      if (list === undefined) recipients.set(m.conversationId, [m.userId])
      else list.push(m.userId)
    }

    let live = batch.filter((p) => {
      if (joined.has(`${p.conversationId}|${p.userId}`)) return true
      outcomes.set(p, { error: notFound('Conversation') })
      return false
    })

    // Idempotent retries: an earlier message with the same clientMessageId, or
    // the same key twice in this batch.
    const keyed = live.filter((p) => p.input.clientMessageId != null)
    if (keyed.length > 0) {
      const existing = await repo.existingByClientId(keyed.map((p) => ({ conversationId: p.conversationId, senderId: p.userId, clientMessageId: p.input.clientMessageId! })))
      const byKey = new Map(existing.map((m) => [`${m.conversationId}|${m.senderId}|${m.clientMessageId}`, m]))
      const firstInBatch = new Map<string, Pending>()
      live = live.filter((p) => {
        if (p.input.clientMessageId == null) return true
        const stored = byKey.get(keyOf(p))
        if (stored !== undefined) {
          outcomes.set(p, { ok: { message: toMessage(stored), created: false } })
          return false
        }
        const first = firstInBatch.get(keyOf(p))
        if (first !== undefined) {
          outcomes.set(p, { alias: first })
          return false
        }
        firstInBatch.set(keyOf(p), p)
        return true
      })
    }

    const replyIds = live.flatMap((p) => p.input.replyToId != null ? [p.input.replyToId] : [])
    if (replyIds.length > 0) {
      const originals = await repo.seqsOf(replyIds)
      live = live.filter((p) => {
        if (p.input.replyToId == null) return true
        const original = originals.get(p.input.replyToId)
        const from = joined.get(`${p.conversationId}|${p.userId}`)!
        if (original !== undefined && original.conversationId === p.conversationId && original.seq >= from) return true
        outcomes.set(p, { error: badRequest('body/replyToId must be a message of this conversation') })
        return false
      })
    }

    const published: Array<{ conversationId: string, rows: MessageRow[] }> = []
    if (live.length > 0) {
      const counts = new Map<string, number>()
      for (const p of live) counts.set(p.conversationId, (counts.get(p.conversationId) ?? 0) + 1)
      const taken = await repo.allocate(counts)
      const next = new Map([...taken].map(([id, t]) => [id, t.lastSeq - counts.get(id)! + 1]))
      const rows: MessageRow[] = live.map((p) => {
        const seq = next.get(p.conversationId)!
        next.set(p.conversationId, seq + 1)
        return {
          id: newId(),
          conversationId: p.conversationId,
          seq,
          senderId: p.userId,
          body: p.input.body.trim(),
          clientMessageId: p.input.clientMessageId ?? null,
          replyToId: p.input.replyToId ?? null,
          createdAt: taken.get(p.conversationId)!.at,
          editedAt: null,
          deletedAt: null
        }
      })
      const views = rows.map(toMessage)
      await repo.insert(rows, views.map((v) => JSON.stringify(v)))
      live.forEach((p, i) => outcomes.set(p, { ok: { message: views[i]!, created: true } }))
      const byConversation = new Map<string, MessageRow[]>()
      for (const r of rows) {
        const list = byConversation.get(r.conversationId)
        if (list === undefined) byConversation.set(r.conversationId, [r])
        else list.push(r)
      }
      for (const [conversationId, list] of byConversation) published.push({ conversationId, rows: list })
    }
    return { outcomes, published, recipients }
  }

  async function run (batch: Pending[]): Promise<void> {
    let client: pg.PoolClient
    try {
      client = await deps.pool.connect()
    } catch (err) {
      for (const p of batch) p.reject(err)
      return
    }
    // A connection lost while checked out also emits 'error'; the failed
    // query reports it, so the event itself must not crash the process.
    const onLost = () => {}
    client.on('error', onLost)
    const release = (err?: Error) => {
      client.off('error', onLost)
      client.release(err)
    }
    let result: Awaited<ReturnType<typeof execute>>
    try {
      await client.query('BEGIN')
      result = await execute(client, batch)
      await client.query('COMMIT')
      release()
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      release(isDatabaseUnavailable(err) ? err as Error : undefined)
      if (isUniqueViolation(err)) {
        // Another process stored one of these clientMessageIds meanwhile:
        // resolve each post on its own, which returns that original.
        for (const p of batch) deps.postOne(p.userId, p.conversationId, p.input).then(p.resolve, p.reject)
        return
      }
      for (const p of batch) p.reject(err)
      return
    }
    for (const { conversationId, rows } of result.published) {
      deps.publisher.publishEvents(rows.map((r) => {
        const data = toMessage(r)
        return { conversationId, seq: r.seq, type: 'message.created' as const, createdAt: data.createdAt, data }
      }), result.recipients.get(conversationId) ?? [])
    }
    for (const p of batch) {
      let outcome = result.outcomes.get(p)!
      if ('alias' in outcome) {
        const original = result.outcomes.get(outcome.alias)!
        outcome = 'ok' in original ? { ok: { message: original.ok.message, created: false } } : original
      }
      if ('ok' in outcome) p.resolve(outcome.ok)
      else if ('error' in outcome) p.reject(outcome.error)
    }
  }

  return {
    submit (userId: string, conversationId: string, input: PostInput): Promise<PostResult> {
      return new Promise((resolve, reject) => {
        queue.push({ userId, conversationId, input, resolve, reject })
        // Gather everything that arrives in this turn of the event loop.
        if (!scheduled) {
          scheduled = true
          setImmediate(pump)
        }
      })
    }
  }
}
