// One measured phase of a fan-out load generator: start the load, warm up,
// then repetitions of fixed-length windows, each with the load generator's
// counts and the CPU seconds of the server processes (utime + stime deltas),
// of the load generator and of PostgreSQL over the same window, and what the
// machine did meanwhile (harness/machine.ts). Against several server processes
// (scenarios/scaling.ts), also each process's CPU and the deliveries of its
// sockets; and idle windows, with the receivers connected and nothing posted.
import { performance } from 'node:perf_hooks'
import type { MachineWatcher } from './machine.js'
import { cpuSeconds, cpuSecondsExact, cpuSince, cpuSnapshot, sleep } from './processes.js'
import type { Worker } from './rpc.js'
import { figure, medianLatency, type Figure, type Latency } from './stats.js'

export interface WindowResult {
  seconds: number
  deliveriesPerSec: number
  postsPerSec: number
  failures: number
  skipped: number
  /** Server CPU used, in cores (CPU seconds per second). */
  serverCores: number
  deliveriesPerCpuSec: number
  loadgenCores: number
  dbCores: number
  latency: Latency
  frameBytes: number
  /** With `perProcess`: each server process (in the order of serverPids) over the window. */
  processes?: ProcessWindow[]
}

/** One server process over a window: its CPU seconds (cpuSecondsExact) and the deliveries to the receivers on it. */
export interface ProcessWindow { pid: number, cpuSeconds: number, deliveries: number, brokerCpuSeconds?: number }

interface Mark {
  elapsedMs: number, deliveries: number, deliveriesByServer?: number[], posts: number, failures: number, skipped: number, frameBytes: number, latency: Latency
}

/** How long a window may wait for its first result before it ends empty. */
const EMPTY_WINDOW_LIMIT_MS = 60_000

/**
 * Waits until `windowMs` after `t0`, and then on until the load generator has
 * counted something since its last mark (its `peek`): on a busy machine a
 * short window (the smoke run's) could otherwise pass with nothing measured.
 * A rate over the longer window is still the rate.
 */
export async function measuredWindow (loadgen: Worker, t0: number, windowMs: number): Promise<void> {
  const rest = windowMs - (performance.now() - t0)
  if (rest > 0) await sleep(rest)
  const deadline = performance.now() + EMPTY_WINDOW_LIMIT_MS
  while (await loadgen.call<number>('peek') === 0 && performance.now() < deadline) await sleep(20)
}

export interface PhaseOptions {
  reps: number
  windowMs: number
  warmupMs: number
  serverPids: () => number[]
  dbPids: () => number[]
  /** Runs in the middle of each window, once it has a result (e.g. a /metrics scrape). */
  midWindow?: (rep: number) => Promise<void>
  /** Records each window's load average, wait events and (with `metricsUrl`, one server process) batch sizes. */
  machine?: MachineWatcher
  metricsUrl?: string
  /**
   * How the records name the windows: after the load ("128 senders, Socket.IO"), the system when it is not
   * Switchboard; and the repetition of the first window, when each call measures one round of several.
   */
  label?: string
  firstRep?: number
  /**
   * serverPids are separate servers, each serving the receivers the load generator connected to it (connect with
   * `urls`, in the same order): each window also reports each one's CPU and deliveries.
   */
  perProcess?: boolean
  /** With perProcess: each server's broker CPU so far (broker_cpu_seconds_total), read at both ends of each window. */
  brokerCpu?: () => Promise<number[]>
}

export async function runPhase (loadgen: Worker, load: { senders?: number, rate?: number }, o: PhaseOptions): Promise<WindowResult[]> {
  await loadgen.call('start', load)
  const out: WindowResult[] = []
  try {
    await sleep(o.warmupMs)
    const phase = (load.rate === undefined ? `${String(load.senders)} senders` : `${load.rate} posts/s`) + (o.label === undefined ? '' : `, ${o.label}`)
    for (let rep = 0; rep < o.reps; rep++) {
      const watch = await o.machine?.open({ phase, rep: (o.firstRep ?? 1) + rep, ...(o.metricsUrl === undefined ? {} : { metricsUrl: o.metricsUrl }) })
      // Each window starts here: what the load generator counted while the watcher opened is not in it.
      await loadgen.call('mark')
      const pids = o.serverPids()
      const t0 = performance.now()
      const cpu0 = cpuSeconds(pids)
      const load0 = cpuSeconds([loadgen.pid])
      const db0 = cpuSnapshot(o.dbPids())
      const each0 = o.perProcess === true ? pids.map(cpuSecondsExact) : undefined
      const broker0 = await o.brokerCpu?.()
      if (o.midWindow !== undefined) {
        await measuredWindow(loadgen, t0, o.windowMs / 2)
        await o.midWindow(rep)
      }
      await measuredWindow(loadgen, t0, o.windowMs)
      const m = await loadgen.call<Mark>('mark')
      const seconds = (performance.now() - t0) / 1000
      const cpu = cpuSeconds(pids) - cpu0
      const broker1 = await o.brokerCpu?.()
      const processes = each0?.map((c, i): ProcessWindow => ({
        pid: pids[i]!,
        cpuSeconds: cpuSecondsExact(pids[i]!) - c,
        deliveries: m.deliveriesByServer?.[i] ?? NaN,
        ...(broker0 === undefined || broker1 === undefined ? {} : { brokerCpuSeconds: broker1[i]! - broker0[i]! })
      }))
      out.push({
        seconds,
        deliveriesPerSec: m.deliveries / (m.elapsedMs / 1000),
        postsPerSec: m.posts / (m.elapsedMs / 1000),
        failures: m.failures,
        skipped: m.skipped,
        serverCores: cpu / seconds,
        deliveriesPerCpuSec: cpu > 0 ? m.deliveries / cpu : NaN,
        loadgenCores: (cpuSeconds([loadgen.pid]) - load0) / seconds,
        dbCores: cpuSince(db0, o.dbPids()) / seconds,
        latency: m.latency,
        frameBytes: m.frameBytes,
        ...(processes === undefined ? {} : { processes })
      })
      await watch?.end()
    }
  } finally {
    await loadgen.call('stop')
  }
  return out
}

/** An idle window: each server process's CPU with the receivers connected and nothing posted. */
export interface IdleWindow { seconds: number, processes: ProcessWindow[] }

/**
 * A window of `windowMs` with the receivers connected and nothing posted: each server process's CPU over it (what
 * the process spends anyway: timers, heartbeats, the broker's pings), and the deliveries (none are expected).
 * Recorded by the machine watcher as `idle` (and the label) like the loaded windows.
 */
export async function idleWindow (loadgen: Worker, o: Pick<PhaseOptions, 'windowMs' | 'serverPids' | 'machine' | 'label' | 'firstRep'>): Promise<IdleWindow> {
  const watch = await o.machine?.open({ phase: `idle${o.label === undefined ? '' : `, ${o.label}`}`, rep: o.firstRep ?? 1 })
  await loadgen.call('mark')
  const pids = o.serverPids()
  const t0 = performance.now()
  const each0 = pids.map(cpuSecondsExact)
  await sleep(o.windowMs)
  const m = await loadgen.call<Mark>('mark')
  const seconds = (performance.now() - t0) / 1000
  const processes = pids.map((pid, i) => ({ pid, cpuSeconds: cpuSecondsExact(pid) - each0[i]!, deliveries: m.deliveriesByServer?.[i] ?? NaN }))
  await watch?.end()
  return { seconds, processes }
}

export interface PhaseSummary {
  deliveriesPerSec: Figure
  deliveriesPerCpuSec: Figure
  postsPerSec: Figure
  serverCores: Figure
  loadgenCores: Figure
  dbCores: Figure
  latencyMs: ReturnType<typeof medianLatency>
  failures: number
  skipped: number
  frameBytes: number
}

export function summarizePhase (windows: WindowResult[]): PhaseSummary {
  const f = (k: 'deliveriesPerSec' | 'deliveriesPerCpuSec' | 'postsPerSec' | 'serverCores' | 'loadgenCores' | 'dbCores') => figure(windows.map((w) => w[k]))
  return {
    deliveriesPerSec: f('deliveriesPerSec'),
    deliveriesPerCpuSec: f('deliveriesPerCpuSec'),
    postsPerSec: f('postsPerSec'),
    serverCores: f('serverCores'),
    loadgenCores: f('loadgenCores'),
    dbCores: f('dbCores'),
    latencyMs: medianLatency(windows.map((w) => w.latency)),
    failures: windows.reduce((s, w) => s + w.failures, 0),
    skipped: windows.reduce((s, w) => s + w.skipped, 0),
    frameBytes: Math.max(...windows.map((w) => w.frameBytes))
  }
}
