// What the machine was doing during each measured window: the load average
// at its start and end, the CPU that processes outside the run took, the
// wait events of PostgreSQL's active backends (sampled on a connection of
// its own), and the batch sizes of the server's group commit (from its
// /metrics, scraped before and after), and the disk's flush latency (a
// probe writes 4 KiB and flushes it every 100 ms to a file beside the
// database's: a commit waits for the same device), and the speed of the
// CPU (a probe times a fixed piece of work, deflating 64 KiB, by the CPU
// time the process spent on it, every 250 ms). A figure from a busy machine,
// a database that waited on locks, a disk that stalled or a CPU that ran
// slower then says so beside it.
import { readFileSync } from 'node:fs'
import { open as openFile, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { deflateSync } from 'node:zlib'
import pg from 'pg'
import { histogram, scrapeText, type Histogram } from './metrics.js'
import { cpuSince, cpuSnapshot, sleep, ticksPerSecond } from './processes.js'
import { median } from './stats.js'

/** How often the wait events are sampled. */
const SAMPLE_EVERY_MS = 200
/** How often the disk probe writes and flushes. */
const PROBE_EVERY_MS = 100
/** A flush at least this long is a stall of the disk. */
export const DISK_STALL_MS = 50
/** How often the CPU probe runs its unit of work. */
export const CPU_PROBE_EVERY_MS = 250

/**
 * The CPU probe's unit: deflate (zlib, level 1) of a fixed 64 KiB of text-like bytes, about a millisecond of a core
 * in native code, so that no JIT tiering or deoptimization moves it (a JavaScript loop did, threefold). Its time is
 * the CPU time the process spent on it (getrusage, microseconds; the bench's own process is otherwise idle while a
 * window runs), not the clock's: waiting for a core does not count; a core that runs slower (frequency, or a guest
 * whose host gives its core's caches and memory bandwidth to others) does. (A thread's schedstat is not brought up
 * to date while the thread itself runs.)
 */
const probeInput = Buffer.alloc(64 * 1024)
for (let i = 0, x = 1; i < probeInput.length; i++) {
  x = (Math.imul(x, 1664525) + 1013904223) | 0
  probeInput[i] = 48 + (x >>> 24) % 40
}
function cpuProbe (): number {
  const before = process.cpuUsage()
  deflateSync(probeInput, { level: 1 })
  const spent = process.cpuUsage(before)
  return spent.user + spent.system
}

const WAITS_SQL = `
  SELECT CASE WHEN backend_type = 'client backend' THEN '' ELSE backend_type || ' ' END ||
         coalesce(wait_event_type || ':' || wait_event, 'CPU') AS event, count(*)::int AS n
  FROM pg_stat_activity
  WHERE state = 'active' AND pid <> pg_backend_pid()
  GROUP BY 1`

export interface PhaseRecord {
  /** The scenario, and its last progress line when the window opened. */
  scenario: string
  step: string
  /** The load of the window (e.g. "128 senders", "500 posts/s", "32 concurrent"), and its repetition (from 1). */
  phase?: string
  rep?: number
  startedAt: string
  seconds: number
  /** /proc/loadavg (1, 5, 15 minutes) when the window opened and when it closed. */
  loadAverage: { start: number[], end: number[] }
  /** CPU the machine spent outside this run's processes over the window, in cores; and stolen by the hypervisor. */
  otherCores: number
  stealCores: number
  /**
   * Active PostgreSQL backends (other than the sampler), counted per wait
   * event in each sample ("Lock:transactionid", "IO:WalSync", "CPU" when not
   * waiting; other backend types prefixed, e.g. "autovacuum worker CPU").
   * Divided by `samples`: the mean number of backends in that state.
   */
  waits: { samples: number, events: Record<string, number>, error?: string }
  /** The disk probe's flushes in the window: how many, the slowest (ms), and how many took DISK_STALL_MS or more. */
  disk?: { flushes: number, maxMs: number, stalls: number }
  /** The CPU probe's units in the window: how many, and their CPU time (µs), median and slowest. */
  cpu?: { units: number, medianUs: number, maxUs: number }
  /** Posts per post_messages call over the window (from post_batch_size); absent when not scraped. */
  batches?: { calls: number, posts: number, mean: number, maxAtMost: number } | { error: string }
}

export interface WindowWatch {
  /** Closes the window: its record (also kept in the watcher's list). */
  end (): Promise<PhaseRecord>
}

export interface MachineWatcher {
  /** Set by the bench: the scenario running, and its latest progress line. */
  scenario: string
  step: string
  /** Opens a measured window; `metricsUrl` is a single server process whose /metrics has post_batch_size. */
  open (o?: { phase?: string, rep?: number, metricsUrl?: string }): Promise<WindowWatch>
  records (): PhaseRecord[]
  close (): Promise<void>
}

/** Busy and stolen CPU seconds of the whole machine so far (/proc/stat). */
function machineCpu (): { busy: number, steal: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal (guest time is inside user)
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields
  const hz = ticksPerSecond()
  return { busy: (user + nice + system + irq + softirq) / hz, steal: steal / hz }
}

interface Accumulator { samples: number, events: Record<string, number>, disk: { flushes: number, maxMs: number, stalls: number }, cpuUs: number[] }

async function batchesSince (url: string, before: Promise<Histogram | Error>): Promise<PhaseRecord['batches']> {
  const [a, b] = await Promise.all([before, scrapeHistogram(url)])
  if (a instanceof Error || b instanceof Error) return { error: (a instanceof Error ? a : b as Error).message }
  const calls = b.count - a.count
  const posts = b.sum - a.sum
  // The smallest bucket bound that holds every call of the window.
  const bound = b.buckets.find((x) => x.count - (a.buckets.find((y) => y.le === x.le)?.count ?? 0) >= calls)?.le ?? Infinity
  return { calls, posts, mean: calls > 0 ? posts / calls : NaN, maxAtMost: calls > 0 ? bound : 0 }
}

const scrapeHistogram = (url: string): Promise<Histogram | Error> =>
  scrapeText(url).then((text) => histogram(text, 'post_batch_size'), (err: unknown) => err instanceof Error ? err : new Error(String(err)))

/**
 * One watcher per run: `adminUrl` reaches PostgreSQL as a superuser (the
 * sampler sees every database's backends); `ownPids` are the run's own
 * processes, whose CPU is not the machine's other load.
 */
export function createMachineWatcher (adminUrl: string, ownPids: () => number[], probeDir?: string): MachineWatcher {
  const records: PhaseRecord[] = []
  const open = new Set<Accumulator>()
  let client: pg.Client | undefined
  let connecting: Promise<pg.Client | Error> | undefined
  let failed = false
  let lastError: string | undefined
  let closed = false

  const connection = (): Promise<pg.Client | Error> => {
    connecting ??= (async () => {
      const c = new pg.Client({ connectionString: adminUrl, application_name: 'bench wait sampler' })
      // A database stopped under it (teardown) ends the sampling, not the run.
      c.on('error', (err) => { lastError = err.message })
      try {
        await c.connect()
        client = c
        return c
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err)
        return new Error(lastError)
      }
    })()
    return connecting
  }

  async function sampleInto (c: pg.Client, into: Iterable<Accumulator>): Promise<void> {
    try {
      const { rows } = await c.query<{ event: string, n: number }>(WAITS_SQL)
      for (const acc of into) {
        acc.samples++
        for (const r of rows) acc.events[r.event] = (acc.events[r.event] ?? 0) + r.n
      }
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err)
      failed = true
    }
  }

  /**
   * Runs `tick` every `everyMs` while any window is open, one loop at a time
   * (a window opened as the loop ends starts another), until `stopped`.
   */
  function whileOpen (everyMs: number, tick: () => Promise<void>, stopped: () => boolean) {
    let running = false
    let loop: Promise<void> = Promise.resolve()
    const start = (): void => {
      if (running || stopped() || closed) return
      running = true
      loop = (async () => {
        while (open.size > 0 && !stopped() && !closed) {
          const t = performance.now()
          await tick()
          await sleep(Math.max(0, everyMs - (performance.now() - t)))
        }
      })().finally(() => {
        running = false
        if (open.size > 0) start()
      })
    }
    return { start, finished: () => loop }
  }

  const sampler = whileOpen(SAMPLE_EVERY_MS, async () => {
    const c = await connection()
    if (c instanceof Error) failed = true
    else await sampleInto(c, open)
  }, () => failed)

  // The disk probe: one flush at a time; its slow flushes are the disk's, not the run's.
  const probeFile = probeDir === undefined ? undefined : join(probeDir, 'disk-probe')
  const block = Buffer.alloc(4096, 1)
  let probe: FileHandle | undefined
  let probeFailed = probeFile === undefined
  let at = 0
  const prober = whileOpen(PROBE_EVERY_MS, async () => {
    try {
      probe ??= await openFile(probeFile!, 'w')
      const t = performance.now()
      await probe.write(block, 0, block.length, at)
      await probe.datasync()
      const ms = performance.now() - t
      at = (at + block.length) % (1 << 20)
      for (const acc of open) {
        acc.disk.flushes++
        acc.disk.maxMs = Math.max(acc.disk.maxMs, ms)
        if (ms >= DISK_STALL_MS) acc.disk.stalls++
      }
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err)
      probeFailed = true
    }
  }, () => probeFailed)

  // The CPU probe: a unit of work every CPU_PROBE_EVERY_MS, timed on the CPU.
  const cpuProber = whileOpen(CPU_PROBE_EVERY_MS, async () => {
    const us = cpuProbe()
    for (const acc of open) acc.cpuUs.push(us)
  }, () => false)

  const watcher: MachineWatcher = {
    scenario: '',
    step: '',
    async open (o = {}) {
      const { scenario, step } = watcher
      const batchesBefore = o.metricsUrl === undefined ? undefined : scrapeHistogram(o.metricsUrl)
      await batchesBefore
      const acc: Accumulator = { samples: 0, events: {}, disk: { flushes: 0, maxMs: 0, stalls: 0 }, cpuUs: [] }
      open.add(acc)
      sampler.start()
      prober.start()
      cpuProber.start()
      const startedAt = new Date()
      const t0 = performance.now()
      const load0 = loadavg()
      const machine0 = machineCpu()
      const own0 = cpuSnapshot(ownPids())
      return {
        async end () {
          const seconds = (performance.now() - t0) / 1000
          const machine1 = machineCpu()
          const own = cpuSince(own0, ownPids())
          const loadEnd = loadavg()
          open.delete(acc)
          // A window shorter than the sampling period still gets its sample.
          if (acc.samples === 0 && client !== undefined && !failed && !closed) await sampleInto(client, [acc])
          const record: PhaseRecord = {
            scenario,
            step,
            ...(o.phase === undefined ? {} : { phase: o.phase }),
            ...(o.rep === undefined ? {} : { rep: o.rep }),
            startedAt: startedAt.toISOString(),
            seconds,
            loadAverage: { start: load0, end: loadEnd },
            otherCores: Math.max(0, (machine1.busy - machine0.busy - own) / seconds),
            stealCores: (machine1.steal - machine0.steal) / seconds,
            waits: { samples: acc.samples, events: acc.events, ...(acc.samples === 0 && lastError !== undefined ? { error: lastError } : {}) },
            ...(acc.disk.flushes === 0 ? {} : { disk: { ...acc.disk } }),
            ...(acc.cpuUs.length === 0 ? {} : { cpu: { units: acc.cpuUs.length, medianUs: median(acc.cpuUs), maxUs: Math.max(...acc.cpuUs) } }),
            ...(o.metricsUrl === undefined ? {} : { batches: await batchesSince(o.metricsUrl, batchesBefore!) })
          }
          records.push(record)
          return record
        }
      }
    },
    records: () => records,
    async close () {
      closed = true
      await Promise.all([sampler.finished(), prober.finished(), cpuProber.finished()])
      await probe?.close().catch(() => {})
      if (probeFile !== undefined) await rm(probeFile, { force: true })
      await client?.end().catch(() => {})
    }
  }
  return watcher
}
