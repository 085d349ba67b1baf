// A bound on the upload bytes one process takes per second (local driver:
// the bytes pass through this process). Every upload stream shares one token
// bucket; a chunk that finds it empty waits its turn, and while it waits the
// stream is not read, so TCP slows the sender down. The CPU an upload costs
// (the sender's writes, the socket reads, the file writes) is spread over time
// instead of taking the cores from the chat's posts and pushes (README
// "Attachments", the bench's scenario 8).
//
// Whose turn: mostly the upload with the fewest bytes left (a photo is not
// held behind a video, and uploads that arrive together finish one after
// another instead of all at the end, so their completions, each a few
// database writes, do not come as one burst); every `FIFO_EVERY`-th turn goes
// to the chunk that has waited longest, so a large upload keeps moving while
// small ones keep arriving.
import { Transform } from 'node:stream'

/** One turn in this many goes to the longest-waiting chunk rather than to the upload with the fewest bytes left. */
export const FIFO_EVERY = 8

interface Waiting {
  bytes: number
  /** Bytes of its upload still to come, this chunk's included (Infinity when the size is not known). */
  left: number
  /** Arrival order. */
  order: number
  go: () => void
}

export class ByteRate {
  private tokens: number
  private last = performance.now()
  private waiting: Waiting[] = []
  private arrivals = 0
  private turns = 0
  private timer: NodeJS.Timeout | undefined

  /** `bytesPerSecond` 0: no bound. `burstBytes`: what may pass at once after a quiet time. */
  constructor (private readonly bytesPerSecond: number, private readonly burstBytes = Math.max(64 * 1024, bytesPerSecond / 10)) {
    this.tokens = burstBytes
  }

  /** A pass-through stream that takes its chunks from the shared budget; `size`: the bytes it will carry, if known. */
  stream (size = Infinity): Transform {
    let left = size
    return new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        if (this.bytesPerSecond === 0) return done(null, chunk)
        this.waiting.push({ bytes: chunk.length, left, order: this.arrivals++, go: () => done(null, chunk) })
        left -= chunk.length
        this.drain()
      }
    })
  }

  private refill (): void {
    const now = performance.now()
    this.tokens = Math.min(this.burstBytes, this.tokens + (now - this.last) * this.bytesPerSecond / 1000)
    this.last = now
  }

  /** Index of the chunk whose turn it is. */
  private next (): number {
    const fifo = this.turns % FIFO_EVERY === FIFO_EVERY - 1
    let best = 0
    for (let i = 1; i < this.waiting.length; i++) {
      const a = this.waiting[i]!
      const b = this.waiting[best]!
      if (fifo ? a.order < b.order : a.left < b.left || (a.left === b.left && a.order < b.order)) best = i
    }
    return best
  }

  private drain (): void {
    this.refill()
    while (this.waiting.length > 0) {
      const i = this.next()
      const chunk = this.waiting[i]!
      // A chunk larger than the burst goes once the bucket is full, leaving it in debt.
      const need = Math.min(chunk.bytes, this.burstBytes)
      if (this.tokens < need) return this.wakeWhenRefilled(need)
      this.tokens -= chunk.bytes
      this.waiting.splice(i, 1)
      this.turns++
      chunk.go()
    }
  }

  /** Drains again once the bucket holds `need` bytes. */
  private wakeWhenRefilled (need: number): void {
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.drain()
    }, Math.max(1, Math.ceil((need - this.tokens) * 1000 / this.bytesPerSecond)))
    this.timer.unref()
  }
}
