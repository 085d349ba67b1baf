// The bench's report layer: a figure keeps every repetition and is marked
// unstable when they spread more than 25 % of their median; a target is met
// only when every repetition meets it; a busy machine or an unstable figure
// puts a warning above the table.
import { describe, expect, it } from 'vitest'
import type { PhaseRecord } from './bench/harness/machine.js'
import { histogram } from './bench/harness/metrics.js'
import { machineLines, renderer, warnings } from './bench/harness/render.js'
import { figure, medianLatency, ratioFigure, spread } from './bench/harness/stats.js'
import type { BenchResults } from './bench/bench.js'
import { report } from './bench/report.js'
import { layout, type SyncFlowResult, type SyncResult } from './bench/scenarios/sync.js'
import { repetition, type ScalingResult, type ScalingRun } from './bench/scenarios/scaling.js'
import type { WindowResult } from './bench/harness/phase.js'

const record = (over: Partial<PhaseRecord>): PhaseRecord => ({
  scenario: 'fanout',
  step: 'fan-out: Switchboard',
  startedAt: '2026-01-01T00:00:00.000Z',
  seconds: 5,
  loadAverage: { start: [0.5, 0.4, 0.3], end: [1.5, 0.6, 0.4] },
  otherCores: 0.1,
  stealCores: 0,
  waits: { samples: 10, events: { CPU: 8, 'Lock:transactionid': 3 } },
  ...over
})

describe('figures over repetitions', () => {
  it('spread is (max - min) / median; above 0.25 the figure is unstable', () => {
    expect(spread([1.1, 1.21, 1.3])).toBeCloseTo(0.2 / 1.21)
    expect(figure([1.1, 1.21, 1.3])).toMatchObject({ median: 1.21, reps: [1.1, 1.21, 1.3], unstable: false })
    const falling = figure([65_600, 53_600, 36_600])
    expect(falling.spread).toBeCloseTo(29_000 / 53_600)
    expect(falling.unstable).toBe(true)
    expect(figure([0, 0, 0])).toMatchObject({ spread: 0, unstable: false })
    expect(figure([0, 0, 3]).unstable).toBe(true)
    expect(figure([Number.NaN, 2, 2]).spread).toBe(0)
  })

  it('latency: the spread of each percentile; ratios pair repetitions of the same number', () => {
    const l = medianLatency([
      { count: 10, p50: 1, p95: 2, p99: 164, max: 170 },
      { count: 10, p50: 1, p95: 2, p99: 760, max: 800 },
      { count: 10, p50: 1, p95: 2, p99: 1_040, max: 1_100 }
    ])
    expect(l.p99).toBe(760)
    expect(l.spread).toEqual({ p50: 0, p95: 0, p99: (1_040 - 164) / 760 })
    expect(l.unstable).toBe(true)
    expect(ratioFigure(figure([2, 4, 6]), figure([1, 4, 3])).reps).toEqual([2, 1, 2])
    expect(ratioFigure(figure([2, 4, 6]), 2).reps).toEqual([1, 2, 3])
  })
})

describe('the printed report', () => {
  it('shows every repetition beside the median and marks unstable figures', () => {
    const r = renderer()
    const dec = (n: number) => n.toFixed(2)
    expect(r.fig('steady', figure([1.1, 1.21, 1.3]), dec)).toBe('1.21 (1.10 / 1.21 / 1.30)')
    expect(r.fig('falling', figure([1.0, 0.8, 0.62]), dec)).toBe('0.80 (1.00 / 0.80 / 0.62) **unstable** ±48%')
    // Printed again (Switchboard's figure beside each peer), it is still one unstable figure.
    r.fig('falling', figure([1.0, 0.8, 0.62]), dec)
    expect(r.unstable).toEqual(['falling (±48%)'])
  })

  it('meets a target only when every repetition meets it, and names those that missed', () => {
    const r = renderer()
    const ms = (n: number) => n.toFixed(1)
    expect(r.check('p99 ≤ 25 ms', [14.1, 6.6, 20.4], (v) => v <= 25, ms)).toBe('yes')
    // The median (20.4) meets it; one repetition does not.
    expect(r.check('p99 ≤ 25 ms', [14.1, 31.0, 20.4], (v) => v <= 25, ms)).toBe('**no** (repetition 2: 31.0)')
    expect(r.check('p99 ≤ 25 ms', [164, 760, 1_040], (v) => v <= 25, ms)).toBe('**no** (every repetition)')
    expect(r.check('0 lost', [3_000, 4_000, 5_000], (v) => v <= 10_000, ms, false)).toBe('**no**')
    expect(r.targets.map((t) => [t.met, t.value, t.missed])).toEqual([[true, '14.1', []], [false, '20.4', [2]], [false, '760.0', [1, 2, 3]], [false, '4000.0', []]])
  })

  it('warns of a busy machine and of unstable figures, and sums up each scenario\'s windows', () => {
    const records = [
      record({ phase: '128 senders', batches: { calls: 100, posts: 1_200, mean: 12, maxAtMost: 24 } }),
      record({ phase: '128 senders', otherCores: 1.2, batches: { calls: 100, posts: 800, mean: 8, maxAtMost: 16 }, loadAverage: { start: [2.5, 1, 1], end: [3, 1, 1] } }),
      record({ scenario: 'history', waits: { samples: 0, events: {}, error: 'connection refused' } })
    ]
    expect(warnings({ loadAtStart: 0.6, cores: 2, records: records.slice(0, 1), unstable: [] })).toEqual([])
    const w = warnings({ loadAtStart: 2.4, cores: 2, records, unstable: ['fan-out deliveries/s (±54%)'] })
    expect(w).toHaveLength(3)
    expect(w[0]).toMatch(/busy machine: load average 2\.40 at the start on 2 cores/)
    expect(w[1]).toMatch(/other processes took more than 0\.50 cores in 1 of 3 measured windows \(up to 1\.20; scenarios fanout\)/)
    expect(w[2]).toMatch(/1 unstable figure .*fan-out deliveries\/s \(±54%\)/)
    const [fanout, history] = machineLines(records, 2)
    expect(fanout).toBe('machine, fanout: load average 0.50–3.00 (1 min, at the start and end of 2 windows; 2 cores); other processes 0.10–1.20 cores; ' +
      'PostgreSQL active backends per sample (20 samples): CPU 0.80, Lock:transactionid 0.30; ' +
      'posts per post_messages call: 128 senders mean 10.0 (windows 8.0–12.0), largest ≤ 24')
    expect(history).toMatch(/PostgreSQL wait events not sampled \(connection refused\)/)
  })

  it('names the windows in which the disk stalled (the probe\'s slowest flush), or says none did', () => {
    const quiet = machineLines([record({ disk: { flushes: 50, maxMs: 12.4, stalls: 0 } })], 2)[0]!
    expect(quiet).toMatch(/disk flushes \(a 4 KiB write and fdatasync every 100 ms\) slowest 12 ms; no stall of 50 ms or more$/)
    const stalled = machineLines([
      record({ phase: 'post→push alone', rep: 1, disk: { flushes: 50, maxMs: 8, stalls: 0 } }),
      record({ phase: 'post→push with 50 uploaders', rep: 2, disk: { flushes: 48, maxMs: 327.3, stalls: 3 } })
    ], 2)[0]!
    expect(stalled).toMatch(/slowest 327 ms; stalls of 50 ms or more in 1 of 2 windows \(post→push with 50 uploaders rep 2: 327 ms\)/)
  })

  it('names the windows whose CPU ran slower (the probe\'s median against the scenario\'s fastest window), or says none did', () => {
    const even = machineLines([record({ cpu: { units: 28, medianUs: 1_100, maxUs: 1_600 } }), record({ rep: 2, cpu: { units: 30, medianUs: 1_300, maxUs: 2_000 } })], 2)[0]!
    expect(even).toMatch(/CPU probe \(64 KiB deflated every 250 ms, timed on the CPU\) median per window 1,100–1,300 µs; no window 1\.3× the fastest or slower$/)
    const slow = machineLines([
      record({ phase: '1000 clients, GET /v1/sync', rep: 1, cpu: { units: 28, medianUs: 1_000, maxUs: 1_500 } }),
      record({ phase: '1000 clients, GET /v1/sync', rep: 3, cpu: { units: 40, medianUs: 2_150, maxUs: 3_100 } })
    ], 2)[0]!
    expect(slow).toMatch(/median per window 1,000–2,150 µs; 1 of 2 windows 1\.3× the fastest or slower \(1000 clients, GET \/v1\/sync rep 3: 2\.15×\)$/)
  })

  it('reads a histogram from Prometheus text', () => {
    const text = [
      '# TYPE post_batch_size histogram',
      'post_batch_size_bucket{le="1"} 3', 'post_batch_size_bucket{le="2"} 5', 'post_batch_size_bucket{le="+Inf"} 6',
      'post_batch_size_sum 14', 'post_batch_size_count 6', 'other_bucket{le="1"} 9'
    ].join('\n')
    expect(histogram(text, 'post_batch_size')).toEqual({ count: 6, sum: 14, buckets: [{ le: 1, count: 3 }, { le: 2, count: 5 }, { le: Infinity, count: 6 }] })
  })
})

describe('the sync storm (scenario 10)', () => {
  it('lays groups out so that every client is in the same number of conversations, and of busy ones', () => {
    for (const [clients, perClient] of [[1_000, 500], [200, 500], [50, 200]] as const) {
      const { groups, busy } = layout(clients, perClient, 10)
      const count = new Array<number>(clients).fill(0)
      const busyCount = new Array<number>(clients).fill(0)
      groups.forEach((g) => {
        expect(new Set(g).size, 'a client twice in one group').toBe(g.length)
        expect(g.length).toBeLessThanOrEqual(100)
        for (const m of g) count[m] = count[m]! + 1
      })
      for (const i of busy) for (const m of groups[i]!) busyCount[m] = busyCount[m]! + 1
      expect(new Set(count), `${clients} clients`).toEqual(new Set([perClient]))
      expect(new Set(busyCount), `${clients} clients`).toEqual(new Set([10]))
    }
  })

  it('prints both flows side by side and checks the sync flow against every repetition', () => {
    const lat = (p50: number) => ({ count: 100, p50, p95: p50 * 2, p99: p50 * 3, max: p50 * 4 })
    const flow = (f: 'sync' | 'list', requests: number[], seconds: number[], lost = 0): SyncFlowResult => ({
      flow: f,
      catchUpMs: figure(seconds.map((v) => v * 1000)),
      perClientMs: [lat(1), lat(1), lat(1)],
      readyMs: [lat(1), lat(1), lat(1)],
      presence: [{ online: 0, offline: 0 }, { online: 0, offline: 0 }, { online: 0, offline: 0 }],
      socketFailures: [[], [], []],
      postsPerSec: [100, 99, 98],
      requestsMedian: figure(requests),
      requestsMax: figure(requests.map((v) => v + 1)),
      requests: [lat(1), lat(1), lat(1)],
      bytesPerClient: figure([2048, 2048, 2048]),
      serverCpuMsPerClient: figure([5, 5, 5]),
      dbCpuMsPerClient: figure([5, 5, 5]),
      loadgenCpuMsPerClient: figure([5, 5, 5]),
      eventsFetched: 10,
      pushesOverlapped: 0,
      delivered: 100,
      lost,
      duplicates: 0,
      idle: { latencyMs: medianLatency([lat(2), lat(2), lat(2)]), requestsPerCatchUp: f === 'sync' ? 1 : 5, serverCpuMs: figure([1, 1, 1]), dbCpuMs: figure([1, 1, 1]) }
    })
    const sync: SyncResult = {
      clients: 1_000, conversationsPerClient: 500, groupSize: 100, groups: 5_000, busyPerClient: 10, postRate: 100, outageMs: 2_000, seedSeconds: 3, onlineSettleSeconds: 3,
      flows: { sync: flow('sync', [1, 1, 3], [2.5, 3, 3.2]), list: flow('list', [15, 15, 15], [20, 30, 25]) },
      posted: 1_000, postFailures: 0, postsSkipped: 0, expected: 100_000, missing: 0, clientsBehind: 0, failures: 0
    }
    const results = { meta: { machine: { cores: 2, loadAverageBefore: [0.5, 0.5, 0.5] } }, scenarios: { sync }, phases: [] } as unknown as BenchResults
    const out = report(results)
    const rows = out.table.split('\n').filter((l) => l.startsWith('| 10 '))
    expect(rows).toHaveLength(3)
    // Repetition 3's slowest client made 4 requests: the target misses there, whatever the median.
    expect(rows[0]).toContain('sync: max 2 (2 / 2 / 4)')
    expect(rows[0]).toContain('per conversation: max 16 (16 / 16 / 16)')
    expect(rows[0]).toMatch(/\*\*no\*\* \(repetition 3: 4\) \|$/)
    expect(rows[1]).toContain('sync: 3.00 (2.50 / 3.00 / 3.20); lost 0, duplicates 0')
    expect(rows[1]).toMatch(/\| yes \|$/)
    expect(rows[2]).toContain('sync (1.0 request): 2.0 / 4.0 / 6.0')
    expect(out.targets.map((t) => t.met)).toEqual([false, true])

    // A lost event fails the catch-up target even when every repetition was fast.
    sync.flows.sync = flow('sync', [1, 1, 1], [2.5, 3, 4], 1)
    expect(report(results).targets.map((t) => t.met)).toEqual([true, false])
  })
})

describe('the scaling scenario (11)', () => {
  it('charges each process its paced CPU less its idle CPU (scaled to the same length), and its broker CPU, per frame it delivered; the median over processes', () => {
    const paced = {
      seconds: 2, deliveriesPerSec: 1_500,
      processes: [
        { pid: 1, cpuSeconds: 0.1, deliveries: 1_000, brokerCpuSeconds: 0.01 },
        { pid: 2, cpuSeconds: 0.2, deliveries: 1_000, brokerCpuSeconds: 0.03 },
        { pid: 3, cpuSeconds: 0.05, deliveries: 1_000, brokerCpuSeconds: 0.02 }
      ]
    } as unknown as WindowResult
    const idle = { seconds: 1, processes: [{ cpuSeconds: 0.01, deliveries: 0 }, { cpuSeconds: 0.02, deliveries: 0 }, { cpuSeconds: 0.01, deliveries: 0 }] }
    const rep = repetition(idle, paced, [10, 10, 10])
    // (0.1 - 0.02) s / 1000 frames = 80 µs; (0.2 - 0.04) / 1000 = 160 µs; (0.05 - 0.02) / 1000 = 30 µs.
    expect(rep.processes.map((p) => Math.round(p.microsPerFrame))).toEqual([80, 160, 30])
    expect(Math.round(rep.microsPerFrame)).toBe(80)
    // The broker's own CPU, with no idle window taken off: 10, 30 and 20 µs per frame.
    expect(rep.processes.map((p) => Math.round(p.brokerMicrosPerFrame))).toEqual([10, 30, 20])
    expect(Math.round(rep.brokerMicrosPerFrame)).toBe(20)
    expect(rep.framesPerSec).toBe(1_500)
  })

  it('prints N by N with both brokers and their ratios to N = 1, and checks the sharded broker\'s CPU against 1.2x in every repetition', () => {
    const run = (broker: 'sharded' | 'global', processes: number, micros: number[], processMicros = [50, 50, 50]): ScalingRun => ({
      broker, processes, brokerMicrosPerFrame: figure(micros), microsPerFrame: figure(processMicros), framesPerSec: figure([5_000, 5_000, 5_000]),
      ratioToOne: figure([1, 1, 1]), brokerRatioToOne: figure([1, 1, 1]),
      paced: { dbCores: figure([0.1, 0.1, 0.1]), loadgenCores: figure([0.1, 0.1, 0.1]), postsPerSec: figure([100, 100, 100]), latencyMs: medianLatency([]), failures: 0, skipped: 0 } as unknown as ScalingRun['paced'],
      reps: []
    })
    const scaling: ScalingResult = {
      receivers: 1_000, groupSize: 100, rate: 100, processes: [1, 2, 4], redisCluster: { masters: 3, replicas: 0, shards: 1024 },
      runs: [run('sharded', 1, [20, 20, 20]), run('global', 1, [20, 20, 20]), run('sharded', 2, [21, 22, 23]), run('global', 2, [25, 25, 25]),
        // The whole process doubles at N = 4 (the machine); the target is the broker's figure.
        run('sharded', 4, [22, 25, 23], [100, 100, 100]), run('global', 4, [40, 40, 40])]
    }
    const results = { meta: { machine: { cores: 2, loadAverageBefore: [0.5, 0.5, 0.5] } }, scenarios: { scaling }, phases: [] } as unknown as BenchResults
    const out = report(results)
    const rows = out.table.split('\n').filter((l) => l.startsWith('| 11 '))
    expect(rows).toHaveLength(3)
    expect(rows[1]).toContain('broker CPU per delivered frame per process')
    expect(rows[1]).toContain('sharded 22.0 (21.0 / 22.0 / 23.0)')
    expect(rows[1]).toContain('global 25.0 (25.0 / 25.0 / 25.0), to N=1 1.25 (1.25 / 1.25 / 1.25)')
    expect(rows[1]).toMatch(/\| 1\.10 \(1\.05 \/ 1\.10 \/ 1\.15\) \| ≤ 1\.2× N=1 \(sharded\) \| yes \|$/)
    // Repetition 2 at N = 4 is 1.25x: the target misses there, whatever the median.
    expect(rows[2]).toMatch(/\*\*no\*\* \(repetition 2: 1\.25\) \|$/)
    expect(out.targets.map((t) => t.met)).toEqual([true, false])
    expect(out.sections).toHaveLength(1)
    const section = out.sections[0]!
    expect(section).toContain('| 4 | 23.0 (22.0 / 25.0 / 23.0) | 1.15 (1.10 / 1.25 / 1.15) | 40.0 (40.0 / 40.0 / 40.0) | 2.00 (2.00 / 2.00 / 2.00) | ' +
      '100.0 (100.0 / 100.0 / 100.0) | 2.00 (2.00 / 2.00 / 2.00) | 50.0 (50.0 / 50.0 / 50.0) | 1.00 (1.00 / 1.00 / 1.00) | 5,000 / 5,000 |')
    expect(section).toContain('every repetition: MISS (N=4 repetition 2: 1.25)')
  })
})
