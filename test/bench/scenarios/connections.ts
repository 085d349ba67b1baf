// Scenario 3, connections: RSS per idle authenticated WebSocket at each
// connection count, and connections opened per second, for Switchboard and
// for the bare ws server. Each repetition starts a fresh server: memory a
// process has once taken is not given back. RSS per connection is
// (RSS at N - RSS after a warm-up of a few hundred sockets) / (N - those).
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { BenchContext } from '../harness/context.js'
import { openFileLimit, pinServer, rssKiB, sleep } from '../harness/processes.js'
import { startWorker, type Worker } from '../harness/rpc.js'
import { Seeder } from '../harness/seed.js'
import { startSwitchboard } from '../harness/server.js'
import { figure, ratio, type Figure } from '../harness/stats.js'
import type { BenchOptions } from '../options.js'

const LOADGEN = new URL('../loadgen/connections.ts', import.meta.url)
const BARE = new URL('../baselines/ws-broadcast.ts', import.meta.url)

const WARM_UP = 200
/** Sockets per load-generator process (each needs one file descriptor per socket). */
const PER_LOADGEN = 10_000
/** Descriptors a server needs besides its sockets (database pool, listener, stdio, epoll...). */
const SERVER_FD_RESERVE = 200

export interface ConnectionLevel {
  /** Connections opened (a requested count above the open-file limit is lowered to it). */
  attempted: number
  held: Figure
  rssKiB: Figure
  perConnectionKiB: Figure
  openedPerSec: Figure
}

export interface ConnectionsResult {
  openFileLimit: number
  /** Set when a requested count exceeds what one process may open here. */
  cappedBy?: string
  ours: ConnectionLevel[]
  bare: ConnectionLevel[]
  ratioPerConnection: number[]
}

interface Sample { held: number, rss: number, perConn: number, openedPerSec: number }

async function openTo (loadgens: Worker[], p: { url: string, mode: 'ours' | 'bare', tokensFile?: string }, from: number, to: number) {
  const started = performance.now()
  const parts = loadgens.map((w, i) => {
    const lo = Math.max(from, i * PER_LOADGEN)
    const hi = Math.min(to, (i + 1) * PER_LOADGEN)
    return hi > lo ? w.call<{ opened: number, failed: number }>('open', { ...p, from: lo, to: hi, concurrency: 100 }, 600_000) : Promise.resolve({ opened: 0, failed: 0 })
  })
  const results = await Promise.all(parts)
  const opened = results.reduce((s, r) => s + r.opened, 0)
  return { opened, perSec: opened / ((performance.now() - started) / 1000) }
}

async function measureOnce (levels: number[], settleMs: number, loadgens: Worker[], start: () => Promise<{ url: string, pid: number, stop (): Promise<void> }>,
  mode: 'ours' | 'bare', tokensFile?: string): Promise<Sample[]> {
  const server = await start()
  const p = { url: server.url, mode, ...(tokensFile === undefined ? {} : { tokensFile }) }
  try {
    await openTo(loadgens, p, 0, WARM_UP)
    await sleep(settleMs)
    const base = rssKiB(server.pid)
    const out: Sample[] = []
    let held = WARM_UP
    for (const level of levels) {
      const r = await openTo(loadgens, p, held, level)
      held += r.opened
      await sleep(settleMs)
      const rss = rssKiB(server.pid)
      out.push({ held, rss, perConn: (rss - base) / (held - WARM_UP), openedPerSec: r.perSec })
    }
    return out
  } finally {
    // The server goes first: its side of each socket closes first, so the
    // TIME_WAIT entries do not hold the load generators' ports.
    await server.stop()
    await Promise.all(loadgens.map((w) => w.call('close')))
  }
}

const summarize = (levels: number[], reps: Sample[][]): ConnectionLevel[] => levels.map((attempted, i) => ({
  attempted,
  held: figure(reps.map((r) => r[i]!.held)),
  rssKiB: figure(reps.map((r) => r[i]!.rss)),
  perConnectionKiB: figure(reps.map((r) => r[i]!.perConn)),
  openedPerSec: figure(reps.map((r) => r[i]!.openedPerSec))
}))

export async function runConnections (ctx: BenchContext, o: BenchOptions, log: (line: string) => void): Promise<ConnectionsResult> {
  const limit = openFileLimit()
  const max = limit - SERVER_FD_RESERVE
  const levels = [...new Set(o.connections.map((n) => Math.min(n, max)))].sort((a, b) => a - b).filter((n) => n > WARM_UP)
  const capped = o.connections.some((n) => n > max)
    ? `requested ${o.connections.join(', ')}; one process may open ${limit} files here (hard limit; raising it needs CAP_SYS_RESOURCE, not granted on this machine)`
    : undefined
  const databaseUrl = await ctx.createDatabase('bench_connections')
  const seeder = new Seeder(databaseUrl, ctx.jwtSecret)
  const tokensFile = join(ctx.dir, 'connections.tokens.json')
  try {
    const users = await seeder.users(levels[levels.length - 1]!, 'c')
    await writeFile(tokensFile, JSON.stringify(users.map((u) => u.token)))
  } finally {
    await seeder.close()
  }
  const settleMs = o.connectionsSettleMs
  const oursReps: Sample[][] = []
  const bareReps: Sample[][] = []
  // The same load generators serve every repetition (each closes its sockets in between).
  const loadgens = Array.from({ length: Math.ceil(levels[levels.length - 1]! / PER_LOADGEN) }, () => startWorker(LOADGEN))
  try {
    for (let rep = 0; rep < o.reps; rep++) {
      log(`connections: repetition ${rep + 1}/${o.reps}, Switchboard up to ${levels.join(', ')}`)
      let watch = await ctx.machine.open({ phase: 'Switchboard', rep: rep + 1 })
      oursReps.push(await measureOnce(levels, settleMs, loadgens, async () => {
        const s = await startSwitchboard(ctx, { databaseUrl })
        return { url: s.url, pid: s.pid, stop: () => s.stop() }
      }, 'ours', tokensFile))
      await watch.end()
      log(`connections: repetition ${rep + 1}/${o.reps}, bare ws`)
      watch = await ctx.machine.open({ phase: 'bare ws', rep: rep + 1 })
      bareReps.push(await measureOnce(levels, settleMs, loadgens, async () => {
        const bare = startWorker(BARE)
        pinServer(bare.pid)
        const { port } = await bare.call<{ port: number }>('listen', {})
        return { url: `http://127.0.0.1:${port}`, pid: bare.pid, stop: async () => bare.kill() }
      }, 'bare'))
      await watch.end()
    }
  } finally {
    for (const w of loadgens) w.kill()
  }
  const ours = summarize(levels, oursReps)
  const bare = summarize(levels, bareReps)
  return {
    openFileLimit: limit,
    ...(capped === undefined ? {} : { cappedBy: capped }),
    ours,
    bare,
    ratioPerConnection: ours.map((l, i) => ratio(l.perConnectionKiB.median, bare[i]!.perConnectionKiB.median))
  }
}
