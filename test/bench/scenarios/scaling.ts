// Scenario 11, scaling (issue 21): N = 1, 2, 4, 8 separate server processes
// (`node dist/server.js`, each on its own port, not --cluster) on one database
// and one broker, with the users spread over them: receiver i on process
// i mod N, the posts round-robin over the N processes (each kind of post: the
// fan-out mix of scenario 1, every other post into a group of 100, the others
// into direct conversations), at a fixed, modest rate that saturates nothing
// even at N = 8. Two brokers side by side: the Redis Cluster broker
// (REDIS_CLUSTER=true: sharded pub/sub by user shard, each process receives
// its own users' traffic) and the single-Redis one (one global channel: every
// process receives everything and filters).
//
// The figure, per process: its broker CPU in the paced window (its
// broker_cpu_seconds_total, both ways: reading and decoding what arrives up to
// the frames handed to its sockets, encoding and publishing; src/realtime/
// cpu-meter.ts) / the frames its sockets delivered in that window; the median
// over the N processes. What grows with N is what a process's broker does for
// frames it does not deliver. Beside it, the whole process: (its CPU in the
// paced window − its CPU in an idle window of the same length, receivers
// connected and nothing posted) / the same frames; everything counts there
// (taking posts, the database, writing frames), and so do the machine's
// limits (N processes on two cores). Each repetition is an idle window and
// then a paced one; the ratio of a repetition to N = 1 pairs it with N = 1's
// repetition of the same number.
import type { RedisCluster } from '../../helpers/redis-cluster.js'
import type { BenchContext } from '../harness/context.js'
import { idleWindow, runPhase, summarizePhase, type PhaseSummary, type WindowResult } from '../harness/phase.js'
import { sleep } from '../harness/processes.js'
import { startBenchRedisCluster, startRedis, type RedisServer } from '../harness/redis.js'
import { brokerCpuSeconds } from '../harness/metrics.js'
import { socketsByPid, startSwitchboard, type ServerUnderTest } from '../harness/server.js'
import { figure, median, ratioFigure, type Figure } from '../harness/stats.js'
import { GROUP_SIZE } from '../harness/topology.js'
import type { BenchOptions } from '../options.js'
import { seedFanoutDatabase, startFanoutLoadgen } from './fanout.js'

export type ScalingBroker = 'sharded' | 'global'
export const SCALING_BROKERS: ScalingBroker[] = ['sharded', 'global']
export const brokerLabel = (b: ScalingBroker) => b === 'sharded' ? 'Redis Cluster (sharded)' : 'single Redis (global channel)'

/** Shards of the sharded broker (BROKER_SHARDS). */
const SHARDS = 1024

/**
 * Periodic work that is not traffic, made rare so that a window does not catch it one time and miss it the next
 * (the idle window subtracts what is steady, such as the sync clock's second): socket slot renewals, presence
 * refreshes and heartbeat pings.
 */
const QUIET_TIMERS = { WS_SLOT_TTL_MS: '3600000', PRESENCE_TTL_MS: '3600000', WS_HEARTBEAT_MS: '600000' }
/** The broker's own CPU, the figure (off by default: see src/realtime/cpu-meter.ts). */
const METERED = { BROKER_CPU_METRICS: 'true' }

export interface ScalingProcess {
  pid: number
  /** Receivers' sockets it held (counted from /proc). */
  sockets: number
  /** CPU seconds in the idle window, scaled to the paced window's length. */
  idleCpuSeconds: number
  pacedCpuSeconds: number
  frames: number
  /** (paced − idle) CPU per frame delivered, µs. */
  microsPerFrame: number
  /** Its broker's CPU in the paced window (broker_cpu_seconds_total). */
  brokerCpuSeconds: number
  /** That per frame delivered, µs. */
  brokerMicrosPerFrame: number
}

export interface ScalingRep {
  idleSeconds: number
  pacedSeconds: number
  processes: ScalingProcess[]
  /** The median over processes of microsPerFrame. */
  microsPerFrame: number
  /** The median over processes of brokerMicrosPerFrame. */
  brokerMicrosPerFrame: number
  /** Frames delivered per second, all processes. */
  framesPerSec: number
  /** Frames that arrived during the idle window (stragglers of the previous paced window; none expected). */
  idleFrames: number
}

export interface ScalingRun {
  broker: ScalingBroker
  processes: number
  microsPerFrame: Figure
  /** The broker's CPU per delivered frame per process (the figure). */
  brokerMicrosPerFrame: Figure
  framesPerSec: Figure
  /** Each repetition over N = 1's repetition of the same number (same broker), whole process. */
  ratioToOne: Figure
  /** The same for the broker's figure. */
  brokerRatioToOne: Figure
  paced: PhaseSummary
  reps: ScalingRep[]
}

export interface ScalingResult {
  receivers: number
  groupSize: number
  rate: number
  processes: number[]
  redisCluster: { masters: number, replicas: number, shards: number }
  runs: ScalingRun[]
}

export async function runScaling (ctx: BenchContext, o: BenchOptions, log: (line: string) => void): Promise<ScalingResult> {
  const loadgen = startFanoutLoadgen()
  let cluster: RedisCluster | undefined
  let redis: RedisServer | undefined
  const runs: ScalingRun[] = []
  try {
    const { databaseUrl, topologyFile } = await seedFanoutDatabase(ctx, { ...o, receivers: o.scalingReceivers }, 'bench_scaling')
    log('scaling: starting a Redis Cluster (3 masters, no replicas) and a single Redis')
    // Replicas would only add Redis CPU on a 2-core machine: the broker's path is the masters'.
    const c = cluster = await startBenchRedisCluster(ctx.dir, 0)
    const r = redis = await startRedis()
    const brokers: Record<ScalingBroker, { env: Record<string, string>, pids: () => number[] }> = {
      sharded: { env: { BROKER: 'redis', REDIS_CLUSTER: 'true', REDIS_URL: c.url, BROKER_SHARDS: String(SHARDS) }, pids: () => c.nodes.map((n) => n.child.pid!) },
      global: { env: { BROKER: 'redis', REDIS_URL: r.url }, pids: () => [r.pid] }
    }
    // Both brokers at one N one after the other, so that the machine's drift over the run weighs on them alike.
    for (const n of o.scalingProcesses) {
      for (const broker of SCALING_BROKERS) {
        log(`scaling: ${n} process${n === 1 ? '' : 'es'}, ${brokerLabel(broker)}`)
        const b = brokers[broker]
        runs.push(await measure(ctx, o, loadgen, { n, broker, databaseUrl, topologyFile, env: { ...QUIET_TIMERS, ...METERED, ...b.env }, brokerPids: b.pids }))
      }
    }
  } finally {
    loadgen.kill()
    await cluster?.stop()
    await redis?.stop()
  }
  for (const run of runs) {
    const one = runs.find((x) => x.broker === run.broker && x.processes === 1)
    if (one === undefined) continue
    run.ratioToOne = ratioFigure(run.microsPerFrame, one.microsPerFrame)
    run.brokerRatioToOne = ratioFigure(run.brokerMicrosPerFrame, one.brokerMicrosPerFrame)
  }
  return {
    receivers: o.scalingReceivers,
    groupSize: Math.min(GROUP_SIZE, o.scalingReceivers),
    rate: o.scalingRate,
    processes: o.scalingProcesses,
    redisCluster: { masters: 3, replicas: 0, shards: SHARDS },
    runs
  }
}

interface Setup {
  n: number
  broker: ScalingBroker
  databaseUrl: string
  topologyFile: string
  env: Record<string, string>
  brokerPids: () => number[]
}

async function startServers (ctx: BenchContext, s: Setup): Promise<ServerUnderTest[]> {
  const started = await Promise.allSettled(Array.from({ length: s.n }, () => startSwitchboard(ctx, { databaseUrl: s.databaseUrl, env: s.env })))
  const servers = started.flatMap((x) => x.status === 'fulfilled' ? [x.value] : [])
  const failed = started.find((x) => x.status === 'rejected')
  if (failed !== undefined) {
    await Promise.all(servers.map((x) => x.stop()))
    throw failed.reason
  }
  return servers
}

async function measure (ctx: BenchContext, o: BenchOptions, loadgen: ReturnType<typeof startFanoutLoadgen>, s: Setup): Promise<ScalingRun> {
  const servers = await startServers(ctx, s)
  const label = `${s.n} process${s.n === 1 ? '' : 'es'}, ${s.broker}`
  const serverPids = () => servers.map((x) => x.pid)
  const reps: ScalingRep[] = []
  const windows: WindowResult[] = []
  try {
    await loadgen.call('connect', { urls: servers.map((x) => x.url), mode: 'ours', topologyFile: s.topologyFile })
    const sockets = servers.map((x) => socketsByPid(x.port, [x.pid])[x.pid] ?? 0)
    for (let rep = 0; rep < o.reps; rep++) {
      // The presence frames of the connect burst, or the last frames of the previous paced window, settle.
      await sleep(o.connectSettleMs)
      const idle = await idleWindow(loadgen, { windowMs: o.windowMs, serverPids, machine: ctx.machine, label, firstRep: rep + 1 })
      // Each process warms up on as many posts at N as the one process does at N = 1 (its code is as warm).
      const [paced] = await runPhase(loadgen, { rate: o.scalingRate }, {
        reps: 1,
        windowMs: o.windowMs,
        warmupMs: rep === 0 ? o.warmupMs * s.n : o.warmupMs,
        serverPids,
        dbPids: () => [...ctx.postgresPids(), ...s.brokerPids()],
        machine: ctx.machine,
        label,
        firstRep: rep + 1,
        perProcess: true,
        brokerCpu: () => Promise.all(servers.map((x) => brokerCpuSeconds(x.url)))
      })
      windows.push(paced!)
      reps.push(repetition(idle, paced!, sockets))
    }
  } finally {
    await loadgen.call('close').catch(() => {})
    await Promise.all(servers.map((x) => x.stop()))
  }
  return {
    broker: s.broker,
    processes: s.n,
    microsPerFrame: figure(reps.map((r) => r.microsPerFrame)),
    brokerMicrosPerFrame: figure(reps.map((r) => r.brokerMicrosPerFrame)),
    framesPerSec: figure(reps.map((r) => r.framesPerSec)),
    ratioToOne: figure([]),
    brokerRatioToOne: figure([]),
    paced: summarizePhase(windows),
    reps
  }
}

/** One repetition: per process, the paced window's CPU less the idle window's (scaled to the same length), per frame. */
export function repetition (idle: { seconds: number, processes: Array<{ cpuSeconds: number, deliveries: number }> }, paced: WindowResult, sockets: number[]): ScalingRep {
  const processes = paced.processes!.map((p, i): ScalingProcess => {
    const idleCpuSeconds = idle.processes[i]!.cpuSeconds * (paced.seconds / idle.seconds)
    const brokerCpuSeconds = p.brokerCpuSeconds ?? NaN
    return {
      pid: p.pid,
      sockets: sockets[i] ?? NaN,
      idleCpuSeconds,
      pacedCpuSeconds: p.cpuSeconds,
      frames: p.deliveries,
      microsPerFrame: p.deliveries > 0 ? ((p.cpuSeconds - idleCpuSeconds) / p.deliveries) * 1e6 : NaN,
      brokerCpuSeconds,
      brokerMicrosPerFrame: p.deliveries > 0 ? (brokerCpuSeconds / p.deliveries) * 1e6 : NaN
    }
  })
  return {
    idleSeconds: idle.seconds,
    pacedSeconds: paced.seconds,
    processes,
    microsPerFrame: median(processes.map((p) => p.microsPerFrame)),
    brokerMicrosPerFrame: median(processes.map((p) => p.brokerMicrosPerFrame)),
    framesPerSec: paced.deliveriesPerSec,
    idleFrames: idle.processes.reduce((sum, p) => sum + (Number.isFinite(p.deliveries) ? p.deliveries : 0), 0)
  }
}
