// Group commit for posts. One transaction per message through Prisma costs
// its per-call CPU for every post (README: The posting path's driver). Posts that
// arrive while earlier ones are being written wait and then go together into
// one call of the post_messages database function: one round trip that takes
// the conversations' locks, judges each post (membership, idempotent retry,
// reply target), numbers and stores the messages and their events, and
// commits. The locks are held only inside the database, never across a round
// trip through a busy event loop, so batches of other processes wait briefly.
// Each request is answered only after that commit. At low load a batch is a
// single post, so latency does not suffer.
import type pg from 'pg'
import type { RealtimePublisher } from './events.js'
import { createdEvents, postBatch, type BatchOutcome } from '../repositories/post-batch.js'
import type { MessageRow } from '../repositories/messages.js'
import { authorSummaries } from '../repositories/threads.js'
import { AppError, badRequest, notFound, RetryLaterError } from './errors.js'
import { toChatEvent } from './event-log.js'
import { newId } from './ids.js'
import { parseMentions } from './mentions.js'
import { isDatabaseUnavailable, isDataException, isStatementTimeout, isUniqueViolation } from './prisma-errors.js'
import { toMessage, type MessageView } from './views.js'
import type { Metadata } from './custom-data.js'

export interface PostInput {
  body?: string | undefined
  clientMessageId?: string | null | undefined
  replyToId?: string | null | undefined
  attachments?: string[] | undefined
  /** Checked by the caller (src/domain/custom-data.ts) before submit. */
  type?: string | undefined
  metadata?: Metadata | null | undefined
  /** The root of the thread this replies in (src/domain/threads.ts). */
  threadRootId?: string | null | undefined
}
export interface PostResult { message: MessageView, created: boolean }

interface Pending {
  userId: string
  conversationId: string
  input: PostInput
  resolve (r: PostResult): void
  reject (err: unknown): void
}

export interface PostBatcherDeps {
  pool: pg.Pool
  publisher: RealtimePublisher
  maxBatch?: number
  maxInFlight?: number
  /** Told of every post_messages call: the posts it carried and whether it committed (for metrics). */
  observeBatch?: (posts: number, committed: boolean) => void
  /** How long a batch whose answer was lost is looked for once the database answers again (ms; default 60 s). */
  lostAnswerSearchMs?: number
}

const LOST_FIRST_MS = 250
const LOST_MAX_MS = 5_000
/** Message ids of lost answers kept to look for (a bound on memory through a long outage). */
const LOST_MAX_IDS = 10_000

export function createPostBatcher (deps: PostBatcherDeps) {
  const maxBatch = deps.maxBatch ?? 256
  const maxInFlight = deps.maxInFlight ?? 2
  const queue: Pending[] = []
  let inFlight = 0
  let scheduled = false

  /** Message ids of batches whose answer was lost, and until when each is looked for (see publishIfStored). */
  const lost = new Map<string, number>()
  let lostTimer: NodeJS.Timeout | undefined

  /** Conversations with a batch in flight (one at most each, see take). */
  const busy = new Set<string>()

  /**
   * The next batch: up to maxBatch posts, oldest first, of conversations that
   * have no batch in flight. A batch that reached a conversation holds its row
   * lock until it commits; a second batch with posts of it would wait for that
   * whole time, and hold up every other post it carries. Those posts stay
   * queued (in order) and go in the next batch after it; the free slot takes
   * the other conversations. Looks at most 4 × maxBatch posts deep.
   */
  function take (): Pending[] {
    if (busy.size === 0) return queue.splice(0, maxBatch)
    const batch: Pending[] = []
    const rest: Pending[] = []
    const depth = Math.min(queue.length, 4 * maxBatch)
    let i = 0
    for (; i < depth && batch.length < maxBatch; i++) {
      const p = queue[i]!
      if (busy.has(p.conversationId)) rest.push(p)
      else batch.push(p)
    }
    if (batch.length > 0) queue.splice(0, i, ...rest)
    return batch
  }

  function pump () {
    scheduled = false
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = take()
      if (batch.length === 0) return
      const conversations = [...new Set(batch.map((p) => p.conversationId))]
      for (const c of conversations) busy.add(c)
      inFlight++
      void run(batch).finally(() => {
        for (const c of conversations) busy.delete(c)
        inFlight--
        pump()
      })
    }
  }

  /**
   * A batch whose call failed with the connection (lost, reset, timed out)
   * may have committed before its answer was lost: its posts answer 503 and
   * their senders retry (an idempotent retry finds the stored message, and
   * publishes nothing), but the other members would get no push of what was
   * stored, nor learn of a gap, until the conversation's next event. So the
   * batch's messages are looked for (by the ids given to them here) once the
   * database answers again, and what was stored is published as committed
   * (recipients by membership window). Pushed twice if it had been published
   * already: clients and the sequencer drop a seq they have.
   */
  function publishIfStored (messageIds: string[]): void {
    const until = Date.now() + (deps.lostAnswerSearchMs ?? 60_000)
    for (const id of messageIds) if (lost.size < LOST_MAX_IDS) lost.set(id, until)
    if (lostTimer === undefined) scheduleLostSearch(LOST_FIRST_MS)
  }

  // One search for every lost answer, however many batches failed (an outage fails them all).
  function scheduleLostSearch (delay: number): void {
    lostTimer = setTimeout(() => { void searchLost(delay) }, delay)
    lostTimer.unref()
  }

  async function searchLost (delay: number): Promise<void> {
    const now = Date.now()
    for (const [id, until] of lost) if (until < now) lost.delete(id)
    const ids = [...lost.keys()].slice(0, 1_000)
    if (ids.length === 0) {
      lostTimer = undefined
      return
    }
    try {
      const found = await createdEvents(deps.pool, ids)
      for (const id of ids) lost.delete(id)
      for (const { event, userIds } of found) deps.publisher.publishEvents([toChatEvent(event)], userIds)
      scheduleLostSearch(LOST_FIRST_MS)
    } catch {
      scheduleLostSearch(Math.min(delay * 2, LOST_MAX_MS))
    }
  }

  /** Answers every post of a batch; a post already answered ignores a later answer. */
  async function run (batch: Pending[]): Promise<void> {
    try {
      await commit(batch)
    } catch (err) {
      for (const p of batch) p.reject(err)
    }
  }

  /**
   * Commits a batch and answers its posts. When the call fails, the fault may
   * be one post's (a value the database refuses) or a race (another process
   * committed one of these clientMessageIds after this call looked), so the
   * batch is halved and each half committed on its own, down to single posts:
   * only a post at fault fails, at the cost of about 2·log2(n) extra calls.
   * A database that cannot be reached is nobody's fault in the batch: that
   * error is thrown at once, and run() fails every post not yet answered.
   */
  async function commit (batch: Pending[], retried = false): Promise<void> {
    let result: Awaited<ReturnType<typeof postBatch>>
    const ids = batch.map(() => newId())
    try {
      result = await postBatch(deps.pool, batch.map((p, i) => {
        const body = (p.input.body ?? '').trim()
        const mentions = parseMentions(body)
        return {
          id: ids[i]!,
          conversationId: p.conversationId,
          senderId: p.userId,
          body,
          clientMessageId: p.input.clientMessageId ?? null,
          replyToId: p.input.replyToId ?? null,
          mentionNames: mentions.names,
          mentionAll: mentions.all,
          attachments: p.input.attachments === undefined || p.input.attachments.length === 0 ? null : p.input.attachments,
          type: p.input.type === undefined || p.input.type === 'text' ? null : p.input.type,
          metadata: p.input.metadata ?? null,
          threadRootId: p.input.threadRootId ?? null
        }
      }))
    } catch (err) {
      deps.observeBatch?.(batch.length, false)
      // Unreachable, or cancelled by the statement timeout (a lock held too long): every post of the batch answers
      // 503 at once; split in halves, each would wait out the timeout again.
      if (isDatabaseUnavailable(err) || isStatementTimeout(err)) {
        // A statement timeout rolls back; a lost connection may have lost only the answer.
        if (isDatabaseUnavailable(err)) publishIfStored(ids)
        throw err
      }
      if (batch.length === 1) {
        // The key committed elsewhere is visible now: once more finds that original.
        if (isUniqueViolation(err) && !retried) return commit(batch, true)
        batch[0]!.reject(isDataException(err) ? badRequest('body holds a value the database cannot store') : err)
        return
      }
      const half = Math.ceil(batch.length / 2)
      await commit(batch.slice(0, half))
      await commit(batch.slice(half))
      return
    }
    deps.observeBatch?.(batch.length, true)
    const { outcomes, recipients } = result
    const views = outcomes.map((o) => o.outcome === 'created' || o.outcome === 'existing' ? toMessage(o.message) : undefined)

    // Committed: publish, in seq order per conversation, then answer.
    const published = new Map<string, MessageView[]>()
    outcomes.forEach((o, i) => {
      if (o.outcome !== 'created') return
      const list = published.get(o.message.conversationId)
      if (list === undefined) published.set(o.message.conversationId, [views[i]!])
      else list.push(views[i]!)
    })
    for (const [conversationId, list] of published) {
      deps.publisher.publishEvents(list.map((data) => ({ conversationId, seq: data.seq, type: 'message.created' as const, createdAt: data.createdAt, data })),
        recipients.get(conversationId) ?? [])
    }
    const failed = await ownThreadSummaries(outcomes, views)
    batch.forEach((p, i) => {
      const o = outcomes[i]!
      // The same key earlier in the batch: that post's answer, as a retry's.
      const j = o.outcome === 'alias' ? o.first : i
      const answer = outcomes[j]!
      if (failed.has(j)) {
        p.reject(failed.get(j))
        return
      }
      switch (answer.outcome) {
        case 'created':
        case 'existing':
          p.resolve({ message: views[j]!, created: answer.outcome === 'created' && j === i })
          break
        case 'not_found':
          p.reject(notFound('Conversation'))
          break
        case 'bad_reply':
          p.reject(badRequest('body/replyToId must be a message of this conversation'))
          break
        case 'bad_attachment':
          p.reject(new AppError(400, 'INVALID_ATTACHMENT', 'attachments must name completed uploads of yours for this conversation, not attached yet'))
          break
        case 'no_thread':
          p.reject(notFound('Thread root message'))
          break
        case 'bad_thread':
          p.reject(new AppError(400, 'INVALID_THREAD_ROOT', 'threadRootId must name a top-level message that is not deleted'))
          break
        case 'frozen':
          p.reject(new AppError(403, 'FROZEN', 'The conversation is frozen: only the owner and admins can post'))
          break
        case 'muted':
          p.reject(new AppError(403, 'MUTED', 'You are muted in this conversation'))
          break
        case 'blocked':
          p.reject(new AppError(403, 'BLOCKED', 'This user has blocked you'))
          break
        case 'slow':
          p.reject(new RetryLaterError('SLOW_MODE', `Slow mode: you can post again in ${answer.retryAfter} s`, answer.retryAfter))
          break
        case 'alias':
          p.reject(new Error('post_messages answered an alias of an alias'))
      }
    })
  }

  /**
   * A retry is answered with the original as stored, and a root's stored
   * thread summary counts every live reply. The sender sees none posted while
   * they were out of the conversation (README "membership windows"): for a
   * retried root with replies, its summary as its author may see it (the same
   * as the export shows) replaces the stored one in `views`. Only that read can
   * fail here, after the commit: the posts it was for are answered with its
   * error (returned by index), the others as usual.
   */
  async function ownThreadSummaries (outcomes: BatchOutcome[], views: Array<MessageView | undefined>): Promise<Map<number, unknown>> {
    const retried: Array<{ i: number, message: MessageRow }> = []
    outcomes.forEach((o, i) => {
      if (o.outcome === 'existing' && o.message.threadReplyCount > 0) retried.push({ i, message: o.message })
    })
    const failed = new Map<number, unknown>()
    if (retried.length === 0) return failed
    try {
      const seen = await authorSummaries(deps.pool, [...new Set(retried.map((r) => r.message.id))])
      for (const { i, message } of retried) views[i] = toMessage({ ...message, ...seen.get(message.id) })
    } catch (err) {
      for (const { i } of retried) failed.set(i, err)
    }
    return failed
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
