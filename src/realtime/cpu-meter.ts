// The CPU time this process spends on one kind of work, measured around it
// with process.cpuUsage (the process's CPU, so work of other threads that runs
// at the same instant counts too: a small error on short spans). A reading is
// a system call of about a microsecond, so the meter is off unless asked for
// (BROKER_CPU_METRICS): measuring every span of a busy broker costs a few
// percent of the process. (Measuring one span in 16 at random instead made
// the figure unstable: a few long spans, a garbage collection in one, weigh
// 16 times when drawn.) The broker meters what it costs to carry messages
// between processes, both ways (metric broker_cpu_seconds_total, README "The
// scaling bench").
export class CpuMeter {
  /** CPU counted so far, microseconds. */
  micros = 0
  private depth = 0
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
    if (this.depth === 0) return fn()
    this.add()
    const depth = this.depth
    this.depth = 0
    try {
      return fn()
    } finally {
      this.depth = depth
      this.since = process.cpuUsage()
    }
  }

  /** Opens a span closed by end() (for work between two event listeners). */
  begin (): void {
    if (this.depth++ === 0) this.since = process.cpuUsage()
  }

  end (): void {
    if (this.depth === 0) return
    if (--this.depth === 0) this.add()
  }

  private add (): void {
    const spent = process.cpuUsage(this.since)
    this.micros += spent.user + spent.system
  }
}

/** `fn`, its CPU counted in `meter` when there is one (the meter is off unless asked for). */
export function counted<T> (meter: CpuMeter | undefined, fn: () => T): T {
  return meter === undefined ? fn() : meter.count(fn)
}

/** What a broker costs this process: `received` from its connection's bytes to the events handed to the sockets (their writes left out), `sent` from a publication to its commands. */
export interface BrokerCpu { received: CpuMeter, sent: CpuMeter }

/**
 * Counts the work of an ioredis connection's socket reads (reply parsing and
 * what its listeners do synchronously) in `meter`, on every socket it opens:
 * ioredis puts its parser first among the socket's data listeners, so one
 * listener is put before it and one after.
 */
export function meterRedisReads (redis: { on (event: 'connect', listener: () => void): unknown, stream?: unknown }, meter: CpuMeter | undefined): void {
  if (meter === undefined) return
  redis.on('connect', () => {
    const stream = redis.stream as NodeJS.EventEmitter | undefined
    if (stream === undefined) return
    stream.prependListener('data', () => meter.begin())
    stream.on('data', () => meter.end())
  })
}
