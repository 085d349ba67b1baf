// A bound on the upload bytes one process takes per second (local driver:
// the bytes pass through this process). Every upload stream shares one token
// bucket; a chunk that finds it empty waits its turn, in arrival order, and
// while it waits the stream is not read, so TCP slows the sender down. The
// CPU an upload costs (the sender's writes, the socket reads, the file writes)
// is spread over time instead of taking the cores from the chat's posts and
// pushes (README "Attachments", the bench's scenario 8).
import { Transform } from 'node:stream'

export class ByteRate {
  private tokens: number
  private last = performance.now()
  /** The chunks waiting for tokens, oldest first. */
  private queue: Array<{ bytes: number, go: () => void }> = []
  private timer: NodeJS.Timeout | undefined

  /** `bytesPerSecond` 0: no bound. `burstBytes`: what may pass at once after a quiet time. */
  constructor (private readonly bytesPerSecond: number, private readonly burstBytes = Math.max(64 * 1024, bytesPerSecond / 10)) {
    this.tokens = burstBytes
  }

  /** A pass-through stream that takes its chunks from the shared budget. */
  stream (): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        if (this.bytesPerSecond === 0) return done(null, chunk)
        this.take(chunk.length, () => done(null, chunk))
      }
    })
  }

  private refill (): void {
    const now = performance.now()
    this.tokens = Math.min(this.burstBytes, this.tokens + (now - this.last) * this.bytesPerSecond / 1000)
    this.last = now
  }

  private take (bytes: number, go: () => void): void {
    this.queue.push({ bytes, go })
    this.drain()
  }

  private drain (): void {
    this.refill()
    while (this.queue.length > 0) {
      const head = this.queue[0]!
      // A chunk larger than the burst goes once the bucket is full, leaving it in debt.
      const need = Math.min(head.bytes, this.burstBytes)
      if (this.tokens < need) break
      this.tokens -= head.bytes
      this.queue.shift()
      head.go()
    }
    if (this.queue.length > 0 && this.timer === undefined) {
      const need = Math.min(this.queue[0]!.bytes, this.burstBytes)
      const waitMs = Math.max(1, Math.ceil((need - this.tokens) * 1000 / this.bytesPerSecond))
      this.timer = setTimeout(() => {
        this.timer = undefined
        this.drain()
      }, waitMs)
      this.timer.unref()
    }
  }
}
