// How broker messages travel between processes. A publisher encodes each
// message once; the outbox (outbox.ts) sends what is published during one turn
// of the event loop as one JSON array (one NOTIFY or PUBLISH), retrying within
// bounds. On the receiving side the inbox queues what arrives, within a
// bound, and hands it on in time slices, so a burst neither stalls the process
// nor grows its memory.
import { randomUUID } from 'node:crypto'
import { deliverTo, type BrokerMessage, type BrokerSubscriber } from './broker.js'
import { counted, CpuMeter, type BrokerCpu } from './cpu-meter.js'
import { Outbox } from './outbox.js'

/** Marks a payload that stands for a staged one (PostgreSQL: a row id). */
export const REF_PREFIX = '#'

export const joinBatch = (encoded: string[]) => `[${encoded.join(',')}]`

export interface InboxOptions {
  /** Largest backlog, in characters of payload; past it the backlog is dropped. */
  maxBytes: number
  deliver (message: BrokerMessage): void
  lost (reason: string): void
  /** Reads staged payloads by reference, in the order given (undefined: gone). */
  resolve? (refs: string[]): Promise<Array<string | undefined>>
  onError (err: unknown): void
  /** Longest run of deliveries before other work gets a turn. */
  sliceMs?: number
  /** Counts the CPU of decoding and handing on what arrived. */
  meter?: CpuMeter
}

/** References resolved per read: bounds what one read holds in memory. */
const REFS_PER_READ = 8

export class Inbox {
  private queue: Array<string | undefined> = []
  private head = 0
  private bytes = 0
  private draining = false
  private generation = 0
  private closed = false
  /** The largest backlog held, and how often it was dropped. */
  readonly stats = { peakBytes: 0, overflows: 0 }

  constructor (private readonly opts: InboxOptions) {}

  push (wire: string): void {
    if (this.closed) return
    if (this.bytes + wire.length > this.opts.maxBytes) {
      this.overflow()
      return
    }
    this.queue.push(wire)
    this.bytes += wire.length
    if (this.bytes > this.stats.peakBytes) this.stats.peakBytes = this.bytes
    if (!this.draining) {
      this.draining = true
      setImmediate(() => { void this.drain() })
    }
  }

  close (): void {
    this.closed = true
    this.reset()
  }

  // The process cannot keep up: rather than buffer without limit, drop what
  // is queued (and this payload) and let subscribers resynchronise from the
  // event log; the clients replay.
  private overflow (): void {
    this.reset()
    this.generation++
    this.stats.overflows++
    this.opts.lost('this process fell behind the broker stream')
  }

  private reset (): void {
    this.queue = []
    this.head = 0
    this.bytes = 0
  }

  private take (): string {
    const wire = this.queue[this.head]!
    this.queue[this.head++] = undefined
    this.bytes -= wire.length
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
    return wire
  }

  private async drain (): Promise<void> {
    const sliceMs = this.opts.sliceMs ?? 10
    try {
      while (this.head < this.queue.length) {
        const until = performance.now() + sliceMs
        while (this.head < this.queue.length && performance.now() < until) {
          if (this.queue[this.head]!.startsWith(REF_PREFIX)) await this.deliverStaged()
          else this.deliverWire(this.take())
        }
        await new Promise((resolve) => setImmediate(resolve))
      }
    } finally {
      this.draining = false
    }
  }

  private async deliverStaged (): Promise<void> {
    const generation = this.generation
    const refs: string[] = []
    while (refs.length < REFS_PER_READ && this.head < this.queue.length && this.queue[this.head]!.startsWith(REF_PREFIX)) {
      refs.push(this.take().slice(REF_PREFIX.length))
    }
    let payloads: Array<string | undefined>
    try {
      if (this.opts.resolve === undefined) throw new Error('this broker does not stage payloads')
      payloads = await this.opts.resolve(refs)
    } catch (err) {
      this.opts.onError(err)
      payloads = refs.map(() => undefined)
    }
    // Dropped while reading: lost() has been called already.
    if (generation !== this.generation || this.closed) return
    if (payloads.some((p) => p === undefined)) this.opts.lost('a staged broker payload could not be read')
    for (const p of payloads) if (p !== undefined) this.deliverWire(p)
  }

  private deliverWire (wire: string): void {
    counted(this.opts.meter, () => this.decode(wire))
  }

  private decode (wire: string): void {
    let messages: BrokerMessage[]
    try {
      messages = JSON.parse(wire) as BrokerMessage[]
    } catch (err) {
      this.opts.onError(err)
      return
    }
    for (const message of messages) {
      try {
        this.opts.deliver(message)
      } catch (err) {
        this.opts.onError(err)
      }
    }
  }
}

/** The logging a broker needs (pino's signature). */
export interface BrokerLog {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
}

/**
 * Sent by a process that gave up publications (its broker refused them for
 * too long): the other processes may have missed them, so they resynchronise.
 * It never reaches subscribers as a message, only as lost().
 */
interface LossNotice { kind: 'broker.lost', from: string, reason: string }
const LOSS_NOTICE = 'broker.lost'

export interface WireBrokerOptions {
  /** Bound of the incoming backlog, and of the outgoing one while the broker refuses publications. */
  maxQueueBytes: number
  /** How long a publication is retried before it is given up (and every process told). */
  publishRetryMs: number
  log: BrokerLog
  /** Measure the CPU carrying messages costs (BROKER_CPU_METRICS). */
  meterCpu?: boolean
}

/**
 * What the multi-process brokers share: batching and bounded retries on the
 * way out, the bounded inbox on the way in, and the subscribers. A transport
 * supplies connect, send and disconnect, and pushes what it receives into the inbox.
 */
export abstract class WireBroker {
  private subscribers: BrokerSubscriber[] = []
  protected readonly inbox: Inbox
  protected readonly log: BrokerLog
  /** Tells this process's loss notices from the others'. */
  private readonly id = randomUUID()
  private readonly outbox: Outbox
  /** What carrying messages costs this process, each way, when measured (see cpu-meter.ts). */
  readonly cpu: BrokerCpu | undefined

  constructor (opts: WireBrokerOptions) {
    const { log } = opts
    this.log = log
    const cpu = this.cpu = opts.meterCpu === true ? { received: new CpuMeter(), sent: new CpuMeter() } : undefined
    this.inbox = new Inbox({
      ...(cpu === undefined ? {} : { meter: cpu.received }),
      maxBytes: opts.maxQueueBytes,
      deliver: (message) => {
        const notice = message as unknown as LossNotice
        if (notice.kind !== LOSS_NOTICE) deliverTo(this.subscribers, message, (err) => log.warn({ err }, 'broker subscriber failed'))
        else if (notice.from !== this.id) this.lost(`another process could not publish: ${notice.reason}`)
      },
      lost: (reason) => this.lost(reason),
      resolve: (refs) => this.resolve(refs),
      onError: (err) => log.warn({ err }, 'broker message dropped')
    })
    this.outbox = new Outbox({
      send: (encoded, keys) => counted(cpu?.sent, () => this.send(encoded, keys)),
      maxBytes: opts.maxQueueBytes,
      retryMs: opts.publishRetryMs,
      gaveUp: (count, reason) => {
        // This process's own sockets missed them too: they replay at once. The
        // others learn of it with the next publication that gets through.
        log.warn({ count, reason }, 'broker publications given up')
        this.lost(`publications were given up: ${reason}`)
        this.outbox.owe({ kind: LOSS_NOTICE, from: this.id, reason } satisfies LossNotice)
      }
    })
  }

  abstract start (): Promise<void>
  /** Sends encoded messages in order; `keys` as route() gave them (see Outbox). */
  protected abstract send (encoded: string[], keys: string[]): Promise<void>
  protected abstract disconnect (): Promise<void>

  protected resolve (_refs: string[]): Promise<Array<string | undefined>> {
    return Promise.reject(new Error('this broker does not stage payloads'))
  }

  /** Where a message goes: one channel for all (key ''), unless a transport routes it in parts. */
  protected route (message: BrokerMessage): Array<[key: string, message: BrokerMessage]> {
    return [['', message]]
  }

  publish (message: BrokerMessage): Promise<void> {
    return counted(this.cpu?.sent, () => this.publishParts(message))
  }

  private publishParts (message: BrokerMessage): Promise<void> {
    const parts = this.route(message)
    if (parts.length === 1) return this.outbox.publish(parts[0]![1], parts[0]![0])
    return Promise.all(parts.map(([key, part]) => this.outbox.publish(part, key))).then(() => {})
  }

  subscribe (subscriber: BrokerSubscriber): void {
    this.subscribers = [...this.subscribers, subscriber]
  }

  /** The largest incoming backlog held, and how often it was dropped. */
  get queueStats (): Readonly<Inbox['stats']> {
    return this.inbox.stats
  }

  protected lost (reason: string): void {
    this.log.warn({ reason }, 'broker messages may have been lost; clients will replay')
    for (const s of this.subscribers) s.lost(reason)
  }

  async close (): Promise<void> {
    await this.outbox.close()
    this.inbox.close()
    await this.disconnect()
  }
}
