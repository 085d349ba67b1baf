// Scenario 1, fan-out: N receivers (one socket per user), senders posting
// into a group of 100 and into direct conversations (every other post each).
// Saturation (closed-loop senders) gives deliveries/s and deliveries per
// server CPU-second; a fixed post rate gives post-to-push latency. The same
// clients, paths and frames against the peers: the naive Fastify + Prisma
// server, Socket.IO with its Redis adapter, and a bare `ws` server (frame
// encoded per socket, and once). Each repetition is a round that measures
// every system in the same order, so that a machine that gets busier (or a
// database that grows) during the run weighs on all of them alike.
import { join } from 'node:path'
import type { BenchContext } from '../harness/context.js'
import { scrapeMetrics, type LiveMetrics } from '../harness/metrics.js'
import { runPhase, summarizePhase, type PhaseSummary, type WindowResult } from '../harness/phase.js'
import { sleep } from '../harness/processes.js'
import { startRedis, type RedisServer } from '../harness/redis.js'
import { startWorker, type Worker } from '../harness/rpc.js'
import { Seeder } from '../harness/seed.js'
import { startPeer, startSwitchboard, type ServerUnderTest } from '../harness/server.js'
import { median, ratio } from '../harness/stats.js'
import { GROUP_SIZE, seedFanout, writeTopology } from '../harness/topology.js'
import type { Mode } from '../loadgen/fanout-core.js'
import type { BenchOptions } from '../options.js'

const LOADGEN = new URL('../loadgen/fanout.ts', import.meta.url)
const SOCKETIO_LOADGEN = new URL('../loadgen/fanout-socketio.ts', import.meta.url)
const BARE = new URL('../baselines/ws-broadcast.ts', import.meta.url)
const NAIVE = new URL('../baselines/naive-server.ts', import.meta.url)
const SOCKETIO = new URL('../baselines/socketio-server.ts', import.meta.url)

export interface SystemRun {
  connectMs: number
  saturation: PhaseSummary
  paced?: PhaseSummary
}

export interface FanoutResult {
  receivers: number
  groupSize: number
  senders: number
  rate: number
  ours: SystemRun
  /** Fastify + @fastify/websocket + Prisma, one transaction per post (baselines/naive-server.ts). */
  naive: SystemRun
  /** Socket.IO 4 with @socket.io/redis-adapter, socket.io-client receivers (baselines/socketio-server.ts); PostgreSQL + Redis as its database CPU. */
  socketio: SystemRun
  bare: SystemRun
  bareEncodeOnce: SystemRun
  metrics: LiveMetrics[]
  ratios: {
    deliveriesPerSec: number
    deliveriesPerCpuSec: number
    deliveriesPerCpuSecVsEncodeOnce: number
    deliveriesPerSecVsNaive: number
    deliveriesPerSecVsSocketio: number
  }
}

export interface TargetUnderLoad {
  url: string
  mode: Mode
  pids: () => number[]
  /** A single Switchboard process: its /metrics gives each window's batch sizes (a cluster's answers per worker). */
  metricsUrl?: string
}

/** The fan-out load generator; one serves every run of a scenario, one after the other. */
export const startFanoutLoadgen = (): Worker => startWorker(LOADGEN)

/**
 * Connects the receivers, saturates, then (optionally) posts at a fixed rate; closes the receivers after. Every
 * window, each with the machine's record; `label` and `firstRep` name those records (harness/phase.ts).
 */
async function driveWindows (ctx: BenchContext, o: BenchOptions, loadgen: Worker, target: TargetUnderLoad, topologyFile: string,
  opts: { paced: boolean, midWindow?: (rep: number) => Promise<void>, dbPids?: () => number[], label?: string, firstRep?: number }) {
  const connected = await loadgen.call<{ sockets: number, ms: number }>('connect', { url: target.url, mode: target.mode, topologyFile })
  await sleep(o.connectSettleMs) // presence frames of the connect burst settle
  const phase = {
    reps: o.reps, windowMs: o.windowMs, warmupMs: o.warmupMs, serverPids: target.pids, dbPids: opts.dbPids ?? ctx.postgresPids,
    machine: ctx.machine,
    ...(target.metricsUrl === undefined ? {} : { metricsUrl: target.metricsUrl }),
    ...(opts.label === undefined ? {} : { label: opts.label }),
    ...(opts.firstRep === undefined ? {} : { firstRep: opts.firstRep })
  }
  const saturation = await runPhase(loadgen, { senders: o.senders }, { ...phase, ...(opts.midWindow === undefined ? {} : { midWindow: opts.midWindow }) })
  const paced = opts.paced ? await runPhase(loadgen, { rate: o.rate }, phase) : undefined
  await loadgen.call('close')
  return { connectMs: connected.ms, saturation, paced }
}

/** Connects the receivers, saturates, then (optionally) posts at a fixed rate; closes the receivers after. */
export async function driveFanout (ctx: BenchContext, o: BenchOptions, loadgen: Worker, target: TargetUnderLoad, topologyFile: string,
  opts: { paced: boolean, midWindow?: (rep: number) => Promise<void> }): Promise<SystemRun> {
  const w = await driveWindows(ctx, o, loadgen, target, topologyFile, opts)
  const run: SystemRun = { connectMs: w.connectMs, saturation: summarizePhase(w.saturation) }
  if (w.paced !== undefined) run.paced = summarizePhase(w.paced)
  return run
}

async function seedTopology (ctx: BenchContext, o: BenchOptions, databaseUrl: string, file: string, prefix: string): Promise<string> {
  const seeder = new Seeder(databaseUrl, ctx.jwtSecret)
  try {
    const { topology } = await seedFanout(seeder, o.receivers, prefix)
    const topologyFile = join(ctx.dir, file)
    await writeTopology(topologyFile, topology)
    return topologyFile
  } finally {
    await seeder.close()
  }
}

export async function seedFanoutDatabase (ctx: BenchContext, o: BenchOptions, name: string) {
  const databaseUrl = await ctx.createDatabase(name)
  return { databaseUrl, topologyFile: await seedTopology(ctx, o, databaseUrl, `${name}.topology.json`, 'f') }
}

type SystemName = 'ours' | 'naive' | 'socketio' | 'bare' | 'bareEncodeOnce'

/** One system of the comparison: where it listens, who drives it, on which users. */
interface Contender {
  name: SystemName
  label: string
  /** How the machine's records name its windows ("128 senders, Socket.IO"); none for Switchboard, as in the other scenarios. */
  tag?: string
  loadgen: Worker
  target: TargetUnderLoad
  topologyFile: string
  paced: boolean
  dbPids?: () => number[]
  midWindow?: (round: number) => Promise<void>
}

export async function runFanout (ctx: BenchContext, o: BenchOptions, log: (line: string) => void): Promise<FanoutResult> {
  const loadgen = startFanoutLoadgen()
  const socketioLoadgen = startWorker(SOCKETIO_LOADGEN)
  const metrics: LiveMetrics[] = []
  const peers: Worker[] = []
  let server: ServerUnderTest | undefined
  let redis: RedisServer | undefined
  const windows = new Map<SystemName, { connectMs: number[], saturation: WindowResult[], paced: WindowResult[] }>()
  try {
    const { databaseUrl, topologyFile } = await seedFanoutDatabase(ctx, o, 'bench_fanout')
    // The naive server writes to the same tables, but as users and conversations of its own: a Switchboard that saw
    // another writer's seqs in its conversations would replay that writer's messages to its sockets.
    const naiveTopologyFile = await seedTopology(ctx, o, databaseUrl, 'bench_fanout.naive.topology.json', 'n')
    server = await startSwitchboard(ctx, { databaseUrl })
    const s = server
    const naive = await startPeer(NAIVE, { databaseUrl, jwtSecret: ctx.jwtSecret })
    peers.push(naive.worker)
    const r = redis = await startRedis()
    const socketio = await startPeer(SOCKETIO, { databaseUrl, jwtSecret: ctx.jwtSecret, redisUrl: r.url })
    peers.push(socketio.worker)
    const bare = await startPeer(BARE, { topologyFile, encode: 'each' })
    peers.push(bare.worker)
    const bareOnce = await startPeer(BARE, { topologyFile, encode: 'once' })
    peers.push(bareOnce.worker)

    // Only Switchboard has a /metrics with batch sizes; every system's windows get the load average and wait events.
    const contenders: Contender[] = [
      {
        name: 'ours', label: 'Switchboard', loadgen, topologyFile, paced: true, target: { url: s.url, mode: 'ours', pids: s.pids, metricsUrl: s.url },
        midWindow: async (round) => { if (round < 2) metrics.push(await scrapeMetrics(s.url)) }
      },
      {
        name: 'naive', label: 'naive server (Fastify + Prisma)', tag: 'naive server', loadgen, topologyFile: naiveTopologyFile, paced: true,
        target: { url: naive.url, mode: 'naive', pids: () => [naive.worker.pid] }
      },
      {
        name: 'socketio', label: 'Socket.IO + Redis adapter', tag: 'Socket.IO', loadgen: socketioLoadgen, topologyFile, paced: true,
        target: { url: socketio.url, mode: 'socketio', pids: () => [socketio.worker.pid] }, dbPids: () => [...ctx.postgresPids(), r.pid]
      },
      {
        name: 'bare', label: 'bare ws (frame encoded per socket)', tag: 'bare ws', loadgen, topologyFile, paced: true,
        target: { url: bare.url, mode: 'bare', pids: () => [bare.worker.pid] }
      },
      {
        name: 'bareEncodeOnce', label: 'bare ws (frame encoded once)', tag: 'bare ws encoded once', loadgen, topologyFile, paced: false,
        target: { url: bareOnce.url, mode: 'bare', pids: () => [bareOnce.worker.pid] }
      }
    ]
    for (const c of contenders) windows.set(c.name, { connectMs: [], saturation: [], paced: [] })
    for (let round = 0; round < o.reps; round++) {
      for (const c of contenders) {
        log(`fan-out: repetition ${round + 1}/${o.reps}, ${c.label}, ${o.receivers} receivers`)
        const w = await driveWindows(ctx, { ...o, reps: 1 }, c.loadgen, c.target, c.topologyFile, {
          paced: c.paced,
          firstRep: round + 1,
          ...(c.tag === undefined ? {} : { label: c.tag }),
          ...(c.dbPids === undefined ? {} : { dbPids: c.dbPids }),
          ...(c.midWindow === undefined ? {} : { midWindow: () => c.midWindow!(round) })
        })
        const all = windows.get(c.name)!
        all.connectMs.push(w.connectMs)
        all.saturation.push(...w.saturation)
        all.paced.push(...(w.paced ?? []))
      }
    }
  } finally {
    loadgen.kill()
    socketioLoadgen.kill()
    for (const peer of peers) peer.kill()
    await server?.stop()
    await redis?.stop()
  }
  const run = (name: SystemName): SystemRun => {
    const w = windows.get(name)!
    const out: SystemRun = { connectMs: median(w.connectMs), saturation: summarizePhase(w.saturation) }
    if (w.paced.length > 0) out.paced = summarizePhase(w.paced)
    return out
  }
  const ours = run('ours')
  const naive = run('naive')
  const socketio = run('socketio')
  const bare = run('bare')
  const bareEncodeOnce = run('bareEncodeOnce')
  const deliveries = (x: SystemRun) => x.saturation.deliveriesPerSec.median
  const perCpu = (x: SystemRun) => x.saturation.deliveriesPerCpuSec.median
  return {
    receivers: o.receivers,
    groupSize: Math.min(GROUP_SIZE, o.receivers),
    senders: o.senders,
    rate: o.rate,
    ours,
    naive,
    socketio,
    bare,
    bareEncodeOnce,
    metrics,
    ratios: {
      deliveriesPerSec: ratio(deliveries(ours), deliveries(bare)),
      deliveriesPerCpuSec: ratio(perCpu(ours), perCpu(bare)),
      deliveriesPerCpuSecVsEncodeOnce: ratio(perCpu(ours), perCpu(bareEncodeOnce)),
      deliveriesPerSecVsNaive: ratio(deliveries(ours), deliveries(naive)),
      deliveriesPerSecVsSocketio: ratio(deliveries(ours), deliveries(socketio))
    }
  }
}
