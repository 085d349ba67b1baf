// The scaling scenario (11) in the report: rows of the main table with the
// target (the sharded broker's CPU per delivered frame per process within
// 1.2× of N = 1, every repetition), and its own table, N by N, the two brokers
// side by side (their broker CPU, and beside it the whole process's), with a
// PASS/MISS line.
import { dec, int, type Renderer } from './harness/render.js'
import { ratioFigure } from './harness/stats.js'
import { brokerLabel, type ScalingResult, type ScalingRun } from './scenarios/scaling.js'

/** The issue's bound: the sharded broker's figure at any N over N = 1's. */
export const SCALING_LIMIT = 1.2

export interface ScalingReport { rows: string[][], notes: string[], section: string }

/** Processes of the run besides the servers: PostgreSQL, the Redis Cluster's masters and the single Redis, the load generator. */
const OTHER_PROCESSES = 3

/** `cores`: the machine's; with fewer than the servers and the others, the processes share cores, and every figure includes what they cost each other. */
export function scalingReport (sc: ScalingResult, x: Renderer, cores: number): ScalingReport {
  const d1 = (n: number) => dec(n, 1)
  const run = (broker: ScalingRun['broker'], n: number) => sc.runs.find((r) => r.broker === broker && r.processes === n)
  const rows: string[][] = []
  const lines: string[][] = []
  const misses: string[] = []
  let checked = 0
  for (const n of sc.processes) {
    const sharded = run('sharded', n)
    const global = run('global', n)
    const one = { sharded: run('sharded', 1), global: run('global', 1) }
    type Of = 'broker' | 'process'
    const fig = (r: ScalingRun, of: Of) => of === 'broker' ? r.brokerMicrosPerFrame : r.microsPerFrame
    const cell = (r: ScalingRun | undefined, of: Of) => r === undefined ? 'n/a' : x.fig(`scaling N=${n} ${r.broker} ${of} µs per frame`, fig(r, of), d1)
    const ratioCell = (r: ScalingRun | undefined, base: ScalingRun | undefined, of: Of) => r === undefined || base === undefined
      ? 'n/a'
      : x.ratio(fig(r, of).median / fig(base, of).median, ratioFigure(fig(r, of), fig(base, of)))
    let met = ''
    if (n !== 1 && sharded !== undefined && one.sharded !== undefined) {
      const perRep = ratioFigure(sharded.brokerMicrosPerFrame, one.sharded.brokerMicrosPerFrame)
      met = x.check(`scaling: sharded broker CPU per delivered frame per process at N=${n} ≤ ${SCALING_LIMIT}× N=1`, perRep.reps, (v) => v <= SCALING_LIMIT,
        (v) => dec(v), true, dec(sharded.brokerMicrosPerFrame.median / one.sharded.brokerMicrosPerFrame.median))
      checked++
      const missed = perRep.reps.flatMap((v, i) => v <= SCALING_LIMIT ? [] : [`repetition ${i + 1}: ${dec(v)}`])
      if (missed.length > 0) misses.push(`N=${n} ${missed.join(', ')}`)
    }
    rows.push([`11 scaling, N=${n} process${n === 1 ? '' : 'es'}, ${int(sc.receivers)} receivers spread, ${int(sc.rate)} posts/s: broker CPU per delivered frame per process (µs)`,
      `sharded ${cell(sharded, 'broker')}`, `global ${cell(global, 'broker')}, to N=1 ${ratioCell(global, one.global, 'broker')}`, ratioCell(sharded, one.sharded, 'broker'),
      n === 1 ? '' : `≤ ${SCALING_LIMIT}× N=1 (sharded)`, met])
    lines.push([String(n), cell(sharded, 'broker'), ratioCell(sharded, one.sharded, 'broker'), cell(global, 'broker'), ratioCell(global, one.global, 'broker'),
      cell(sharded, 'process'), ratioCell(sharded, one.sharded, 'process'), cell(global, 'process'), ratioCell(global, one.global, 'process'),
      `${int(sharded?.framesPerSec.median ?? NaN)} / ${int(global?.framesPerSec.median ?? NaN)}`])
  }
  const header = ['N', 'sharded broker µs/frame', 'ratio to N=1', 'global broker µs/frame', 'ratio to N=1',
    'sharded process µs/frame', 'ratio to N=1', 'global process µs/frame', 'ratio to N=1', 'frames/s (sharded / global)']
  const verdict = checked === 0
    ? 'no N other than 1 was measured'
    : misses.length === 0 ? 'PASS' : `MISS (${misses.join('; ')})`
  const section = [
    `Scaling (scenario 11): broker CPU (and the whole process's CPU) per delivered frame per process, ${int(sc.receivers)} receivers (one socket per user) spread over N server processes ` +
      `(receiver i on process i mod N), ${int(sc.rate)} posts/s round-robin over them (every other post into a group of ${int(sc.groupSize)}, the others into direct conversations). ` +
      `sharded: ${brokerLabel('sharded')}, ${sc.redisCluster.masters} masters, ${sc.redisCluster.replicas === 0 ? 'no replicas' : `${sc.redisCluster.replicas} replica each`}, ` +
      `${int(sc.redisCluster.shards)} user shards; global: ${brokerLabel('global')}. Each cell the median of the repetitions, every repetition in brackets; ` +
      'a ratio pairs each repetition with N=1\'s of the same number.',
    '',
    [header, header.map(() => '---'), ...lines].map((cols) => `| ${cols.join(' | ')} |`).join('\n'),
    '',
    `sharded broker within ${SCALING_LIMIT}× of N=1 at every N, every repetition: ${verdict}`,
    ...(cores >= Math.max(...sc.processes) + OTHER_PROCESSES
      ? []
      : [`measured on ${cores} cores for up to ${Math.max(...sc.processes)} servers, PostgreSQL, Redis and the load generator: the processes share cores, and each ` +
          'figure includes what they cost each other: the ratio is not the broker\'s alone (README "The scaling bench")']),
    'broker µs/frame of a process = its broker_cpu_seconds_total over the paced window (both ways: reading and decoding broker messages up to the ' +
      'frames handed to its sockets, their writes left out; encoding and publishing) / the frames its sockets delivered in that window; ' +
      'process µs/frame = (its CPU in the paced window − its CPU in an idle window of the same length, receivers connected and nothing posted) ' +
      '/ the same frames, CPU from /proc (each thread\'s schedstat). Each the median over the N processes.'
  ].join('\n')
  const notes = sc.runs.map((r) => {
    const last = r.reps[r.reps.length - 1]
    const sockets = last?.processes.map((p) => p.sockets).join(' / ') ?? ''
    const cores = (f: (p: ScalingRun['reps'][number]['processes'][number]) => number) =>
      last === undefined ? 'n/a' : dec(last.processes.reduce((s, p) => s + f(p), 0) / last.pacedSeconds)
    const idleFrames = r.reps.reduce((s, rep) => s + rep.idleFrames, 0)
    return `scaling N=${r.processes} ${r.broker}: sockets per process ${sockets}; last repetition's server cores paced ${cores((p) => p.pacedCpuSeconds)}, ` +
      `idle ${cores((p) => p.idleCpuSeconds)}; PostgreSQL + Redis ${dec(r.paced.dbCores.median)} cores, load generator ${dec(r.paced.loadgenCores.median)}; ` +
      `${int(r.paced.postsPerSec.median)} posts/s acked; post→push p50 / p99 ${d1(r.paced.latencyMs.p50)} / ${d1(r.paced.latencyMs.p99)} ms` +
      (r.paced.failures + r.paced.skipped > 0 ? `; ${int(r.paced.failures)} posts failed, ${int(r.paced.skipped)} not sent` : '') +
      (idleFrames > 0 ? `; ${int(idleFrames)} frames arrived in idle windows` : '')
  })
  return { rows, notes, section }
}
