// Broker over Redis pub/sub (ioredis), for deployments whose push traffic
// outgrows PostgreSQL notifications. One connection publishes, one
// subscribes; a payload has no practical size limit, so nothing is staged.
// Pub/sub keeps nothing for a subscriber that is away: when the subscription
// comes back after an interruption (including Redis cutting off a subscriber
// that fell past its output buffer limit, or a PING on it that got no answer:
// a half-open connection), subscribers are told messages were lost.
import { Redis } from 'ioredis'
import type { Broker } from './broker.js'
import { meterRedisReads } from './cpu-meter.js'
import { cut, PING_MS, pingOrCut, QUIT_MS, quitWithin } from './redis-liveness.js'
import { joinBatch, WireBroker, type WireBrokerOptions } from './wire.js'

export interface RedisBrokerOptions extends WireBrokerOptions {
  url: string
  channel: string
}

export class RedisBroker extends WireBroker implements Broker {
  private readonly pub: Redis
  private readonly sub: Redis
  private interrupted = false
  private pinger: NodeJS.Timeout | undefined

  constructor (private readonly opts: RedisBrokerOptions) {
    super(opts)
    const common = {
      lazyConnect: true,
      retryStrategy: (attempt: number) => Math.min(attempt * 100, 5_000)
    }
    // The outbox alone retries publications, in order: ioredis neither
    // resends one that was in flight when the connection closed (it fails at
    // once instead) nor holds new ones while disconnected. One without an
    // answer (a half-open connection) times out within the retry window, and
    // the connection is replaced (see send).
    this.pub = new Redis(opts.url, {
      ...common,
      connectionName: `switchboard-pub:${opts.channel}`,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: Math.max(50, Math.floor(opts.publishRetryMs / 3))
    })
    this.sub = new Redis(opts.url, { ...common, connectionName: `switchboard-sub:${opts.channel}` })
    for (const [name, conn] of [['publisher', this.pub], ['subscriber', this.sub]] as const) {
      conn.on('error', (err: Error) => this.log.warn({ err, connection: name }, 'broker connection to Redis failed'))
    }
    // The publisher's replies count as sending, the subscription's reads as receiving.
    meterRedisReads(this.pub, this.cpu?.sent)
    meterRedisReads(this.sub, this.cpu?.received)
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
    // The subscriber only ever reads: without a PING a half-open connection
    // would go unnoticed. Cut, it reconnects, and 'ready' above calls lost().
    this.pinger = setInterval(() => {
      pingOrCut(this.sub, PING_MS, (err) => this.log.warn({ err, connection: 'subscriber' }, 'broker connection to Redis stopped answering; reconnecting'))
    }, PING_MS)
    this.pinger.unref()
  }

  protected async send (encoded: string[]): Promise<void> {
    try {
      await this.pub.publish(this.opts.channel, joinBatch(encoded))
    } catch (err) {
      // Nothing comes back on this connection: the retry needs a new one.
      if (err instanceof Error && err.message === 'Command timed out') cut(this.pub, true)
      throw err
    }
  }

  protected async disconnect (): Promise<void> {
    clearInterval(this.pinger)
    this.sub.removeAllListeners('ready')
    await Promise.all([quitWithin(this.pub, QUIT_MS), quitWithin(this.sub, QUIT_MS)])
  }
}
