// Device push: decides who gets what (recipients, notice, badge), records each
// delivery, and hands it to a durable queue (pg-boss in PostgreSQL) of its
// provider, in jobs of up to 50 deliveries. Each provider has its own queue and workers, so a slow or failing
// one never holds up the others. A worker claims a batch (status sent), sends
// it concurrently, and settles each: accepted, failed (with the provider's
// reason; an invalid token prunes the device at once), or queued again for a
// retry with exponential backoff and jitter, or after the provider's Retry-After.
// Before each attempt, a message push asks the rule that queued it again
// (stillNotified): one its recipient may no longer hear of is not sent.
import PgBoss from 'pg-boss'
import type pg from 'pg'
import type { FastifyBaseLogger } from 'fastify'
import type { PushConfig } from '../../config.js'
import { poolConfigFromUrl } from '../../db/migrator.js'
import { bossDb, closePool, createPool } from '../../db/pool.js'
import type { ChatEvent, ReadReceipt } from '../../domain/events.js'
import { newId } from '../../domain/ids.js'
import type { ClaimedDelivery, DevicesRepository, NewDelivery, Platform, Settlement } from '../../repositories/devices.js'
import { mentionsUser } from '../../domain/mentions.js'
import { createdMessages, messageRecipients, stillNotified, type NotifiedMessage, type QueuedNotification, type RecipientSources } from '../recipients.js'
import { preview } from '../webhook.js'
import type { Notice } from './notice.js'
import type { PushProvider } from './providers/provider.js'

export type PushOutcome = 'queued' | 'accepted' | 'retried' | 'failed' | 'invalid'

export interface PushObserver {
  outcome (provider: Platform, outcome: PushOutcome, n?: number): void
  /** Seconds a provider took to answer one push. */
  latency (provider: Platform, seconds: number): void
}

export interface PushServiceDeps extends RecipientSources {
  databaseUrl: string
  config: PushConfig
  devices: DevicesRepository
  providers: PushProvider[]
  log: FastifyBaseLogger
  observer?: PushObserver
}

/** One job carries up to CHUNK deliveries of one provider: the queue's own writes are paid per chunk, not per push. */
interface JobData { deliveryIds: string[] }
/** A badge update owed to a user's devices: they read this conversation elsewhere. */
interface ReadJob { userId: string, conversationId: string }

/** Badge updates after reads, coalesced per user and conversation (see onRead). */
const READ_QUEUE = 'push-read'

export const queueName = (platform: Platform) => `push-${platform}`
const WORKERS_PER_PROVIDER = 4
const CHUNK = 50
const MAX_DELAY_MS = 3_600_000

/** Exponential backoff with jitter: between half and all of base * 2^(attempt-1). */
export function backoffMs (baseMs: number, attempt: number, random = Math.random): number {
  const full = Math.min(MAX_DELAY_MS, baseMs * 2 ** Math.min(20, Math.max(0, attempt - 1)))
  return Math.round(full / 2 + (full / 2) * random())
}

export class PushService {
  private readonly boss: PgBoss
  private readonly pool: pg.Pool
  private readonly providers = new Map<Platform, PushProvider>()
  private readonly workers = new Map<Platform, string[]>()
  private readWorker: string | undefined
  private readonly observer: PushObserver
  private readonly batchSize: number
  private purgeTimer: NodeJS.Timeout | undefined

  constructor (private readonly deps: PushServiceDeps) {
    for (const p of deps.providers) this.providers.set(p.platform, p)
    this.observer = deps.observer ?? { outcome () {}, latency () {} }
    // Jobs per fetch: each worker keeps about concurrency / workers pushes in flight.
    this.batchSize = Math.max(1, Math.ceil(deps.config.concurrency / WORKERS_PER_PROVIDER / CHUNK))
    // Its own small pool: polling and job inserts never wait behind requests.
    this.pool = createPool({ ...poolConfigFromUrl(deps.databaseUrl), max: 6, application_name: 'switchboard-push' })
    this.pool.on('error', (err) => deps.log.warn({ err }, 'push queue connection lost'))
    this.boss = new PgBoss({ db: bossDb(this.pool), schema: 'pgboss' })
    this.boss.on('error', (err) => deps.log.warn({ err }, 'push queue error'))
  }

  get platforms (): Platform[] { return [...this.providers.keys()] }

  async start (): Promise<void> {
    await this.boss.start()
    const { config } = this.deps
    for (const [platform, provider] of this.providers) {
      const name = queueName(platform)
      // pg-boss's own retries only cover a worker that died mid-batch (the job expires); provider refusals are retried below.
      await this.boss.createQueue(name, { name, retryLimit: 3, retryDelay: 1, retryBackoff: true, expireInSeconds: Math.ceil(config.timeoutMs / 1000) * 2 + 30 })
      const ids: string[] = []
      this.workers.set(platform, ids)
      for (let i = 0; i < WORKERS_PER_PROVIDER; i++) {
        const holder: { id?: string } = {}
        holder.id = await this.boss.work<JobData>(name, { batchSize: this.batchSize, pollingIntervalSeconds: config.pollIntervalMs / 1000 }, async (jobs) => {
          await this.work(provider, jobs)
          // A full batch: more may be waiting, so fetch again without waiting for the next poll.
          if (jobs.length === this.batchSize && holder.id !== undefined) this.boss.notifyWorker(holder.id)
        })
        ids.push(holder.id)
      }
    }
    await this.boss.createQueue(READ_QUEUE, { name: READ_QUEUE, retryLimit: 3, retryDelay: 1, retryBackoff: true, expireInSeconds: 60 })
    this.readWorker = await this.boss.work<ReadJob>(READ_QUEUE, { batchSize: 20, pollingIntervalSeconds: config.pollIntervalMs / 1000 }, async (jobs) => {
      for (const job of jobs) await this.enqueueRead(job.data)
    })
    const purge = () => {
      this.deps.devices.purgeDeliveries(new Date(Date.now() - config.retentionHours * 3_600_000))
        .catch((err: unknown) => this.deps.log.warn({ err }, 'could not purge old push deliveries'))
    }
    purge()
    this.purgeTimer = setInterval(purge, 3_600_000)
    this.purgeTimer.unref()
  }

  async stop (timeoutMs: number): Promise<void> {
    clearInterval(this.purgeTimer)
    await this.boss.stop({ graceful: true, wait: true, timeout: timeoutMs })
    await closePool(this.pool)
    await Promise.all([...this.providers.values()].map((p) => p.close()))
  }

  /** Called after commit with a conversation's events and the users whose window holds them. */
  onEvents (events: ChatEvent[], memberIds: string[]): void {
    if (this.providers.size === 0) return
    const created = createdMessages(events)
    if (created.length === 0) return
    this.enqueueMessages(created, memberIds)
      .catch((err: unknown) => this.deps.log.error({ err, events: created.length }, 'could not enqueue device pushes'))
  }

  /**
   * A user read on one device: every device of theirs gets the lower badge,
   * silently. Coalesced per user and conversation across processes (pg-boss's
   * debounce, slots of PUSH_READ_COALESCE_SECONDS): the first read of a slot is
   * pushed at once, the reads after it once at the next slot, with the badge
   * and position as they are then. Someone reading a live chat message by
   * message does not send a push per message.
   */
  onRead (receipt: ReadReceipt): void {
    if (this.providers.size === 0) return
    const job: ReadJob = { userId: receipt.userId, conversationId: receipt.conversationId }
    this.boss.sendDebounced(READ_QUEUE, job, {}, this.deps.config.readCoalesceSeconds, `${job.userId}:${job.conversationId}`)
      .then((id) => { if (id !== null && this.readWorker !== undefined) this.boss.notifyWorker(this.readWorker) })
      .catch((err: unknown) => this.deps.log.error({ err }, 'could not enqueue badge update pushes'))
  }

  /** Queues a test push to one device; its delivery id, or null when the device is not registered. */
  async sendTest (userId: string, deviceId: string): Promise<{ deliveryId: string } | null> {
    const device = await this.deps.devices.find(userId, deviceId)
    if (device === null) return null
    const badge = (await this.deps.devices.badges([userId])).get(userId) ?? 0
    const notice: Notice = { kind: 'test', title: 'Switchboard', body: 'Test notification: push works on this device.', badge }
    const id = newId()
    await this.enqueue([{ id, userId, deviceId, provider: device.platform, kind: 'test', conversationId: null, seq: null, payload: notice }])
    return { deliveryId: id }
  }

  private async enqueueMessages (messages: NotifiedMessage[], memberIds: string[]): Promise<void> {
    const { config, devices } = this.deps
    const recipients = await messageRecipients(this.deps, messages, memberIds, { includeOnline: config.whenOnline })
    const rows: NewDelivery[] = []
    for (const [i, m] of messages.entries()) {
      const targets = await devices.targets(recipients[i]!, this.platforms)
      if (targets.length === 0) continue
      const [badges, context] = await Promise.all([
        devices.badges([...new Set(targets.map((t) => t.userId))]),
        devices.messageContext(m.conversationId, [m.senderId])
      ])
      const senderName = context.names.get(m.senderId) ?? ''
      const text = preview(m.body, config.previewChars) ?? 'New message'
      const direct = context.type === 'direct'
      const base = {
        kind: 'message' as const,
        title: direct ? senderName : (context.title ?? 'Group'),
        body: direct ? text : `${senderName}: ${text}`,
        conversationId: m.conversationId,
        seq: m.seq,
        messageId: m.id,
        senderId: m.senderId,
        senderName
      }
      for (const t of targets) {
        const notice: Notice = { ...base, badge: badges.get(t.userId) ?? 0, mentioned: mentionsUser(m, t.userId) }
        rows.push({ id: newId(), userId: t.userId, deviceId: t.deviceId, provider: t.platform, kind: 'message', conversationId: m.conversationId, seq: m.seq, payload: notice })
      }
    }
    await this.enqueue(rows)
  }

  /** The badge and read position as they are now, to each device of the user that was last sent another badge. */
  private async enqueueRead ({ userId, conversationId }: ReadJob): Promise<void> {
    const { devices } = this.deps
    const targets = await devices.targets([userId], this.platforms)
    if (targets.length === 0) return
    const [badges, seq, last] = await Promise.all([devices.badges([userId]), devices.readPosition(userId, conversationId), devices.lastBadges(userId)])
    // Left the conversation since: nothing to clear there.
    if (seq === null) return
    const badge = badges.get(userId) ?? 0
    const notice: Notice = { kind: 'read', title: '', body: '', badge, conversationId, seq }
    await this.enqueue(targets.filter((t) => last.get(t.deviceId) !== badge).map((t) => ({
      id: newId(), userId: t.userId, deviceId: t.deviceId, provider: t.platform, kind: 'read', conversationId, seq, payload: notice
    })))
  }

  /** Records the deliveries as queued, then queues one job each on its provider's queue and wakes the workers. */
  private async enqueue (rows: NewDelivery[]): Promise<void> {
    if (rows.length === 0) return
    await this.deps.devices.insertDeliveries(rows)
    const byPlatform = new Map<Platform, NewDelivery[]>()
    for (const r of rows) byPlatform.set(r.provider, [...(byPlatform.get(r.provider) ?? []), r])
    await Promise.all([...byPlatform].map(async ([platform, list]) => {
      const name = queueName(platform)
      const jobs: Array<{ name: string, data: JobData }> = []
      for (let i = 0; i < list.length; i += CHUNK) jobs.push({ name, data: { deliveryIds: list.slice(i, i + CHUNK).map((r) => r.id) } })
      try {
        await this.boss.insert(jobs)
      } catch (err) {
        await this.deps.devices.settle(list.map((r) => ({ id: r.id, status: 'failed', reason: 'could not queue' })))
        throw err
      }
      this.observer.outcome(platform, 'queued', list.length)
      for (const id of this.workers.get(platform) ?? []) this.boss.notifyWorker(id)
    }))
  }

  /**
   * Of these message pushes, those whose recipient the rule that queued them
   * (stillNotified: membership window, suspension, deletion, blocks, mutes,
   * levels) no longer lets hear of their message: they carry its text.
   */
  private async noLongerNotified (claimed: ClaimedDelivery[]): Promise<Set<string>> {
    const refused = new Set<string>()
    const asked: Array<{ id: string, queued: QueuedNotification }> = []
    for (const d of claimed) {
      if (d.kind !== 'message') continue
      const { conversationId, seq, senderId, mentioned } = d.payload as Notice
      // One that does not say what it is about cannot be checked: not sent.
      if (conversationId === undefined || seq === undefined || senderId === undefined) refused.add(d.id)
      else asked.push({ id: d.id, queued: { recipientId: d.userId, conversationId, seq, senderId, mentioned } })
    }
    const answers = await stillNotified(this.deps.shouldNotify, asked.map((a) => a.queued))
    asked.forEach((a, i) => { if (answers[i] !== true) refused.add(a.id) })
    return refused
  }

  /** One batch of one provider's queue. */
  private async work (provider: PushProvider, jobs: Array<PgBoss.Job<JobData>>): Promise<void> {
    const { config, devices, log } = this.deps
    const claimed = await devices.claim(jobs.flatMap((j) => j.data.deliveryIds))
    const settlements: Settlement[] = []
    const retries: Array<{ deliveryId: string, delayMs: number }> = []
    const invalid: Array<{ userId: string, deviceId: string, token: string }> = []
    const refused = await this.noLongerNotified(claimed)
    for (const id of refused) {
      settlements.push({ id, status: 'failed', reason: 'no longer notified' })
      this.observer.outcome(provider.platform, 'failed')
    }
    await Promise.all(claimed.filter((d) => !refused.has(d.id)).map(async (d) => {
      const started = performance.now()
      const result = await provider.send({ token: d.token, keys: d.keys, appId: d.appId }, d.payload as Notice, d.id)
      this.observer.latency(provider.platform, (performance.now() - started) / 1000)
      let outcome: PushOutcome = result.status === 'retry' ? 'retried' : result.status
      switch (result.status) {
        case 'accepted':
          settlements.push({ id: d.id, status: 'accepted', reason: null })
          break
        case 'invalid':
          settlements.push({ id: d.id, status: 'failed', reason: `${result.reason} (device removed)` })
          invalid.push({ userId: d.userId, deviceId: d.deviceId, token: d.token })
          break
        case 'failed':
          settlements.push({ id: d.id, status: 'failed', reason: result.reason })
          break
        case 'retry':
          if (d.attempts > config.retryLimit) {
            settlements.push({ id: d.id, status: 'failed', reason: `${result.reason} (gave up after ${d.attempts} attempts)` })
            outcome = 'failed'
          } else {
            settlements.push({ id: d.id, status: 'queued', reason: `retrying: ${result.reason}` })
            retries.push({ deliveryId: d.id, delayMs: result.retryAfterMs ?? backoffMs(config.retryDelayMs, d.attempts) })
          }
          break
      }
      this.observer.outcome(provider.platform, outcome)
    }))
    const name = queueName(provider.platform)
    await Promise.all([
      devices.settle(settlements),
      devices.prune(invalid).then((n) => { if (n > 0) log.info({ provider: provider.platform, devices: n }, 'pruned devices with invalid push tokens') }),
      retries.length === 0
        ? undefined
        : this.boss.insert(retries.map((r) => ({ name, data: { deliveryIds: [r.deliveryId] } satisfies JobData, startAfter: new Date(Date.now() + r.delayMs) })))
    ])
  }
}
