// The sync cursor of the ready frame: a snapshot taken after the socket
// joined the fan-out, so that a client may sync up to it (`until`) and take
// everything after it from the socket. Everything committed after the
// snapshot is pushed on the socket (it committed after the socket joined);
// everything it sees is returned by a sync up to it; what both bring carries
// the same seq (the client drops it). A snapshot taken before the socket
// joined would not do as `until`: a commit between the two would be in
// neither.
//
// One statement serves every socket that asked while the one before was
// running: a reconnect storm of a thousand sockets costs a statement per
// database round trip, not one per socket.
export interface SyncClockOptions {
  /** A cursor that starts now (src/domain/sync.ts). */
  take: () => Promise<string>
}

export class SyncClock {
  /** The snapshot statement running now. */
  private running: Promise<string> | undefined
  /** The one that starts when `running` ends, shared by every caller that came while it ran. */
  private next: Promise<string> | undefined

  constructor (private readonly opts: SyncClockOptions) {}

  /** A cursor of a snapshot taken after this call. */
  after (): Promise<string> {
    // Nothing running: one started now is after the call.
    if (this.running === undefined) return this.take()
    // The one running may have started before the call: the next one, once it ends.
    this.next ??= this.running.then(ignore, ignore).then(() => {
      this.next = undefined
      return this.take()
    })
    return this.next
  }

  private take (): Promise<string> {
    const taking = this.opts.take()
    this.running = taking
    const done = () => { if (this.running === taking) this.running = undefined }
    taking.then(done, done)
    return taking
  }
}

const ignore = () => undefined
