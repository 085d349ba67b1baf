// Who is connected to this process: user id -> open connections, and session
// id -> open connections (a logout closes its sockets without a scan of all).
// Frames are encoded once by the caller and written to every socket as they
// are; the frames one socket gets in one turn of the event loop leave in one write.
import type { Connection } from './connection.js'

export class Hub {
  private readonly byUser = new Map<string, Set<Connection>>()
  // Almost every session has one socket here: it is held as itself, and a Set
  // is made only for a second one (every byte counts per idle connection).
  private readonly bySession = new Map<string, Connection | Set<Connection>>()
  private count = 0
  private corked: Connection[] = []
  // Runs once the current synchronous work (and its microtasks) is done:
  // everything delivered until then goes out in one write per socket.
  private readonly uncorkAll = () => {
    const corked = this.corked
    this.corked = []
    for (const conn of corked) conn.uncork()
  }

  add (conn: Connection): void {
    let set = this.byUser.get(conn.userId)
    if (set === undefined) this.byUser.set(conn.userId, set = new Set())
    set.add(conn)
    this.count++
    const held = this.bySession.get(conn.sessionId)
    if (held === undefined) this.bySession.set(conn.sessionId, conn)
    else if (held instanceof Set) held.add(conn)
    else this.bySession.set(conn.sessionId, new Set([held, conn]))
  }

  /** Returns true when it was the user's last connection here. */
  remove (conn: Connection): boolean {
    const set = this.byUser.get(conn.userId)
    if (set === undefined || !set.delete(conn)) return false
    this.count--
    const held = this.bySession.get(conn.sessionId)
    if (held === conn || (held instanceof Set && held.delete(conn) && held.size === 0)) this.bySession.delete(conn.sessionId)
    if (set.size > 0) return false
    this.byUser.delete(conn.userId)
    return true
  }

  get size (): number { return this.count }

  /** The ids of the open connections, by user. */
  connectionIdsByUser (): Map<string, string[]> {
    const ids = new Map<string, string[]>()
    for (const [userId, set] of this.byUser) ids.set(userId, [...set].map((c) => c.id))
    return ids
  }

  connectionsOf (userId: string): number {
    return this.byUser.get(userId)?.size ?? 0
  }

  hasUser (userId: string): boolean {
    return this.byUser.has(userId)
  }

  deliver (userIds: Iterable<string>, frame: string | Buffer, exceptConnectionId?: string): number {
    let sent = 0
    // UTF-8 encoded once here, when the first socket is found, rather than by
    // every socket's write (and measured by every send).
    let data: Buffer | undefined = typeof frame === 'string' ? undefined : frame
    for (const userId of userIds) {
      const set = this.byUser.get(userId)
      if (set === undefined) continue
      for (const conn of set) {
        if (conn.id === exceptConnectionId) continue
        data ??= Buffer.from(frame as string)
        if (conn.cork()) {
          if (this.corked.length === 0) process.nextTick(this.uncorkAll)
          this.corked.push(conn)
        }
        conn.send(data)
        sent++
      }
    }
    return sent
  }

  closeSession (sessionId: string, code: number, reason: string): void {
    const held = this.bySession.get(sessionId)
    if (held === undefined) return
    for (const conn of held instanceof Set ? [...held] : [held]) conn.close(code, reason)
  }

  closeAll (code: number, reason: string): void {
    for (const set of this.byUser.values()) for (const conn of set) conn.close(code, reason)
  }

  /** Pings every socket; one that did not answer the previous ping is cut. */
  heartbeat (): void {
    for (const set of this.byUser.values()) {
      for (const conn of set) {
        if (!conn.alive) {
          conn.socket.terminate()
          continue
        }
        conn.alive = false
        conn.socket.ping()
      }
    }
  }
}
