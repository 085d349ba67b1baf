// Scenario 6, reconnect storm: N clients (the project's SDK), each in a group
// of 100 and a direct conversation, while posts keep flowing. All of them
// lose their connection at the same moment, stay away for a while (they miss
// events), and reconnect at the same moment; the time until every client has
// replayed what it missed is measured. At the end every client's events are
// checked against the database: none lost, none delivered twice.
import type { BenchContext } from '../harness/context.js'
import { sleep } from '../harness/processes.js'
import { startWorker } from '../harness/rpc.js'
import { Seeder } from '../harness/seed.js'
import { startSwitchboard, type ServerUnderTest } from '../harness/server.js'
import { figure, type Figure, type Latency } from '../harness/stats.js'
import type { BenchOptions } from '../options.js'

const LOADGEN = new URL('../loadgen/storm.ts', import.meta.url)

export interface StormResult {
  clients: number
  outageMs: number
  postRate: number
  /** From the simultaneous reconnect until the last client caught up. */
  catchUpMs: Figure
  perClientMs: Latency[]
  posted: number
  expected: number
  delivered: number
  lost: number
  duplicates: number
  clientsBehind: number
  sdkErrors: number
  lastSdkError?: string
}

interface Verify { clientsBehind: number, expected: number, delivered: number, lost: number, duplicates: number, sdkErrors: number, lastSdkError: string }

export async function runStorm (ctx: BenchContext, o: BenchOptions, log: (line: string) => void): Promise<StormResult> {
  const n = o.stormClients
  const databaseUrl = await ctx.createDatabase('bench_storm')
  const seeder = new Seeder(databaseUrl, ctx.jwtSecret)
  let server: ServerUnderTest | undefined
  const loadgen = startWorker(LOADGEN)
  try {
    const users = await seeder.users(n, 's')
    const groups = []
    for (let g = 0; g * 100 < n; g++) {
      const members = Array.from({ length: Math.min(100, n - g * 100) }, (_, i) => g * 100 + i)
      groups.push(await seeder.group(users, members, `storm ${g}`))
    }
    const half = Math.floor(n / 2)
    const directs = await seeder.directs(users, Array.from({ length: half }, (_, i): [number, number] => [i, i + half]))
    const ids = [...groups, ...directs].map((c) => c.id)

    server = await startSwitchboard(ctx, { databaseUrl })
    log(`storm: connecting ${n} SDK clients`)
    await loadgen.call('connect', {
      url: server.url,
      users: users.map((u) => ({ id: u.id, username: u.username, token: u.token })),
      groups: groups.map((g) => ({ id: g.id, members: g.memberIndexes })),
      directs: directs.map((d) => ({ id: d.id, members: d.memberIndexes }))
    }, 300_000)
    await loadgen.call('startPosting', { rate: o.stormPostRate })
    const catchUp: number[] = []
    const perClient: Latency[] = []
    const liveMs = o.stormLiveMs
    for (let rep = 0; rep < o.reps; rep++) {
      await sleep(liveMs)
      log(`storm: repetition ${rep + 1}/${o.reps}: ${n} clients drop, ${o.stormOutageMs} ms away, reconnect`)
      const watch = await ctx.machine.open({ phase: `${n} clients`, rep: rep + 1, metricsUrl: server.url })
      await loadgen.call('drop')
      await sleep(o.stormOutageMs)
      const r = await loadgen.call<{ allMs: number, perClientMs: Latency }>('reconnect', undefined, 300_000)
      catchUp.push(r.allMs)
      perClient.push(r.perClientMs)
      await watch.end()
      await sleep(liveMs)
    }
    const { posted } = await loadgen.call<{ posted: number }>('stopPosting')
    await sleep(300)
    const v = await loadgen.call<Verify>('verify', { lastSeqs: await seeder.lastSeqs(ids), timeoutMs: 15_000 }, 60_000)
    await loadgen.call('close')
    return {
      clients: n,
      outageMs: o.stormOutageMs,
      postRate: o.stormPostRate,
      catchUpMs: figure(catchUp),
      perClientMs: perClient,
      posted,
      expected: v.expected,
      delivered: v.delivered,
      lost: v.lost,
      duplicates: v.duplicates,
      clientsBehind: v.clientsBehind,
      sdkErrors: v.sdkErrors,
      ...(v.lastSdkError === '' ? {} : { lastSdkError: v.lastSdkError })
    }
  } finally {
    loadgen.kill()
    await server?.stop()
    await seeder.close()
  }
}
