// The CPU time this process spends on one kind of work, measured around it
// with process.cpuUsage (the process's CPU, so work of other threads that runs
// at the same instant counts too: a small error on short spans). A reading
// costs a system call (about a microsecond, as much as some of the spans it
// measures), so one span in SAMPLE is measured, at random, and counted SAMPLE
// times, less what the two readings themselves cost (measured once). The
// broker meters what it costs to carry messages between processes, both ways
// (metric broker_cpu_seconds_total, README "The scaling bench").
const SAMPLE = 16

let readingCost: number | undefined
/** The CPU of an empty measured span (two readings), µs: the median of many. */
function emptySpanMicros (): number {
  if (readingCost === undefined) {
    const spans: number[] = []
    for (let i = 0; i < 201; i++) {
      const d = process.cpuUsage(process.cpuUsage())
      spans.push(d.user + d.system)
    }
    readingCost = spans.sort((a, b) => a - b)[100]!
  }
  return readingCost
}

export class CpuMeter {
  /** CPU counted so far, microseconds (an estimate: see SAMPLE). */
  micros = 0
  private depth = 0
  private sampled = false
  private since: NodeJS.CpuUsage | undefined

  /** Counts the CPU of `fn` (its synchronous part; nested counts count once). */
  count<T> (fn: () => T): T {
    this.begin()
    try {
      return fn()
    } finally {
      this.end()
    }
  }

  /** Leaves the CPU of `fn` out of the count that encloses it, if any. */
  exclude<T> (fn: () => T): T {
    if (this.depth === 0 || !this.sampled) return fn()
    this.add()
    const depth = this.depth
    this.depth = 0
    try {
      return fn()
    } finally {
      this.depth = depth
      this.sampled = true
      this.since = process.cpuUsage()
    }
  }

  /** Opens a span closed by end() (for work between two event listeners). */
  begin (): void {
    if (this.depth++ !== 0) return
    this.sampled = Math.random() * SAMPLE < 1
    if (this.sampled) this.since = process.cpuUsage()
  }

  end (): void {
    if (this.depth === 0) return
    if (--this.depth === 0 && this.sampled) this.add()
  }

  private add (): void {
    const spent = process.cpuUsage(this.since)
    this.micros += Math.max(0, spent.user + spent.system - emptySpanMicros()) * SAMPLE
  }
}

/** What a broker costs this process: `received` from its connection's bytes to the events handed to the sockets (their writes left out), `sent` from a publication to its commands. */
export interface BrokerCpu { received: CpuMeter, sent: CpuMeter }

/**
 * Counts the work of an ioredis connection's socket reads (reply parsing and
 * what its listeners do synchronously) in `meter`, on every socket it opens:
 * ioredis puts its parser first among the socket's data listeners, so one
 * listener is put before it and one after.
 */
export function meterRedisReads (redis: { on (event: 'connect', listener: () => void): unknown, stream?: unknown }, meter: CpuMeter): void {
  redis.on('connect', () => {
    const stream = redis.stream as NodeJS.EventEmitter | undefined
    if (stream === undefined) return
    stream.prependListener('data', () => meter.begin())
    stream.on('data', () => meter.end())
  })
}
