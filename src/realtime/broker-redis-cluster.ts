// Broker over a Redis Cluster's sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis
// 7), so that each process receives only the traffic of its own users rather
// than every process all of it. Users map to BROKER_SHARDS shards by a stable
// hash of their id; each shard is a channel `<BROKER_CHANNEL>:shard:{<n>}`
// (the hash tag puts each on its own slot, so the shards spread over the
// cluster's masters). A process subscribes to a shard when the first socket of
// one of its users opens here and unsubscribes when the last one closes. A
// message for some users is published once per shard of its recipients,
// carrying only those (the frames themselves are encoded once, by the node).
// What every process must see (session revocations, loss notices) goes on one
// broadcast channel, `<BROKER_CHANNEL>:all`, which every process subscribes to.
//
// Ordering: one publisher's messages to one shard arrive in publication order
// (one send at a time, as in outbox.ts); the sequencer orders each
// conversation's events per shard stream (sequencer.ts, node.ts).
//
// Sharded pub/sub keeps nothing for a subscriber that is away. The
// subscriptions are kept here, one connection per master that owns a
// subscribed channel's slot (ioredis's own sharded subscribers do not come
// back reliably after a failover): when one of them ends (its master failed,
// or Redis cut it off past its output buffer limit), stops answering PING, or
// is unsubscribed by Redis itself (its slot moved), the slot map is read
// again, every channel of that master is subscribed again on the slot's
// owner now (the promoted replica), retried with backoff until it succeeds,
// and then subscribers are told messages were lost (sockets close with 4008,
// clients replay).
import { Cluster, Redis, type ClusterNode } from 'ioredis'
import type { Broker, BrokerMessage } from './broker.js'
import { meterRedisReads } from './cpu-meter.js'
import { PING_MS, pingOrCut, QUIT_MS, quitWithin } from './redis-liveness.js'
import { joinBatch, WireBroker, type WireBrokerOptions } from './wire.js'

export interface RedisClusterBrokerOptions extends WireBrokerOptions {
  /** Some nodes of the cluster (redis:// URLs); the others are discovered. */
  nodes: string[]
  channel: string
  /** How many user shards (every process of a deployment must use the same). */
  shards: number
}

/** 32-bit FNV-1a of a string's UTF-16 code units: stable across processes, machines and versions. */
export function shardOf (userId: string, shards: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < userId.length; i++) {
    h ^= userId.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0) % shards
}

export const shardChannel = (channel: string, shard: number) => `${channel}:shard:{${shard}}`
export const broadcastChannel = (channel: string) => `${channel}:all`

/** CRC16 (XMODEM) of a key, as Redis Cluster hashes it to one of 16,384 slots (a {hash tag} alone when present). */
export function keySlot (key: string): number {
  const open = key.indexOf('{')
  if (open !== -1) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) key = key.slice(open + 1, close)
  }
  let crc = 0
  for (const byte of Buffer.from(key)) {
    crc ^= byte << 8
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc % 16384
}

interface ShardState {
  /** Open sockets of this process whose user is in the shard. */
  sockets: number
  /** The subscription, until Redis confirmed it. */
  pending: Promise<void> | undefined
}

function clusterNodes (urls: string[]): { nodes: ClusterNode[], password?: string, username?: string, tls: boolean } {
  const parsed = urls.map((u) => new URL(u))
  const first = parsed[0]!
  return {
    nodes: parsed.map((u) => ({ host: u.hostname, port: Number(u.port || 6379) })),
    ...(first.password === '' ? {} : { password: decodeURIComponent(first.password) }),
    ...(first.username === '' ? {} : { username: decodeURIComponent(first.username) }),
    tls: first.protocol === 'rediss:'
  }
}

/** A subscriber connection to one master, and the channels subscribed on it. */
interface Subscriber { redis: Redis, channels: Set<string> }

const RECOVER_FIRST_MS = 100
const RECOVER_MAX_MS = 2_000

export class RedisClusterBroker extends WireBroker implements Broker {
  private readonly pub: Cluster
  private readonly shards = new Map<number, ShardState>()
  /** Every channel this process wants, and the master ("host:port") it is subscribed on (undefined: not yet). */
  private readonly wanted = new Map<string, string | undefined>()
  private readonly connections = new Map<string, Subscriber>()
  /** slot -> "host:port" of its master, as last read. */
  private slots: string[] = []
  private readonly redisOptions: { password?: string, username?: string, tls?: object }
  private recovering: Promise<void> | undefined
  private closing = false
  private pinger: NodeJS.Timeout | undefined

  constructor (private readonly opts: RedisClusterBrokerOptions) {
    super(opts)
    const { nodes, password, username, tls } = clusterNodes(opts.nodes)
    this.redisOptions = {
      ...(password === undefined ? {} : { password }),
      ...(username === undefined ? {} : { username }),
      ...(tls ? { tls: {} } : {})
    }
    // As broker-redis.ts: the outbox alone retries publications, in order.
    // A command to a master that is failing over fails rather than waits; the
    // outbox retries it until the cluster has promoted a replica.
    this.pub = new Cluster(nodes, {
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: (attempt: number) => Math.min(attempt * 100, 2_000),
      redisOptions: {
        ...this.redisOptions,
        connectionName: `switchboard-pub:${opts.channel}`,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        commandTimeout: Math.max(50, Math.floor(opts.publishRetryMs / 3))
      }
    })
    this.pub.on('error', (err: Error) => this.log.warn({ err, connection: 'publisher' }, 'broker connection to the Redis Cluster failed'))
    // The replies to publications count as sending (one connection per master).
    this.pub.on('+node', (redis: Redis) => meterRedisReads(redis, this.cpu?.sent))
  }

  async start (): Promise<void> {
    await this.pub.connect()
    await this.readSlots()
    await this.subscribeChannel(broadcastChannel(this.opts.channel))
    this.pinger = setInterval(() => this.ping(), PING_MS)
    this.pinger.unref()
  }

  shardOf (userId: string): number {
    return shardOf(userId, this.opts.shards)
  }

  join (userId: string): Promise<void> | undefined {
    const shard = this.shardOf(userId)
    let state = this.shards.get(shard)
    if (state === undefined) {
      const created: ShardState = { sockets: 0, pending: undefined }
      // Sockets wait for it at most as long as a publication is retried (the
      // cluster may be failing over); then they close and their clients
      // reconnect, while the subscription is still retried here.
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error('the user shard could not be subscribed in time')), this.opts.publishRetryMs)
      })
      const subscribing = this.subscribeChannel(shardChannel(this.opts.channel, shard))
      const pending = Promise.race([subscribing, late]).finally(() => clearTimeout(timer))
      created.pending = pending
      // Once subscribed (in time or later), sockets that open join at once.
      subscribing.then(() => { if (created.pending === pending) created.pending = undefined }, () => {})
      // The sockets waiting for it handle a failure; a later join gets the same promise.
      pending.catch(() => {})
      this.shards.set(shard, state = created)
    }
    state.sockets++
    return state.pending
  }

  leave (userId: string): number | undefined {
    const shard = this.shardOf(userId)
    const state = this.shards.get(shard)
    if (state === undefined || --state.sockets > 0) return undefined
    this.shards.delete(shard)
    this.unsubscribeChannel(shardChannel(this.opts.channel, shard))
    return shard
  }

  /** The shards this process subscribes to (tests). */
  get subscribedShards (): number[] {
    return [...this.shards.keys()]
  }

  // Events and frames go to the shards of their recipients, each part with
  // that shard's recipients; the rest goes to every process.
  protected override route (message: BrokerMessage): Array<[key: string, message: BrokerMessage]> {
    if (message.kind !== 'events' && message.kind !== 'frame') return [['', message]]
    const byShard = new Map<number, string[]>()
    for (const userId of message.userIds) {
      const shard = this.shardOf(userId)
      const list = byShard.get(shard)
      if (list === undefined) byShard.set(shard, [userId])
      else list.push(userId)
    }
    return [...byShard].map(([shard, userIds]) => [String(shard), { ...message, userIds, shard }])
  }

  // Consecutive messages to one channel go out as one SPUBLISH, the channels
  // in parallel: what one shard receives stays in publication order. If one
  // fails the outbox sends all again (a part may arrive twice: the clients
  // drop duplicates by seq).
  protected async send (encoded: string[], keys: string[]): Promise<void> {
    const byChannel = new Map<string, string[]>()
    for (let i = 0; i < encoded.length; i++) {
      const key = keys[i] ?? ''
      const channel = key === '' ? broadcastChannel(this.opts.channel) : shardChannel(this.opts.channel, Number(key))
      const list = byChannel.get(channel)
      if (list === undefined) byChannel.set(channel, [encoded[i]!])
      else list.push(encoded[i]!)
    }
    await Promise.all([...byChannel].map(([channel, list]) => this.pub.spublish(channel, joinBatch(list))))
  }

  protected async disconnect (): Promise<void> {
    this.closing = true
    clearInterval(this.pinger)
    const subs = [...this.connections.values()]
    this.connections.clear()
    await Promise.all([this.pub.quit().catch(() => {}), ...subs.map((s) => quitWithin(s.redis, QUIT_MS))])
  }

  // Subscriptions.

  // A half-open TCP connection delivers nothing and reports nothing; a PING
  // that gets no answer finds it, and the connection's end resubscribes.
  private ping (): void {
    for (const [node, sub] of this.connections) {
      pingOrCut(sub.redis, PING_MS, (err) => this.log.warn({ err, node }, 'broker subscriber connection to the Redis Cluster stopped answering'))
    }
  }

  /** Reads which master owns each slot now. */
  private async readSlots (): Promise<void> {
    const ranges = await this.pub.cluster('SLOTS')
    const slots: string[] = []
    for (const [from, to, master] of ranges) {
      if (master === undefined) continue
      for (let slot = from; slot <= to; slot++) slots[slot] = `${master[0]}:${master[1]}`
    }
    this.slots = slots
  }

  /** Resolves once the channel is subscribed on its slot's master (messages published from then on arrive). */
  private async subscribeChannel (channel: string): Promise<void> {
    this.wanted.set(channel, undefined)
    try {
      await this.subscribeOn(channel)
    } catch (err) {
      // The slot moved or its master is gone: the map is read again and every channel placed afresh.
      this.log.warn({ err, channel }, 'could not subscribe to a broker channel; reading the cluster map again')
      await this.recover()
      if (this.wanted.has(channel) && this.wanted.get(channel) === undefined) throw new Error(`could not subscribe to ${channel}`)
    }
  }

  private async subscribeOn (channel: string): Promise<void> {
    const node = this.slots[keySlot(channel)]
    if (node === undefined) throw new Error(`no master owns the slot of ${channel}`)
    const sub = this.subscriberFor(node)
    sub.channels.add(channel)
    await sub.redis.ssubscribe(channel)
    if (this.wanted.has(channel)) {
      this.wanted.set(channel, node)
      return
    }
    // Given up while it was on its way (the last socket of the shard closed): undone now.
    sub.channels.delete(channel)
    sub.redis.sunsubscribe(channel).catch((err: unknown) => this.log.warn({ err, channel }, 'could not unsubscribe from a broker channel'))
  }

  private unsubscribeChannel (channel: string): void {
    const node = this.wanted.get(channel)
    this.wanted.delete(channel)
    const sub = node === undefined ? undefined : this.connections.get(node)
    if (sub === undefined || this.closing) return
    sub.channels.delete(channel)
    sub.redis.sunsubscribe(channel).catch((err: unknown) => this.log.warn({ err, channel }, 'could not unsubscribe from a broker channel'))
    // A master none of whose slots this process subscribes to keeps no connection.
    if (sub.channels.size === 0) {
      this.connections.delete(node!)
      sub.redis.quit().catch(() => {})
    }
  }

  private subscriberFor (node: string): Subscriber {
    const existing = this.connections.get(node)
    if (existing !== undefined) return existing
    const colon = node.lastIndexOf(':')
    const redis = new Redis({
      ...this.redisOptions,
      host: node.slice(0, colon),
      port: Number(node.slice(colon + 1)),
      connectionName: `switchboard-sub:${this.opts.channel}`,
      // Not reconnected as it is: the slots may have another master now (recover).
      retryStrategy: () => null,
      maxRetriesPerRequest: 0
    })
    const sub: Subscriber = { redis, channels: new Set() }
    this.connections.set(node, sub)
    redis.on('error', (err: Error) => this.log.warn({ err, node }, 'broker subscriber connection to the Redis Cluster failed'))
    redis.on('smessage', (_channel: string, payload: string) => { this.inbox.push(payload) })
    meterRedisReads(redis, this.cpu?.received)
    // Redis unsubscribed this connection by itself: the slot of one of its
    // channels moved to another master (a manual failover, a resharding).
    // Ended here, the connection's channels are placed afresh (as on 'end').
    redis.on('moved', () => {
      this.log.warn({ node }, 'a broker channel slot moved off its master; subscribing again')
      redis.disconnect()
    })
    redis.on('end', () => {
      if (this.connections.get(node) !== sub) return
      this.connections.delete(node)
      let had = false
      for (const channel of sub.channels) {
        if (this.wanted.get(channel) === node) {
          this.wanted.set(channel, undefined)
          had = true
        }
      }
      if (had && !this.closing) {
        this.log.warn({ node }, 'broker subscriber connection to the Redis Cluster ended; subscribing again')
        void this.recover().then(() => {
          this.log.info({}, 'broker subscribed again to the Redis Cluster')
          this.lost('the broker connection was interrupted')
        }, () => {})
      }
    })
    return sub
  }

  /**
   * Places every wanted channel that has no subscription on its slot's
   * master, reading the slot map first; retried with backoff until all are
   * placed (a failover takes a few seconds). One at a time.
   */
  private recover (): Promise<void> {
    this.recovering ??= (async () => {
      let delay = RECOVER_FIRST_MS
      try {
        while (!this.closing) {
          try {
            await this.readSlots()
            // Read afresh each round: a connection that ended meanwhile left channels of its own.
            const missing = [...this.wanted].filter(([, node]) => node === undefined).map(([channel]) => channel)
            if (missing.length === 0) return
            await Promise.all(missing.map((channel) => this.subscribeOn(channel)))
            delay = RECOVER_FIRST_MS
            continue
          } catch (err) {
            this.log.warn({ err }, 'broker could not subscribe again to the Redis Cluster; retrying')
            await new Promise((resolve) => setTimeout(resolve, delay))
            delay = Math.min(delay * 2, RECOVER_MAX_MS)
          }
        }
        throw new Error('the broker is closing')
      } finally {
        this.recovering = undefined
      }
    })()
    return this.recovering
  }
}
