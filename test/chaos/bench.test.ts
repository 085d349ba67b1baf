// Keeps the benchmark harness from rotting: `npm run bench -- --quick` runs
// end to end and produces every figure. It asserts that the figures exist and
// are plausible (positive, three repetitions, nothing lost in the storm),
// never that they meet the performance targets: those are reported by the
// benchmark, and this machine may be busy.
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { projectRoot } from '../bench/harness/processes.js'

let dir: string | undefined
afterAll(async () => { if (dir !== undefined) await rm(dir, { recursive: true, force: true }) })

function runQuick (out: string): Promise<{ code: number | null, output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/bench/run.ts', '--quick', '--out', out], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d: Buffer) => { output += d.toString() })
    child.stderr.on('data', (d: Buffer) => { output += d.toString() })
    const timer = setTimeout(() => child.kill('SIGINT'), 160_000)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

const positive = (f: { median: number, reps: number[] }) => {
  expect(f.reps.length).toBeGreaterThanOrEqual(3)
  expect(f.median).toBeGreaterThan(0)
}
const latency = (l: { p50: number, p95?: number, p99: number }) => {
  expect(l.p50).toBeGreaterThan(0)
  expect(l.p99).toBeGreaterThanOrEqual(l.p50)
}

describe('npm run bench -- --quick', () => {
  it('runs every scenario and reports every figure', async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchboard-bench-test-'))
    const out = join(dir, 'results.json')
    const { code, output } = await runQuick(out)
    expect(code, output.slice(-4000)).toBe(0)
    const r = JSON.parse(await readFile(out, 'utf8'))
    expect(r.meta.postgresSettings.synchronous_commit).toBe('on')

    const f = r.scenarios.fanout
    for (const run of [f.ours, f.bare, f.bareEncodeOnce]) {
      positive(run.saturation.deliveriesPerSec)
      positive(run.saturation.deliveriesPerCpuSec)
      expect(run.saturation.frameBytes).toBeGreaterThan(100)
    }
    latency(f.ours.paced.latencyMs)
    latency(f.bare.paced.latencyMs)
    for (const v of Object.values(f.ratios)) expect(v).toBeGreaterThan(0)
    // The metrics are live under load: the push counter moved between two scrapes.
    expect(f.metrics).toHaveLength(2)
    expect(f.metrics[1].messagePushes).toBeGreaterThan(f.metrics[0].messagePushes)
    expect(f.metrics[1].socketsOpen).toBeGreaterThanOrEqual(f.receivers)

    expect(r.scenarios.posting.levels.map((l: any) => l.concurrency)).toEqual([1, 8, 32])
    for (const l of r.scenarios.posting.levels) {
      positive(l.ours.perSec)
      positive(l.rawInsert.perSec)
      latency(l.ours.latencyMs)
      latency(l.rawInsert.latencyMs)
      expect(l.ratio).toBeGreaterThan(0)
    }

    const c = r.scenarios.connections
    for (const side of [c.ours, c.bare]) {
      expect(side).toHaveLength(2)
      for (const l of side) {
        positive(l.perConnectionKiB)
        positive(l.openedPerSec)
        expect(l.held.median).toBe(l.attempted)
      }
    }

    const h = r.scenarios.history
    expect(h.depths).toHaveLength(3)
    for (const d of h.depths) latency(d.latencyMs)
    expect(h.deepOverShallow.p50).toBeGreaterThan(0)

    const so = r.scenarios.scaleout
    expect(so.clusters.map((x: any) => x.broker)).toEqual(['postgres', 'redis'])
    for (const cl of so.clusters) {
      positive(cl.saturation.deliveriesPerCpuSec)
      positive(cl.paced.deliveriesPerCpuSec)
      latency(cl.paced.latencyMs)
      expect(cl.efficiency).toBeGreaterThan(0)
      expect(cl.efficiencySaturated).toBeGreaterThan(0)
      expect(cl.socketsPerWorker).toHaveLength(2)
      positive(cl.oneWorker.paced.deliveriesPerCpuSec)
      expect(cl.oneWorker.efficiency).toBeGreaterThan(0)
    }

    const st = r.scenarios.storm
    positive(st.catchUpMs)
    expect(st.expected).toBeGreaterThan(0)
    expect(st.lost).toBe(0)
    expect(st.duplicates).toBe(0)
    expect(st.clientsBehind).toBe(0)

    expect(r.targets.length).toBeGreaterThanOrEqual(12)
    expect(r.table).toContain('6 reconnect storm')
    expect(output).toContain('targets met:')
  }, 175_000)
})
