// Offline notifications: for each new message, every recipient other than the
// sender who has no live connection gets a webhook job in a durable queue
// (pg-boss, in PostgreSQL), delivered with retries and exponential backoff.
import PgBoss from 'pg-boss'
import type { FastifyBaseLogger } from 'fastify'
import type { PushWebhookConfig } from '../config.js'
import type { ChatEvent } from '../domain/events.js'
import { createdMessages, messageRecipients, type NotifyFilter } from './recipients.js'
import { deliver, preview, type PushPayload } from './webhook.js'

export const QUEUE = 'push-webhook'
/** Parallel deliveries per process. */
const WORKERS = 2

export interface OfflineNotifierDeps {
  databaseUrl: string
  config: PushWebhookConfig
  /** Which of these users are online (on any process). */
  online (userIds: string[]): Promise<Set<string>>
  /** Of these recipients, who blocked which sender, as "<blocker>:<blocked>" (they get no notification of them). */
  blocks? (senderIds: string[], recipientIds: string[]): Promise<Set<string>>
  /** Preferences: whether a recipient wants this notification (default: yes). */
  shouldNotify?: NotifyFilter
  log: FastifyBaseLogger
  count? (outcome: 'enqueued' | 'delivered' | 'failed'): void
}

export async function startOfflineNotifier (deps: OfflineNotifierDeps) {
  const { config, log } = deps
  const count = deps.count ?? (() => {})
  // Its own small pool: job polling never competes with requests for connections.
  const boss = new PgBoss({ connectionString: deps.databaseUrl, max: 2, schema: 'pgboss', application_name: 'switchboard-jobs' })
  boss.on('error', (err) => log.warn({ err }, 'job queue error'))
  await boss.start()
  const retry = { retryLimit: config.retryLimit, retryDelay: config.retryDelaySeconds, retryBackoff: true }
  const expireInSeconds = Math.ceil(config.timeoutMs / 1000) + 30
  await boss.createQueue(QUEUE, { name: QUEUE, ...retry, expireInSeconds })

  const workerIds: string[] = []
  for (let i = 0; i < WORKERS; i++) {
    workerIds.push(await boss.work<PushPayload>(QUEUE, { batchSize: 1, pollingIntervalSeconds: 1 }, async ([job]) => {
      if (job === undefined) return
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
      const created = createdMessages(events)
      if (created.length === 0) return
      void (async () => {
        const recipients = await messageRecipients(deps, created, memberIds)
        const jobs: PgBoss.JobInsert<PushPayload>[] = []
        created.forEach((m, i) => {
          for (const recipientId of recipients[i]!) {
            const text = preview(m.body, config.previewChars)
            const data: PushPayload = {
              type: 'message.created',
              conversationId: m.conversationId,
              messageId: m.id,
              seq: m.seq,
              senderId: m.senderId,
              recipientId,
              ...(text === undefined ? {} : { preview: text }),
              createdAt: m.createdAt
            }
            jobs.push({ name: QUEUE, data, ...retry, expireInSeconds })
          }
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
    }
  }
}

export type OfflineNotifier = Awaited<ReturnType<typeof startOfflineNotifier>>
