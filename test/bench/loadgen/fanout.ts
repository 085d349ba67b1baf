// Load generator of the fan-out scenarios: one WebSocket per user as
// receivers, and senders posting over HTTP, in one process so that the
// post-to-push latency is measured on one clock: each post's body carries its
// send time (performance.now(), in µs), read back from the pushed frame.
// Works against Switchboard ('ours': REST + bearer tokens) and the bare ws
// baseline ('bare': the same paths, the sender named by a header).
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { serve } from '../harness/rpc.js'
import { Samples } from '../harness/stats.js'
import { nthPost, readTopology, type FanoutTopology } from '../harness/topology.js'
import { HttpClient, inParallel } from './http.js'
import { openLoop } from './loops.js'

type Mode = 'ours' | 'bare'

const MARKER = Buffer.from('"body":"bench:')
const PAD = 'x'.repeat(40)
const MAX_IN_FLIGHT = 2_000
// Keys unique to this load generator: a later one on the same database must not post retries.
const RUN = randomBytes(4).toString('hex')

let topology: FanoutTopology
let mode: Mode
let baseUrl: string
let http: HttpClient
const sockets: WebSocket[] = []
const latency = new Samples()
let deliveries = 0
let posts = 0
let failures = 0
let skipped = 0
let inFlight = 0
let frameBytes = 0
let markedAt = performance.now()
let running = false
let postCounter = 0
let loops: Array<Promise<void>> = []

function onFrame (data: Buffer): void {
  const at = performance.now()
  const i = data.indexOf(MARKER)
  if (i < 0) return
  let j = i + MARKER.length
  let micros = 0
  for (let c = data[j]!; c >= 48 && c <= 57; c = data[++j]!) micros = micros * 10 + (c - 48)
  deliveries++
  if (frameBytes === 0) frameBytes = data.length
  latency.push(at - micros / 1000)
}

function openSocket (index: number): Promise<void> {
  const user = topology.users[index]!
  const wsBase = baseUrl.replace(/^http/, 'ws')
  const ws = mode === 'ours'
    ? new WebSocket(`${wsBase}/v1/ws`, { headers: { authorization: `Bearer ${user.token}` }, perMessageDeflate: false, skipUTF8Validation: true })
    : new WebSocket(`${wsBase}/?u=${index}`, { perMessageDeflate: false, skipUTF8Validation: true })
  sockets.push(ws)
  return new Promise((resolve, reject) => {
    // Switchboard's first frame is `ready`; the bare server sends nothing first.
    if (mode === 'ours') ws.once('message', () => resolve())
    else ws.once('open', () => resolve())
    ws.on('message', onFrame)
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)))
    ws.once('error', reject)
  })
}

async function postOne (): Promise<void> {
  const n = postCounter++
  const { conversationId, sender } = nthPost(topology, n)
  const body = { body: `bench:${Math.round(performance.now() * 1000)}:${PAD}`, clientMessageId: `${RUN}-${n}` }
  const path = `/v1/conversations/${conversationId}/messages`
  inFlight++
  try {
    const res = mode === 'ours'
      ? await http.post(path, topology.users[sender]!.token, body)
      : await http.post(path, undefined, body, { 'x-user': String(sender) })
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
  async connect (p: { url: string, mode: Mode, topologyFile: string, concurrency?: number }) {
    // One load generator drives several servers in turn: each run starts afresh.
    topology = readTopology(p.topologyFile)
    mode = p.mode
    frameBytes = 0
    baseUrl = p.url
    http = new HttpClient(p.url, 64)
    const started = performance.now()
    await inParallel(topology.users.map((_, i) => i), p.concurrency ?? 100, (i) => openSocket(i))
    return { sockets: sockets.length, ms: performance.now() - started }
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
  peek: () => deliveries,

  /** What happened since the previous mark; resets the counters. */
  mark () {
    const now = performance.now()
    const out = { elapsedMs: now - markedAt, deliveries, posts, failures, skipped, frameBytes, latency: latency.take() }
    markedAt = now
    deliveries = posts = failures = skipped = 0
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
    for (const ws of sockets) ws.terminate()
    sockets.length = 0
    http?.close()
  }
})
