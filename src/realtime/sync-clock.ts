// The sync cursor of the ready frame, without a database call per socket
// opened: a snapshot this process takes about every second (one statement),
// handed to each socket that opens after it was taken. A cursor older than
// the socket is safe: everything committed after it is either pushed on the
// socket (committed after the socket joined the fan-out) or returned by a
// sync from it; what both bring twice carries the same seq (the client drops
// it). A cursor newer than the socket would not be: a commit between the two
// would be in neither. So the snapshot handed out is always one taken before.
export interface SyncClockOptions {
  /** A cursor that starts now (src/domain/sync.ts). */
  take: () => Promise<string>
  intervalMs: number
  onError: (err: unknown) => void
}

export class SyncClock {
  private last: string | undefined
  private timer: NodeJS.Timeout | undefined
  private taking: Promise<void> | undefined

  constructor (private readonly opts: SyncClockOptions) {}

  /** Takes the first snapshot, then one per interval. */
  async start (): Promise<void> {
    await this.tick()
    this.timer = setInterval(() => { void this.tick() }, this.opts.intervalMs)
    this.timer.unref()
  }

  /** The latest snapshot taken (all of them before this call). */
  current (): string | undefined {
    return this.last
  }

  stop (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  private tick (): Promise<void> {
    // One at a time: a slow database does not pile statements up.
    this.taking ??= this.opts.take()
      .then((cursor) => { this.last = cursor }, (err: unknown) => this.opts.onError(err))
      .finally(() => { this.taking = undefined })
    return this.taking
  }
}
