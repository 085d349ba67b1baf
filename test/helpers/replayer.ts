// A client that follows the README's reconnect-and-replay recipe: apply an
// event only when it is the next seq, drop duplicates, fill gaps and missed
// time over REST. Tests compare its view with the database.
import { client, type Account } from './http.js'
import { connect, type TestSocket } from './ws.js'

export interface SeenEvent { conversationId: string, seq: number, type: string, data: any }

const EVENT_TYPES = new Set(['message.created', 'message.updated', 'message.deleted', 'member.added', 'members.added', 'member.removed', 'member.updated', 'conversation.updated'])

export class ReplayingClient {
  readonly applied = new Map<string, SeenEvent[]>()
  socket: TestSocket | undefined
  private readonly chains = new Map<string, Promise<void>>()
  private readonly buffered = new Map<string, SeenEvent[]>()
  duplicatesDropped = 0

  constructor (public baseUrl: string, readonly account: Account) {}

  lastSeq (conversationId: string): number {
    const list = this.applied.get(conversationId)
    return list === undefined || list.length === 0 ? 0 : list[list.length - 1]!.seq
  }

  private apply (e: SeenEvent): boolean {
    const last = this.lastSeq(e.conversationId)
    if (e.seq <= last) { this.duplicatesDropped++; return true }
    if (last !== 0 && e.seq !== last + 1) return false
    if (!this.applied.has(e.conversationId)) this.applied.set(e.conversationId, [])
    this.applied.get(e.conversationId)!.push(e)
    return true
  }

  private onPush (e: SeenEvent) {
    if (this.chains.has(e.conversationId)) {
      this.buffered.set(e.conversationId, [...(this.buffered.get(e.conversationId) ?? []), e])
      return
    }
    if (!this.apply(e)) {
      this.buffered.set(e.conversationId, [e])
      this.replay(e.conversationId)
    }
  }

  /** Replays a conversation from the local lastSeq, then applies what arrived meanwhile. */
  replay (conversationId: string): Promise<void> {
    const running = this.chains.get(conversationId)
    if (running !== undefined) return running
    const api = client(this.baseUrl)
    const run = (async () => {
      for (;;) {
        const after = this.lastSeq(conversationId)
        const res = await api.get(`/v1/conversations/${conversationId}/events?after=${after}&limit=100`, { token: this.account.accessToken })
        if (res.status !== 200) throw new Error(`replay ${res.status} ${JSON.stringify(res.body)}`)
        for (const e of res.body.events) this.apply({ conversationId, seq: e.seq, type: e.type, data: e.data })
        if (!res.body.hasMore) break
      }
      const pending = this.buffered.get(conversationId) ?? []
      this.buffered.delete(conversationId)
      for (const e of pending.sort((a, b) => a.seq - b.seq)) this.apply(e)
    })().finally(() => this.chains.delete(conversationId))
    this.chains.set(conversationId, run)
    return run
  }

  /** Connects (or reconnects) and catches up every conversation whose lastSeq moved. */
  async connect (baseUrl = this.baseUrl): Promise<void> {
    this.baseUrl = baseUrl
    await this.disconnect()
    const socket = await connect(baseUrl, this.account.accessToken)
    this.socket = socket
    socket.ws.on('message', (raw) => {
      const f = JSON.parse(raw.toString())
      if (EVENT_TYPES.has(f.type)) this.onPush({ conversationId: f.conversationId, seq: f.seq, type: f.type, data: f.data })
    })
    await this.catchUp()
  }

  async catchUp (): Promise<void> {
    const api = client(this.baseUrl)
    let cursor: string | null = null
    const moved: string[] = []
    do {
      const res: any = await api.get(`/v1/conversations?limit=100${cursor === null ? '' : `&cursor=${cursor}`}`, { token: this.account.accessToken })
      if (res.status !== 200) throw new Error(`list ${res.status}`)
      for (const c of res.body.conversations) if (c.lastSeq > this.lastSeq(c.id)) moved.push(c.id)
      cursor = res.body.nextCursor
    } while (cursor !== null)
    await Promise.all(moved.map((id) => this.replay(id)))
  }

  /** Waits until every running replay has settled. */
  async settle (): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()])
  }

  async disconnect (): Promise<void> {
    await this.socket?.close()
    this.socket = undefined
  }
}
