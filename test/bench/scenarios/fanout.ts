// Scenario 1, fan-out: N receivers (one socket per user), senders posting
// into a group of 100 and into direct conversations (every other post each).
// Saturation (closed-loop senders) gives deliveries/s and deliveries per
// server CPU-second; a fixed post rate gives post-to-push latency. The same
// clients, paths and frames against a bare `ws` server are the baseline.
import { join } from 'node:path'
import type { BenchContext } from '../harness/context.js'
import { scrapeMetrics, type LiveMetrics } from '../harness/metrics.js'
import { runPhase, summarizePhase, type PhaseSummary } from '../harness/phase.js'
import { pinServer, sleep } from '../harness/processes.js'
import { startWorker, type Worker } from '../harness/rpc.js'
import { Seeder } from '../harness/seed.js'
import { startSwitchboard, type ServerUnderTest } from '../harness/server.js'
import { ratio } from '../harness/stats.js'
import { GROUP_SIZE, seedFanout, writeTopology } from '../harness/topology.js'
import type { BenchOptions } from '../options.js'

const LOADGEN = new URL('../loadgen/fanout.ts', import.meta.url)
const BARE = new URL('../baselines/ws-broadcast.ts', import.meta.url)

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
  bare: SystemRun
  bareEncodeOnce: SystemRun
  metrics: LiveMetrics[]
  ratios: { deliveriesPerSec: number, deliveriesPerCpuSec: number, deliveriesPerCpuSecVsEncodeOnce: number }
}

export interface TargetUnderLoad {
  url: string
  mode: 'ours' | 'bare'
  pids: () => number[]
  /** A single Switchboard process: its /metrics gives each window's batch sizes (a cluster's answers per worker). */
  metricsUrl?: string
}

/** The fan-out load generator; one serves every run of a scenario, one after the other. */
export const startFanoutLoadgen = (): Worker => startWorker(LOADGEN)

/** Connects the receivers, saturates, then (optionally) posts at a fixed rate; closes the receivers after. */
export async function driveFanout (ctx: BenchContext, o: BenchOptions, loadgen: Worker, target: TargetUnderLoad, topologyFile: string,
  opts: { paced: boolean, midWindow?: (rep: number) => Promise<void> }): Promise<SystemRun> {
  const connected = await loadgen.call<{ sockets: number, ms: number }>('connect', { url: target.url, mode: target.mode, topologyFile })
  await sleep(o.connectSettleMs) // presence frames of the connect burst settle
  const phase = {
    reps: o.reps, windowMs: o.windowMs, warmupMs: o.warmupMs, serverPids: target.pids, dbPids: ctx.postgresPids,
    machine: ctx.machine, ...(target.metricsUrl === undefined ? {} : { metricsUrl: target.metricsUrl })
  }
  const saturation = summarizePhase(await runPhase(loadgen, { senders: o.senders }, { ...phase, ...(opts.midWindow === undefined ? {} : { midWindow: opts.midWindow }) }))
  const run: SystemRun = { connectMs: connected.ms, saturation }
  if (opts.paced) run.paced = summarizePhase(await runPhase(loadgen, { rate: o.rate }, phase))
  await loadgen.call('close')
  return run
}

/** A bare ws server on the topology, driven like Switchboard. */
export async function driveBare (ctx: BenchContext, o: BenchOptions, loadgen: Worker, topologyFile: string, encode: 'each' | 'once', paced: boolean): Promise<SystemRun> {
  const bare = startWorker(BARE)
  pinServer(bare.pid)
  try {
    const { port } = await bare.call<{ port: number }>('listen', { topologyFile, encode })
    return await driveFanout(ctx, o, loadgen, { url: `http://127.0.0.1:${port}`, mode: 'bare', pids: () => [bare.pid] }, topologyFile, { paced })
  } finally {
    bare.kill()
  }
}

export async function seedFanoutDatabase (ctx: BenchContext, o: BenchOptions, name: string) {
  const databaseUrl = await ctx.createDatabase(name)
  const seeder = new Seeder(databaseUrl, ctx.jwtSecret)
  try {
    const { topology } = await seedFanout(seeder, o.receivers)
    const topologyFile = join(ctx.dir, `${name}.topology.json`)
    await writeTopology(topologyFile, topology)
    return { databaseUrl, topologyFile }
  } finally {
    await seeder.close()
  }
}

export async function runFanout (ctx: BenchContext, o: BenchOptions, log: (line: string) => void): Promise<FanoutResult> {
  const loadgen = startFanoutLoadgen()
  const metrics: LiveMetrics[] = []
  let server: ServerUnderTest | undefined
  let ours: SystemRun
  let bare: SystemRun
  let bareEncodeOnce: SystemRun
  try {
    const { databaseUrl, topologyFile } = await seedFanoutDatabase(ctx, o, 'bench_fanout')
    try {
      server = await startSwitchboard(ctx, { databaseUrl })
      const s = server
      log(`fan-out: Switchboard, ${o.receivers} receivers`)
      ours = await driveFanout(ctx, o, loadgen, { url: s.url, mode: 'ours', pids: s.pids, metricsUrl: s.url }, topologyFile, {
        paced: true,
        midWindow: async (rep) => { if (rep < 2) metrics.push(await scrapeMetrics(s.url)) }
      })
    } finally {
      await server?.stop()
    }
    log('fan-out: bare ws (frame encoded per socket)')
    bare = await driveBare(ctx, o, loadgen, topologyFile, 'each', true)
    log('fan-out: bare ws (frame encoded once)')
    bareEncodeOnce = await driveBare(ctx, o, loadgen, topologyFile, 'once', false)
  } finally {
    loadgen.kill()
  }
  return {
    receivers: o.receivers,
    groupSize: Math.min(GROUP_SIZE, o.receivers),
    senders: o.senders,
    rate: o.rate,
    ours,
    bare,
    bareEncodeOnce,
    metrics,
    ratios: {
      deliveriesPerSec: ratio(ours.saturation.deliveriesPerSec.median, bare.saturation.deliveriesPerSec.median),
      deliveriesPerCpuSec: ratio(ours.saturation.deliveriesPerCpuSec.median, bare.saturation.deliveriesPerCpuSec.median),
      deliveriesPerCpuSecVsEncodeOnce: ratio(ours.saturation.deliveriesPerCpuSec.median, bareEncodeOnce.saturation.deliveriesPerCpuSec.median)
    }
  }
}
