// Broker over Redis pub/sub (ioredis), for deployments whose push traffic
// outgrows PostgreSQL notifications. One connection publishes, one
// subscribes; a payload has no practical size limit, so nothing is staged.
// Pub/sub keeps nothing for a subscriber that is away: when the subscription
// comes back after an interruption (including Redis cutting off a subscriber
// that fell past its output buffer limit), subscribers are told messages were lost.
import { Redis } from 'ioredis'
import type { Broker } from './broker.js'
import { joinBatch, WireBroker, type BrokerLog } from './wire.js'

export interface RedisBrokerOptions {
  url: string
  channel: string
  maxQueueBytes: number
  log: BrokerLog
}

export class RedisBroker extends WireBroker implements Broker {
  private readonly pub: Redis
  private readonly sub: Redis
  private interrupted = false

  constructor (private readonly opts: RedisBrokerOptions) {
    super(opts.maxQueueBytes, opts.log)
    const common = {
      lazyConnect: true,
      retryStrategy: (attempt: number) => Math.min(attempt * 100, 5_000)
    }
    // While Redis is away, publishing fails at once (the events are in the
    // database; clients replay) instead of queueing in memory without bound.
    this.pub = new Redis(opts.url, { ...common, connectionName: `switchboard-pub:${opts.channel}`, enableOfflineQueue: false, maxRetriesPerRequest: 1 })
    this.sub = new Redis(opts.url, { ...common, connectionName: `switchboard-sub:${opts.channel}` })
    for (const [name, conn] of [['publisher', this.pub], ['subscriber', this.sub]] as const) {
      conn.on('error', (err: Error) => this.log.warn({ err, connection: name }, 'broker connection to Redis failed'))
    }
    this.sub.on('message', (channel: string, payload: string) => {
      if (channel === opts.channel) this.inbox.push(payload)
    })
    this.sub.on('close', () => { this.interrupted = true })
    // ioredis subscribes again by itself once reconnected.
    this.sub.on('ready', () => {
      if (!this.interrupted) return
      this.interrupted = false
      this.log.info({}, 'broker reconnected to Redis')
      this.lost('the broker connection was interrupted')
    })
  }

  async start (): Promise<void> {
    await Promise.all([this.pub.connect(), this.sub.connect()])
    await this.sub.subscribe(this.opts.channel)
    this.interrupted = false
  }

  protected async send (encoded: string[]): Promise<void> {
    await this.pub.publish(this.opts.channel, joinBatch(encoded))
  }

  protected async disconnect (): Promise<void> {
    this.sub.removeAllListeners('ready')
    await Promise.all([this.pub.quit().catch(() => {}), this.sub.quit().catch(() => {})])
  }
}
