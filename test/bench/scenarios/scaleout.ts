// Scenario 5, scale-out: scenario 1 (saturation, then the fixed post rate)
// against a cluster of worker processes (npm run start:cluster) with each
// multi-process broker. On a 2-core machine that also runs the database and
// the load generator the raw rate cannot double, so the figure is
// efficiency: deliveries per server CPU-second (primary + workers) relative
// to one process with the in-process broker. At the fixed rate both do the
// same work; saturated, each process also batches differently (it sees half
// the load). Then one worker behind the same broker at the fixed rate: the
// broker's own cost per delivery, without a second server process competing
// for the two cores (which the load generator and the database also use).
import type { BenchContext } from '../harness/context.js'
import type { PhaseSummary } from '../harness/phase.js'
import { descendants } from '../harness/processes.js'
import { startRedis, type RedisServer } from '../harness/redis.js'
import { socketsByPid, startSwitchboard, type ServerUnderTest } from '../harness/server.js'
import { ratio } from '../harness/stats.js'
import type { BenchOptions } from '../options.js'
import { driveFanout, seedFanoutDatabase, startFanoutLoadgen, type FanoutResult } from './fanout.js'

export interface ClusterRun {
  broker: 'postgres' | 'redis'
  workers: number
  /** Receivers' sockets held by each worker. */
  socketsPerWorker: number[]
  saturation: PhaseSummary
  paced: PhaseSummary
  /** Deliveries per server CPU-second relative to one process, at the fixed post rate. */
  efficiency: number
  /** The same, saturated. */
  efficiencySaturated: number
  /**
   * One worker behind the same broker at the fixed post rate: every message
   * still goes through the broker, but no second server process competes for
   * the machine's cores. Its efficiency is the broker's own cost per delivery.
   */
  oneWorker: { paced: PhaseSummary, efficiency: number }
}

export interface ScaleoutResult {
  receivers: number
  rate: number
  singleProcess: { deliveriesPerCpuSec: number, deliveriesPerCpuSecPaced: number, deliveriesPerSec: number, measuredHere: boolean }
  clusters: ClusterRun[]
}

export async function runScaleout (ctx: BenchContext, o: BenchOptions, log: (line: string) => void, fanout?: FanoutResult): Promise<ScaleoutResult> {
  let single = fanout?.ours
  const measuredHere = single === undefined
  const loadgen = startFanoutLoadgen()
  const clusters: ClusterRun[] = []
  let redis: RedisServer | undefined
  try {
    if (single === undefined) {
      const { databaseUrl, topologyFile } = await seedFanoutDatabase(ctx, o, 'bench_scaleout_single')
      const server = await startSwitchboard(ctx, { databaseUrl })
      try {
        log('scale-out: one process (reference)')
        single = await driveFanout(ctx, o, loadgen, { url: server.url, mode: 'ours', pids: server.pids, metricsUrl: server.url }, topologyFile, { paced: true })
      } finally {
        await server.stop()
      }
    }
    const reference = single
    for (const broker of o.brokers) {
      if (broker === 'redis') redis ??= await startRedis()
      const { databaseUrl, topologyFile } = await seedFanoutDatabase(ctx, o, `bench_scaleout_${broker}`)
      let server: ServerUnderTest | undefined
      try {
        server = await startSwitchboard(ctx, {
          databaseUrl,
          cluster: { workers: o.clusterWorkers, broker, ...(redis === undefined ? {} : { redisUrl: redis.url }) }
        })
        const s = server
        log(`scale-out: ${o.clusterWorkers} workers, BROKER=${broker}`)
        let socketsPerWorker: number[] = []
        const run = await driveFanout(ctx, o, loadgen, {
          url: s.url,
          mode: 'ours',
          pids: s.pids
        }, topologyFile, {
          paced: true,
          midWindow: async (rep) => { if (rep === 0) socketsPerWorker = Object.values(socketsByPid(s.port, descendants(s.pid))).filter((n) => n > 0) }
        })
        await server.stop()
        server = undefined
        log(`scale-out: 1 worker, BROKER=${broker} (the broker's own cost)`)
        server = await startSwitchboard(ctx, {
          databaseUrl,
          cluster: { workers: 1, broker, ...(redis === undefined ? {} : { redisUrl: redis.url }) }
        })
        // Driven like every other run (saturation first, so its code is as warm), measured at the fixed rate.
        const alone = (await driveFanout(ctx, o, loadgen, { url: server.url, mode: 'ours', pids: server.pids }, topologyFile, { paced: true })).paced!
        clusters.push({
          broker,
          oneWorker: { paced: alone, efficiency: ratio(alone.deliveriesPerCpuSec.median, reference.paced!.deliveriesPerCpuSec.median) },
          workers: o.clusterWorkers,
          socketsPerWorker,
          saturation: run.saturation,
          paced: run.paced!,
          efficiency: ratio(run.paced!.deliveriesPerCpuSec.median, reference.paced!.deliveriesPerCpuSec.median),
          efficiencySaturated: ratio(run.saturation.deliveriesPerCpuSec.median, reference.saturation.deliveriesPerCpuSec.median)
        })
      } finally {
        await server?.stop()
      }
    }
  } finally {
    loadgen.kill()
    await redis?.stop()
  }
  return {
    receivers: o.receivers,
    rate: o.rate,
    singleProcess: {
      deliveriesPerCpuSec: single.saturation.deliveriesPerCpuSec.median,
      deliveriesPerCpuSecPaced: single.paced!.deliveriesPerCpuSec.median,
      deliveriesPerSec: single.saturation.deliveriesPerSec.median,
      measuredHere
    },
    clusters
  }
}
