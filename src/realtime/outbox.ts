// How a process's broker messages leave it. The messages published during one
// turn of the event loop go out together (one NOTIFY or PUBLISH); one send is
// in flight at a time, and what is published meanwhile goes out with the next.
// A send that fails is retried ahead of everything published after it, so
// what gets through arrives in publication order. While the broker refuses,
// the backlog is bounded in bytes and in time: past either bound it is given
// up, and the broker owes the other processes a notice (sent ahead of the next
// send that gets through) so that they resynchronise their clients.
import type { BrokerMessage } from './broker.js'

export interface OutboxOptions {
  /**
   * Sends encoded messages, in order; `keys[i]` is where `encoded[i]` goes
   * (the sharded broker's shard, '' for every process; the other brokers
   * have one channel and ignore it).
   */
  send (encoded: string[], keys: string[]): Promise<void>
  /** Largest backlog, in characters of encoded messages, held while sends fail. */
  maxBytes: number
  /** Longest a message waits for the broker (retries included) before it is given up. */
  retryMs: number
  /** Messages were given up: they will never be sent. */
  gaveUp (count: number, reason: string): void
}

interface Batch {
  encoded: string[]
  keys: string[]
  since: number
  settle (err?: Error): void
  sent: Promise<void>
}

const FIRST_RETRY_MS = 50
const MAX_RETRY_MS = 1_000

export class Outbox {
  private queue: Batch[] = []
  /** The batch that this turn of the event loop adds to (not yet taken by a send). */
  private open: Batch | undefined
  private bytes = 0
  private owed: string | undefined
  private running: Promise<void> | undefined
  private closing = false
  private wake: (() => void) | undefined

  constructor (private readonly opts: OutboxOptions) {}

  /** Resolves once the message is sent (to `key`: see send); rejects if it is given up. */
  publish (message: BrokerMessage, key = ''): Promise<void> {
    if (this.closing) return Promise.reject(new Error('the broker is closing'))
    const encoded = JSON.stringify(message)
    if (this.bytes + encoded.length > this.opts.maxBytes) {
      this.giveUp('the outgoing broker backlog is full')
      if (encoded.length > this.opts.maxBytes) return Promise.reject(new Error('broker message larger than the outgoing backlog'))
    }
    if (this.open === undefined) {
      let settle!: (err?: Error) => void
      const sent = new Promise<void>((resolve, reject) => { settle = (err) => err === undefined ? resolve() : reject(err) })
      // Callers that do not wait for the outcome must not see an unhandled rejection.
      sent.catch(() => {})
      this.open = { encoded: [], keys: [], since: Date.now(), settle, sent }
      this.queue.push(this.open)
      this.start()
    }
    this.open.encoded.push(encoded)
    this.open.keys.push(key)
    this.bytes += encoded.length
    return this.open.sent
  }

  /**
   * A message that must reach the other processes once the broker takes
   * anything again; it is retried until then, ahead of the queue, and is
   * never given up (one at a time: a later one replaces it).
   */
  owe (message: object): void {
    this.owed = JSON.stringify(message)
    this.start()
  }

  /** Makes one last attempt at what is queued (and owed), then gives up the rest; resolves when done. */
  async close (): Promise<void> {
    this.closing = true
    this.wake?.()
    await this.running
  }

  private start (): void {
    if (this.running !== undefined || this.closing) return
    this.running = this.run().finally(() => {
      this.running = undefined
      if ((this.queue.length > 0 || this.owed !== undefined) && !this.closing) this.start()
    })
  }

  private async run (): Promise<void> {
    let delay = FIRST_RETRY_MS
    // Everything published in this turn of the event loop joins the first send.
    await new Promise((resolve) => setImmediate(resolve))
    while (this.queue.length > 0 || this.owed !== undefined) {
      this.open = undefined
      const batches = this.queue.slice()
      const owed = this.owed
      const encoded = batches.flatMap((b) => b.encoded)
      const keys = batches.flatMap((b) => b.keys)
      try {
        await this.sendWithin(owed === undefined ? encoded : [owed, ...encoded], owed === undefined ? keys : ['', ...keys])
        if (this.owed === owed) this.owed = undefined
        // Unless they were given up meanwhile (the backlog filled up), the batches sent are the head of the queue.
        if (this.queue[0] === batches[0]) {
          this.queue.splice(0, batches.length)
          this.bytes -= encoded.reduce((n, e) => n + e.length, 0)
        }
        for (const b of batches) b.settle()
        delay = FIRST_RETRY_MS
        continue
      } catch (err) {
        const oldest = this.queue[0]
        if (this.closing) {
          this.giveUp(`the broker refused the last attempt before shutdown: ${describe(err)}`)
          return
        }
        if (oldest !== undefined && Date.now() - oldest.since >= this.opts.retryMs) {
          this.giveUp(`the broker refused publications for ${this.opts.retryMs} ms: ${describe(err)}`)
        }
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay)
        this.wake = () => { clearTimeout(timer); resolve() }
      })
      this.wake = undefined
      delay = Math.min(delay * 2, MAX_RETRY_MS)
    }
  }

  /** A send that neither succeeds nor fails (a half-open connection) counts as failed after retryMs. */
  private async sendWithin (encoded: string[], keys: string[]): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from the broker in ${this.opts.retryMs} ms`)), this.opts.retryMs)
    })
    try {
      await Promise.race([this.opts.send(encoded, keys), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  private giveUp (reason: string): void {
    const batches = this.queue
    if (batches.length === 0) return
    this.queue = []
    this.open = undefined
    this.bytes = 0
    const count = batches.reduce((n, b) => n + b.encoded.length, 0)
    this.opts.gaveUp(count, reason)
    const err = new Error(`broker publication given up: ${reason}`)
    for (const b of batches) b.settle(err)
  }
}

const describe = (err: unknown) => err instanceof Error ? err.message : String(err)
