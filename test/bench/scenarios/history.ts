// Scenario 4, history: `before`-page latency (50 messages, one request at a
// time) at several seqs of one long conversation, seeded in a single
// INSERT ... SELECT FROM generate_series. "Deep" is the oldest page asked
// for (seq 100: the whole conversation lies above it), "shallow" the newest.
import type { BenchContext } from '../harness/context.js'
import { startWorker } from '../harness/rpc.js'
import { Seeder } from '../harness/seed.js'
import { startSwitchboard, type ServerUnderTest } from '../harness/server.js'
import { medianLatency, ratio, type LatencyFigure } from '../harness/stats.js'
import type { LoopMark } from '../loadgen/loops.js'
import type { BenchOptions } from '../options.js'

const LOADGEN = new URL('../loadgen/history.ts', import.meta.url)
const PAGE = 50

export interface HistoryResult {
  messages: number
  seedSeconds: number
  pageSize: number
  depths: Array<{ beforeSeq: number, latencyMs: LatencyFigure, requests: number }>
  /** p50 and p99 of the deepest page over those of the shallowest. */
  deepOverShallow: { p50: number, p99: number }
}

export async function runHistory (ctx: BenchContext, o: BenchOptions, log: (line: string) => void): Promise<HistoryResult> {
  const databaseUrl = await ctx.createDatabase('bench_history')
  const seeder = new Seeder(databaseUrl, ctx.jwtSecret)
  let token: string
  let conversationId: string
  const seeding = Date.now()
  try {
    const [user] = await seeder.users(1, 'h')
    token = user!.token
    conversationId = (await seeder.group([user!], [0], 'history')).id
    log(`history: seeding ${o.historyMessages} messages`)
    await seeder.history(conversationId, user!.id, o.historyMessages)
  } finally {
    await seeder.close()
  }
  const seedSeconds = (Date.now() - seeding) / 1000
  const depths = [...new Set(o.historyDepths.map((d) => Math.min(d, o.historyMessages)))].sort((a, b) => a - b)
  const path = (seq: number) => `/v1/conversations/${conversationId}/messages?before=${seq}&limit=${PAGE}`

  let server: ServerUnderTest | undefined
  const loadgen = startWorker(LOADGEN)
  const marks = new Map<number, LoopMark[]>(depths.map((d) => [d, []]))
  try {
    server = await startSwitchboard(ctx, { databaseUrl })
    await loadgen.call('init', { url: server.url })
    for (const seq of depths) {
      const warm = await loadgen.call<LoopMark>('run', { path: path(seq), token, durationMs: 300, concurrency: 1 })
      if (warm.ok === 0) throw new Error(`history page at ${seq} failed: ${warm.error ?? 'no answer'}`)
    }
    for (let rep = 0; rep < o.reps; rep++) {
      log(`history: repetition ${rep + 1}/${o.reps}`)
      for (const seq of depths) {
        const watch = await ctx.machine.open({ phase: `before seq ${seq}`, rep: rep + 1 })
        marks.get(seq)!.push(await loadgen.call<LoopMark>('run', { path: path(seq), token, durationMs: o.historyWindowMs, concurrency: 1 }))
        await watch.end()
      }
    }
  } finally {
    loadgen.kill()
    await server?.stop()
  }
  const rows = depths.map((beforeSeq) => {
    const m = marks.get(beforeSeq)!
    return { beforeSeq, latencyMs: medianLatency(m.map((x) => x.latency)), requests: m.reduce((s, x) => s + x.ok, 0) }
  })
  const deep = rows[0]!.latencyMs
  const shallow = rows[rows.length - 1]!.latencyMs
  return {
    messages: o.historyMessages,
    seedSeconds,
    pageSize: PAGE,
    depths: rows,
    deepOverShallow: { p50: ratio(deep.p50, shallow.p50), p99: ratio(deep.p99, shallow.p99) }
  }
}
