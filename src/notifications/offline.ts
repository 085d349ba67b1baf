// Offline notifications: for each new message, every recipient other than the
// sender who has no live connection, and whom the notification preferences
// let hear of it (shouldNotify in src/domain/notification-preferences.ts:
// blocks, mutes, levels, mentions), gets a webhook job in a durable queue
// (pg-boss, in PostgreSQL), delivered with retries and exponential backoff.
// The same rule is asked again before each attempt (stillNotified).
import PgBoss from 'pg-boss'
import type { FastifyBaseLogger } from 'fastify'
import { poolConfigFromUrl } from '../db/migrator.js'
import { bossDb, closePool, createPool } from '../db/pool.js'
import type { PushWebhookConfig } from '../config.js'
import type { ChatEvent } from '../domain/events.js'
import { mentionsUser } from '../domain/mentions.js'
import type { NotifyQuestion } from '../domain/notification-preferences.js'
import { deliver, preview, type PushPayload } from './webhook.js'
import { stillNotified, threadAudience } from './recipients.js'

export const QUEUE = 'push-webhook'
/** Parallel deliveries per process. */
const WORKERS = 2

export interface OfflineNotifierDeps {
  databaseUrl: string
  config: PushWebhookConfig
  /** Which of these users are online (on any process). */
  online (userIds: string[]): Promise<Set<string>>
  /** Whether each recipient should hear of each message (the preferences' one rule, shouldNotify), in the order asked: at queue time and before each attempt. */
  shouldNotify (questions: NotifyQuestion[]): Promise<boolean[]>
  /** For each thread root, the users who follow it: a reply notifies them and the mentioned only. */
  threadFollowers (rootIds: string[]): Promise<Map<string, string[]>>
  /** Whether a message still exists undeleted. */
  messageLive (messageId: string): Promise<boolean>
  log: FastifyBaseLogger
  count? (outcome: 'enqueued' | 'delivered' | 'failed'): void
}

interface MessageData { id: string, conversationId: string, seq: number, senderId: string, body: string, createdAt: string, mentions: string[], mentionsAll: boolean, threadRootId?: string | null }

export async function startOfflineNotifier (deps: OfflineNotifierDeps) {
  const { config, log } = deps
  const count = deps.count ?? (() => {})
  // Its own small pool: job polling never competes with requests for connections.
  const pool = createPool({ ...poolConfigFromUrl(deps.databaseUrl), max: 2, application_name: 'switchboard-jobs' })
  pool.on('error', (err) => log.warn({ err }, 'job queue connection lost'))
  const boss = new PgBoss({ db: bossDb(pool), schema: 'pgboss' })
  boss.on('error', (err) => log.warn({ err }, 'job queue error'))
  await boss.start()
  const retry = { retryLimit: config.retryLimit, retryDelay: config.retryDelaySeconds, retryBackoff: true }
  const expireInSeconds = Math.ceil(config.timeoutMs / 1000) + 30
  await boss.createQueue(QUEUE, { name: QUEUE, ...retry, expireInSeconds })

  const workerIds: string[] = []
  for (let i = 0; i < WORKERS; i++) {
    workerIds.push(await boss.work<PushPayload>(QUEUE, { batchSize: 1, pollingIntervalSeconds: 1 }, async ([job]) => {
      if (job === undefined) return
      // Asked again before each attempt (a retry, a queue behind): a message deleted since, or a recipient the
      // rule no longer lets hear of it (suspended, deleted, removed, blocking the sender, muted, level none),
      // completes the job unsent: the payload carries the preview.
      if (!await deps.messageLive(job.data.messageId)) return
      const [notified] = await stillNotified(deps.shouldNotify, [job.data])
      if (notified !== true) return
      try {
        await deliver(config, job.data, job.id)
        count('delivered')
      } catch (err) {
        count('failed')
        log.warn({ err, jobId: job.id, recipientId: job.data.recipientId }, 'push webhook delivery failed; will retry')
        throw err
      }
    }))
  }

  return {
    /** Called after commit with the conversation's events and its members. */
    onEvents (events: ChatEvent[], memberIds: string[]): void {
      const created = events.filter((e) => e.type === 'message.created')
      if (created.length === 0) return
      void (async () => {
        const online = await deps.online(memberIds)
        const messages = created.map((e) => e.data as MessageData)
        const audiences = await threadAudience((roots) => deps.threadFollowers(roots), messages, memberIds)
        const questions: Array<NotifyQuestion & { message: MessageData }> = []
        for (const [i, m] of messages.entries()) {
          for (const recipientId of audiences[i]!) {
            if (recipientId !== m.senderId && !online.has(recipientId)) questions.push({ recipientId, message: m })
          }
        }
        const answers = questions.length === 0 ? [] : await deps.shouldNotify(questions)
        const jobs: PgBoss.JobInsert<PushPayload>[] = []
        questions.forEach(({ recipientId, message: m }, i) => {
          if (answers[i] !== true) return
          const text = preview(m.body, config.previewChars)
          const data: PushPayload = {
            type: 'message.created',
            conversationId: m.conversationId,
            messageId: m.id,
            seq: m.seq,
            senderId: m.senderId,
            recipientId,
            ...(text === undefined ? {} : { preview: text }),
            createdAt: m.createdAt,
            mentioned: mentionsUser(m, recipientId)
          }
          jobs.push({ name: QUEUE, data, ...retry, expireInSeconds })
        })
        if (jobs.length === 0) return
        await boss.insert(jobs)
        for (let i = 0; i < jobs.length; i++) count('enqueued')
        // Wake a worker now rather than at its next poll.
        for (const id of workerIds) boss.notifyWorker(id)
      })().catch((err: unknown) => log.error({ err, events: created.length }, 'could not enqueue push webhook jobs'))
    },
    async stop (timeoutMs: number): Promise<void> {
      await boss.stop({ graceful: true, wait: true, timeout: timeoutMs })
      await closePool(pool)
    }
  }
}

export type OfflineNotifier = Awaited<ReturnType<typeof startOfflineNotifier>>
