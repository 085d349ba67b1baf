// Prometheus metrics, on a registry of this app (not prom-client's global
// one, so several apps can live in one process): HTTP rate and latency, open
// sockets, pushes, post-to-push latency, broker lag, database pool, webhook
// deliveries, device pushes per provider, group-commit batch sizes, the broker's CPU, GET /v1/sync's queue, and the process defaults (CPU,
// memory, event-loop lag).
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { RealtimeObserver } from '../../realtime/observer.js'
import { publishedAt } from '../../realtime/observer.js'
import type { PushObserver } from '../../notifications/push/service.js'

export interface Metrics {
  registry: Registry
  realtime: RealtimeObserver
  /** Webhook job outcomes: enqueued, delivered, failed (an attempt that will be retried or given up). */
  webhook (outcome: 'enqueued' | 'delivered' | 'failed'): void
  /** Device push outcomes and provider answer times, per provider. */
  push: PushObserver
  /** One post_messages call of the post batcher: the posts it carried, and whether it committed. */
  postBatch (posts: number, committed: boolean): void
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
// Fine where batches usually are (one or two posts at moderate load), up to the batcher's limit of 256.
const BATCH_BUCKETS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]

export default fp(async (app) => {
  const registry = new Registry()
  const registers = [registry]
  collectDefaultMetrics({ register: registry })

  const httpRequests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered', labelNames: ['method', 'route', 'status_code'], registers })
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds', help: 'Time to answer an HTTP request', labelNames: ['method', 'route', 'status_code'], buckets: LATENCY_BUCKETS, registers
  })
  const pushes = new Counter({ name: 'ws_frames_pushed_total', help: 'Frames written to WebSocket connections, by frame type', labelNames: ['type'], registers })
  const pushLatency = new Histogram({
    name: 'ws_push_latency_seconds',
    help: 'From an event\'s creation (its createdAt, stamped in the writing transaction) to its write to the sockets of this process',
    labelNames: ['type'],
    buckets: LATENCY_BUCKETS,
    registers
  })
  const brokerLag = new Histogram({
    name: 'broker_lag_seconds', help: 'From broker publish to receipt (publisher\'s clock)', labelNames: ['kind'], buckets: LATENCY_BUCKETS, registers
  })
  const webhookJobs = new Counter({ name: 'push_webhook_jobs_total', help: 'Offline-notification webhook jobs by outcome', labelNames: ['outcome'], registers })
  const pushDeliveries = new Counter({
    name: 'push_device_deliveries_total',
    help: 'Device pushes by provider and outcome: queued, accepted, retried (a passing refusal), failed, invalid (token refused: device pruned)',
    labelNames: ['provider', 'outcome'],
    registers
  })
  const providerLatency = new Histogram({
    name: 'push_provider_request_seconds', help: 'Time a push provider took to answer one push', labelNames: ['provider'], buckets: LATENCY_BUCKETS, registers
  })
  const batchSize = new Histogram({ name: 'post_batch_size', help: 'Posts per post_messages call (group commit)', buckets: BATCH_BUCKETS, registers })
  const batchCalls = new Counter({ name: 'post_batch_calls_total', help: 'post_messages calls by outcome (committed, failed)', labelNames: ['outcome'], registers })

  new Gauge({
    name: 'ws_connections_open',
    help: 'Open WebSocket connections on this process',
    registers,
    collect () { this.set(app.hasDecorator('realtime') ? app.realtime.hub.size : 0) }
  })
  // Read from the broker's meters (realtime/cpu-meter.ts); none for the in-process broker.
  const brokerCpuCounted = { received: 0, sent: 0 }
  new Counter({
    name: 'broker_cpu_seconds_total',
    help: 'CPU this process spent carrying messages between processes: received (reading and decoding them, up to the frames handed to sockets) and sent (encoding and publishing)',
    labelNames: ['direction'],
    registers,
    collect () {
      const cpu = app.hasDecorator('realtime') ? app.realtime.broker.cpu : undefined
      if (cpu === undefined) return
      for (const direction of ['received', 'sent'] as const) {
        const micros = cpu[direction].micros
        this.inc({ direction }, (micros - brokerCpuCounted[direction]) / 1e6)
        brokerCpuCounted[direction] = micros
      }
    }
  })
  const pool = () => app.db.pool
  new Gauge({ name: 'db_pool_connections_total', help: 'Connections in the database pool', registers, collect () { this.set(pool().totalCount) } })
  new Gauge({ name: 'db_pool_connections_idle', help: 'Idle connections in the database pool', registers, collect () { this.set(pool().idleCount) } })
  new Gauge({ name: 'db_pool_requests_waiting', help: 'Queries waiting for a pool connection', registers, collect () { this.set(pool().waitingCount) } })
  new Gauge({ name: 'db_pool_connections_max', help: 'Size limit of the database pool', registers, collect () { this.set(app.config.databasePoolSize) } })
  // GET /v1/sync's turns (domain/admission.ts): a queue that grows in a reconnect storm and drains after it.
  const syncAdmission = () => app.hasDecorator('chat') ? app.chat.syncAdmission : undefined
  new Gauge({ name: 'sync_running', help: 'Pages of GET /v1/sync being read (at most SYNC_CONCURRENCY)', registers, collect () { this.set(syncAdmission()?.active ?? 0) } })
  new Gauge({ name: 'sync_queued', help: 'Pages of GET /v1/sync waiting for their turn', registers, collect () { this.set(syncAdmission()?.queued ?? 0) } })
  const syncCounted = { refused: 0, dropped: 0 }
  new Counter({
    name: 'sync_turns_missed_total',
    help: 'Pages of GET /v1/sync not read: refused (503, queue full or waited SYNC_QUEUE_TIMEOUT_MS) or dropped (the client left while it waited)',
    labelNames: ['outcome'],
    registers,
    collect () {
      const a = syncAdmission()
      if (a === undefined) return
      for (const outcome of ['refused', 'dropped'] as const) {
        this.inc({ outcome }, a[outcome] - syncCounted[outcome])
        syncCounted[outcome] = a[outcome]
      }
    }
  })

  app.addHook('onResponse', async (request, reply) => {
    const labels = { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) }
    httpRequests.inc(labels)
    httpDuration.observe(labels, reply.elapsedTime / 1000)
  })

  const realtime: RealtimeObserver = {
    framePushed (type, sockets) {
      if (sockets > 0) pushes.inc({ type }, sockets)
    },
    eventPushed (event, sockets) {
      if (sockets === 0) return
      pushes.inc({ type: event.type }, sockets)
      if (Number.isFinite(event.at)) pushLatency.observe({ type: event.type }, Math.max(0, Date.now() - event.at) / 1000)
    },
    brokerReceived (message) {
      const at = publishedAt(message)
      if (at !== undefined) brokerLag.observe({ kind: message.kind }, Math.max(0, Date.now() - at) / 1000)
    }
  }

  app.decorate('metrics', {
    registry,
    realtime,
    webhook: (outcome) => webhookJobs.inc({ outcome }),
    push: {
      outcome: (provider, outcome, n = 1) => pushDeliveries.inc({ provider, outcome }, n),
      latency: (provider, seconds) => providerLatency.observe({ provider }, seconds)
    },
    postBatch (posts, committed) {
      batchSize.observe(posts)
      batchCalls.inc({ outcome: committed ? 'committed' : 'failed' })
    }
  } satisfies Metrics)
}, { name: 'metrics', dependencies: ['config', 'db'] })
