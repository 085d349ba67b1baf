// Scenario 2, posting: acknowledged REST posts per second (each answered
// after its commit) at 1, 8 and 32 concurrent senders, against the naive
// Fastify + Prisma server (one interactive transaction per post) and raw
// single-row INSERTs through `pg` at the same concurrency. Repetitions
// alternate between the three, so that noise from the machine hits all alike.
import type { BenchContext } from '../harness/context.js'
import type { WindowWatch } from '../harness/machine.js'
import { measuredWindow } from '../harness/phase.js'
import { cpuSeconds, cpuSince, cpuSnapshot, sleep } from '../harness/processes.js'
import { startWorker, type Worker } from '../harness/rpc.js'
import { Seeder } from '../harness/seed.js'
import { startPeer, startSwitchboard, type ServerUnderTest } from '../harness/server.js'
import { figure, medianLatency, ratio, type Figure, type LatencyFigure } from '../harness/stats.js'
import type { LoopMark } from '../loadgen/loops.js'
import type { BenchOptions } from '../options.js'

const LOADGEN = new URL('../loadgen/posting.ts', import.meta.url)
const RAW = new URL('../baselines/raw-insert.ts', import.meta.url)
const NAIVE = new URL('../baselines/naive-server.ts', import.meta.url)

export interface PostingLevel {
  concurrency: number
  ours: Side
  /** The naive Fastify + Prisma server (baselines/naive-server.ts) on the same tables, with senders of its own. */
  naive: Side
  rawInsert: Side
  ratio: number
  /** Switchboard's acked posts/s over the naive server's. */
  ratioVsNaive: number
}

interface Side {
  perSec: Figure
  latencyMs: LatencyFigure
  failed: number
  /** CPU in cores: the server (0 for the raw baseline, which has none), PostgreSQL, the load generator. */
  serverCores: Figure
  dbCores: Figure
  loadgenCores: Figure
}

export interface PostingResult { levels: PostingLevel[], lastError?: string }

type Measured = LoopMark & { serverCores: number, dbCores: number, loadgenCores: number }

/**
 * One measured window; CPU in cores of the server (none for the raw baseline), PostgreSQL and the load generator.
 * `watch` opens the machine's record of the window (harness/machine.ts); `target` picks the posting load
 * generator's server (Switchboard or the naive one).
 */
async function window (w: Worker, concurrency: number, warmupMs: number, windowMs: number, serverPids: number[], dbPids: () => number[],
  watch: () => Promise<WindowWatch>, target?: string): Promise<Measured> {
  await w.call('start', { concurrency, target })
  try {
    await sleep(warmupMs)
    const watching = await watch()
    await w.call('mark')
    const t0 = performance.now()
    const db0 = cpuSnapshot(dbPids())
    const cpu0 = [cpuSeconds(serverPids), cpuSeconds([w.pid])]
    await measuredWindow(w, t0, windowMs)
    const m = await w.call<LoopMark>('mark')
    const s = (performance.now() - t0) / 1000
    await watching.end()
    return { ...m, serverCores: (cpuSeconds(serverPids) - cpu0[0]!) / s, dbCores: cpuSince(db0, dbPids()) / s, loadgenCores: (cpuSeconds([w.pid]) - cpu0[1]!) / s }
  } finally {
    await w.call('stop')
  }
}

export async function runPosting (ctx: BenchContext, o: BenchOptions, log: (line: string) => void): Promise<PostingResult> {
  const levels = [...o.postingConcurrency].sort((a, b) => a - b)
  const max = levels[levels.length - 1]!
  const databaseUrl = await ctx.createDatabase('bench_posting')
  const seeder = new Seeder(databaseUrl, ctx.jwtSecret)
  // The naive server posts as users and into conversations of its own: a Switchboard that saw another
  // writer's seqs in its conversations would read that writer's events back to publish them.
  const sendersOf = async (prefix: string) => {
    const users = await seeder.users(2 * max, prefix)
    const directs = await seeder.directs(users, Array.from({ length: max }, (_, i): [number, number] => [i, max + i]))
    return directs.map((d, i) => ({ token: users[i]!.token, conversationId: d.id }))
  }
  let senders: Array<{ token: string, conversationId: string }>
  let naiveSenders: Array<{ token: string, conversationId: string }>
  try {
    senders = await sendersOf('p')
    naiveSenders = await sendersOf('n')
  } finally {
    await seeder.close()
  }

  let server: ServerUnderTest | undefined
  let naive: Worker | undefined
  const loadgen = startWorker(LOADGEN)
  const raw = startWorker(RAW)
  const ours = new Map<number, Measured[]>(levels.map((c) => [c, []]))
  const naiveMarks = new Map<number, Measured[]>(levels.map((c) => [c, []]))
  const rawMarks = new Map<number, Measured[]>(levels.map((c) => [c, []]))
  let lastError: string | undefined
  try {
    server = await startSwitchboard(ctx, { databaseUrl })
    const peer = await startPeer(NAIVE, { databaseUrl, jwtSecret: ctx.jwtSecret })
    naive = peer.worker
    const naivePids = [peer.worker.pid]
    await loadgen.call('init', { targets: { ours: { url: server.url, senders }, naive: { url: peer.url, senders: naiveSenders } }, maxSockets: max })
    await raw.call('init', { databaseUrl, concurrency: max })
    const warmup = o.postingWarmupMs
    for (let rep = 0; rep < o.reps; rep++) {
      for (const c of levels) {
        log(`posting: repetition ${rep + 1}/${o.reps}, ${c} concurrent`)
        const metricsUrl = server.url
        const a = await window(loadgen, c, warmup, o.postingWindowMs, server.pids(), ctx.postgresPids,
          () => ctx.machine.open({ phase: `${c} concurrent`, rep: rep + 1, metricsUrl }), 'ours')
        // The naive server has no /metrics (and no batches): its windows get the load average and wait events only.
        const n = await window(loadgen, c, warmup, o.postingWindowMs, naivePids, ctx.postgresPids,
          () => ctx.machine.open({ phase: `${c} concurrent, naive server`, rep: rep + 1 }), 'naive')
        const b = await window(raw, c, warmup, o.postingWindowMs, [], ctx.postgresPids,
          () => ctx.machine.open({ phase: `${c} concurrent, raw INSERT`, rep: rep + 1 }))
        lastError = a.error ?? n.error ?? b.error ?? lastError
        ours.get(c)!.push(a)
        naiveMarks.get(c)!.push(n)
        rawMarks.get(c)!.push(b)
      }
    }
    await raw.call('close')
  } finally {
    loadgen.kill()
    raw.kill()
    naive?.kill()
    await server?.stop()
  }
  const side = (marks: Measured[]): Side => ({
    perSec: figure(marks.map((m) => m.perSec)),
    latencyMs: medianLatency(marks.map((m) => m.latency)),
    failed: marks.reduce((s, m) => s + m.failed, 0),
    serverCores: figure(marks.map((m) => m.serverCores)),
    dbCores: figure(marks.map((m) => m.dbCores)),
    loadgenCores: figure(marks.map((m) => m.loadgenCores))
  })
  return {
    levels: levels.map((c) => {
      const a = side(ours.get(c)!)
      const n = side(naiveMarks.get(c)!)
      const b = side(rawMarks.get(c)!)
      return { concurrency: c, ours: a, naive: n, rawInsert: b, ratio: ratio(a.perSec.median, b.perSec.median), ratioVsNaive: ratio(a.perSec.median, n.perSec.median) }
    }),
    ...(lastError === undefined ? {} : { lastError })
  }
}
