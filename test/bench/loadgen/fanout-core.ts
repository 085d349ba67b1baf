// What every fan-out load generator does, whatever its receivers' client:
// senders posting over HTTP, and the counting of deliveries and post-to-push
// latency, in one process so that the latency is measured on one clock: each
// post's body carries its send time (performance.now(), in µs), read back from
// the pushed frame. A load generator supplies only its receivers (loadgen/
// fanout.ts: `ws` sockets; loadgen/fanout-socketio.ts: socket.io-client).
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { serve } from '../harness/rpc.js'
import { Samples } from '../harness/stats.js'
import { nthPost, readTopology, type FanoutTopology } from '../harness/topology.js'
import { HttpClient, inParallel } from './http.js'
import { openLoop } from './loops.js'

/**
 * The server driven: Switchboard ('ours'), the naive Fastify + Prisma server
 * ('naive'), the Socket.IO server ('socketio'), all with bearer tokens; or
 * the bare ws server ('bare'), which names users by index (`?u=`, `x-user`).
 */
export type Mode = 'ours' | 'naive' | 'socketio' | 'bare'

export interface Receivers {
  /**
   * Opens the receiver of user `index` on the server `url` (number `server` of the servers driven, from 0);
   * resolves once pushes to it arrive (calls `counter` with each, and the server).
   */
  open (index: number, user: { id: string, token: string }, p: { url: string, mode: Mode, server: number }): Promise<void>
  closeAll (): void
}

const MARKER = Buffer.from('"body":"bench:')
const BODY_PREFIX = 'bench:'
const PAD = 'x'.repeat(40)
const MAX_IN_FLIGHT = 2_000
// Keys unique to this load generator: a later one on the same database must not post retries.
const RUN = randomBytes(4).toString('hex')

/** Deliveries of bench posts (in all, and per server driven), their post-to-push latency and the size of a pushed frame. */
class DeliveryCounter {
  deliveries = 0
  byServer: number[] = [0]
  frameBytes = 0
  readonly latency = new Samples()

  /** A frame as the server wrote it (JSON text): counted when it carries a bench post's body. */
  frame (data: Buffer, server = 0): void {
    const at = performance.now()
    const i = data.indexOf(MARKER)
    if (i < 0) return
    let j = i + MARKER.length
    let micros = 0
    for (let c = data[j]!; c >= 48 && c <= 57; c = data[++j]!) micros = micros * 10 + (c - 48)
    this.count(at, micros, data.length, server)
  }

  /** A message already decoded by the client library: its body, and the size of the frame that carried it. */
  body (body: string, frameBytes: number, server = 0): void {
    const at = performance.now()
    if (!body.startsWith(BODY_PREFIX)) return
    let micros = 0
    for (let j = BODY_PREFIX.length, c = body.charCodeAt(j); c >= 48 && c <= 57; c = body.charCodeAt(++j)) micros = micros * 10 + (c - 48)
    this.count(at, micros, frameBytes, server)
  }

  private count (at: number, sentMicros: number, bytes: number, server: number): void {
    this.deliveries++
    this.byServer[server]!++
    if (this.frameBytes === 0) this.frameBytes = bytes
    this.latency.push(at - sentMicros / 1000)
  }
}

export const counter = new DeliveryCounter()

/** Answers the orchestrator's calls (scenarios/fanout.ts) with these receivers. */
export function serveFanout (receivers: Receivers): void {
  let topology: FanoutTopology
  let mode: Mode
  /** One client per server driven: posts go round-robin over them. */
  let https: HttpClient[] = []
  let posts = 0
  let failures = 0
  let skipped = 0
  let inFlight = 0
  let markedAt = performance.now()
  let running = false
  let postCounter = 0
  let loops: Array<Promise<void>> = []

  async function postOne (): Promise<void> {
    const n = postCounter++
    const { conversationId, sender } = nthPost(topology, n)
    const body = { body: `${BODY_PREFIX}${Math.round(performance.now() * 1000)}:${PAD}`, clientMessageId: `${RUN}-${n}` }
    const path = `/v1/conversations/${conversationId}/messages`
    // nthPost alternates the group and the direct conversations: each kind goes round-robin over the servers.
    const http = https[(n >> 1) % https.length]!
    inFlight++
    try {
      const res = mode === 'bare'
        ? await http.post(path, undefined, body, { 'x-user': String(sender) })
        : await http.post(path, topology.users[sender]!.token, body)
      if (res.status === 200 || res.status === 201) posts++
      else failures++
    } catch {
      failures++
      await new Promise((r) => setTimeout(r, 10))
    } finally {
      inFlight--
    }
  }

  serve({
    /**
     * Opens every user's receiver: on `url`, or with `urls` (several processes serving the same users) user i's on
     * server i mod n, and the posts go round-robin over them; deliveries are counted per server too.
     */
    async connect (p: { url?: string, urls?: string[], mode: Mode, topologyFile: string, concurrency?: number }) {
      // One load generator drives several servers in turn: each run starts afresh.
      topology = readTopology(p.topologyFile)
      mode = p.mode
      counter.frameBytes = 0
      const urls = p.urls ?? (p.url === undefined ? [] : [p.url])
      if (urls.length === 0) throw new Error('connect needs url or urls')
      counter.byServer = urls.map(() => 0)
      https = urls.map((url) => new HttpClient(url, 64))
      const started = performance.now()
      await inParallel(topology.users, p.concurrency ?? 100, (user, i) => receivers.open(i, user, { url: urls[i % urls.length]!, mode, server: i % urls.length }))
      return { sockets: topology.users.length, ms: performance.now() - started }
    },

    /** Starts posting: closed loops of `senders` (saturation), or `rate` posts/s. */
    start (p: { senders?: number, rate?: number }) {
      running = true
      if (p.rate !== undefined) {
        loops = [openLoop(p.rate, () => running, () => {
          if (inFlight >= MAX_IN_FLIGHT) skipped++
          else void postOne()
        })]
      }
      else {
        loops = Array.from({ length: p.senders ?? 32 }, async () => {
          while (running) await postOne()
        })
      }
    },

    /** Deliveries since the previous mark. */
    peek: () => counter.deliveries,

    /** What happened since the previous mark; resets the counters. */
    mark () {
      const now = performance.now()
      const out = {
        elapsedMs: now - markedAt, deliveries: counter.deliveries, deliveriesByServer: counter.byServer, posts, failures, skipped, frameBytes: counter.frameBytes,
        latency: counter.latency.take()
      }
      markedAt = now
      counter.deliveries = posts = failures = skipped = 0
      counter.byServer = counter.byServer.map(() => 0)
      return out
    },

    async stop () {
      running = false
      await Promise.all(loops)
      const deadline = performance.now() + 10_000
      while (inFlight > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10))
      return { inFlight }
    },

    close () {
      receivers.closeAll()
      for (const http of https) http.close()
      https = []
    }
  })
}
