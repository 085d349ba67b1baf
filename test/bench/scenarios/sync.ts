// Scenario 10, sync storm: N clients, each a member of `syncConversations`
// groups (groups of up to 100 of the clients, written with multi-row SQL),
// of which `syncBusy` are busy: posts keep flowing into those. All sockets
// are cut at once, stay away for a while, and reconnect at once; each client
// then catches up either through GET /v1/sync from the cursor it held, or
// through the per-conversation flow (every page of GET /v1/conversations,
// then /events?after= for each conversation that moved). The two flows are
// separate repetitions under the same load, in rounds (sync, then the
// per-conversation flow). Per flow: HTTP requests per reconnecting client,
// the time until the last one caught up, and lost and duplicate events
// against the database. Then, with posting stopped, the cost of a catch-up
// when nothing changed, one at a time: latency, and server and PostgreSQL
// CPU per catch-up.
import type { BenchContext } from '../harness/context.js'
import { label, samples, scrapeText } from '../harness/metrics.js'
import { cpuSince, cpuSnapshot, sleep, threadCpuPerClient, threadCpuSeconds } from '../harness/processes.js'
import { startWorker } from '../harness/rpc.js'
import { describeStatements, resetStatementStats, topStatements } from '../harness/pg-stats.js'
import { Seeder } from '../harness/seed.js'
import { startSwitchboard, type ServerUnderTest } from '../harness/server.js'
import { figure, medianLatency, type Figure, type Latency, type LatencyFigure } from '../harness/stats.js'
import type { BenchOptions } from '../options.js'

const LOADGEN = new URL('../loadgen/sync.ts', import.meta.url)
const GROUP_SIZE = 100
/**
 * Clients of the warm-up storms, one per flow, before the measured ones: as every scenario warms up before it
 * measures. Without them the first storm of the sync flow was the first time the server ran GET /v1/sync and the
 * load generator its catch-up code, and both compiled them while the storm went on (README "Sync", eighth round).
 */
const WARM_UP_CLIENTS = 200

export type SyncFlow = 'sync' | 'list'
export const FLOWS: SyncFlow[] = ['sync', 'list']
const LABEL: Record<SyncFlow, string> = { sync: 'GET /v1/sync', list: 'per conversation' }

export interface SyncFlowResult {
  flow: SyncFlow
  /** From the simultaneous reconnect until the last client caught up, per repetition. */
  catchUpMs: Figure
  perClientMs: Latency[]
  /** From the reconnect until each client's ready frame, per repetition. */
  readyMs: Latency[]
  /** Presence frames the clients received during each storm (a reconnect within the grace period should bring none). */
  presence: Array<{ online: number, offline: number }>
  /** The most frequent reasons sockets failed during each storm, with their counts. */
  socketFailures: string[][]
  /** Posts answered per second during each storm (the load it met; the rate is the scenario's postRate). */
  postsPerSec: number[]
  /** HTTP requests of each client's catch-up (the socket not counted): the median and the largest, per repetition. */
  requestsMedian: Figure
  requestsMax: Figure
  requests: Latency[]
  /** Server and PostgreSQL CPU from the reconnect until all caught up, per reconnecting client (posting and pushes included). */
  serverCpuMsPerClient: Figure
  dbCpuMsPerClient: Figure
  /** The load generator's (the clients', posting included), which shares the machine's cores with the server and the database. */
  loadgenCpuMsPerClient: Figure
  /** Bytes of the catch-up answers, median client, per repetition. */
  bytesPerClient: Figure
  /** Events the catch-ups brought, pushes dropped because a catch-up had brought them, events applied in all. */
  eventsFetched: number
  pushesOverlapped: number
  delivered: number
  lost: number
  duplicates: number
  /** A catch-up with nothing changed, one at a time (posting stopped): its latency, requests, and CPU. */
  idle: { latencyMs: LatencyFigure, requestsPerCatchUp: number, serverCpuMs: Figure, dbCpuMs: Figure }
}

export interface SyncResult {
  clients: number
  conversationsPerClient: number
  groupSize: number
  groups: number
  busyPerClient: number
  postRate: number
  outageMs: number
  seedSeconds: number
  /** From the clients' first connection until the server and database were quiet again (their presence announced). */
  onlineSettleSeconds: number
  flows: Record<SyncFlow, SyncFlowResult>
  posted: number
  postFailures: number
  /** Posts not sent because 200 were unanswered already (the server fell behind the rate). */
  postsSkipped: number
  /** Every client's events of every conversation, against the database's last seqs. */
  expected: number
  /** Events still missing when the run ended (besides the lost ones each flow counted). */
  missing: number
  clientsBehind: number
  failures: number
  lastError?: string
  /** With --pg-stats: per storm of the sync flow, the database's costliest statements (harness/pg-stats.ts). */
  statements?: string[]
  /** Per storm of the sync flow: the server's CPU per reconnecting client by thread, and its collections. */
  serverThreads?: string[]
  /** The warm-up storms (not measured), one per flow, of WARM_UP_CLIENTS clients: what the first ones cost. */
  warmUp?: string[]
}

interface Reconnect { allMs: number, postsPerSec: number, perClientMs: Latency, requests: Latency, bytesPerClient: Latency, readyMs: Latency, presenceOnline: number, presenceOffline: number, socketFailures: string[] }
interface Counts { delivered: number, lost: number, duplicates: number, pushesOverlapped: number, eventsFetched: number }
interface Verify {
  clientsBehind: number, expected: number, missing: number, byFlow: Record<SyncFlow, Counts>
  failures: number, lastError: string, posted: number, postFailures: number, postsSkipped: number
}

/**
 * Groups of `size` consecutive clients (wrapping around), laid end to end
 * until every client is in `perClient` of them; the groups of the first
 * `busy` rounds are the busy ones (each client is in exactly `busy` of them
 * when `size` divides the number of clients, as at every preset's size).
 */
export function layout (clients: number, perClient: number, busy: number): { groups: number[][], busy: number[] } {
  const size = Math.min(GROUP_SIZE, clients)
  const positions = clients * perClient
  const groups: number[][] = []
  const busyGroups: number[] = []
  for (let p = 0; p < positions; p += size) {
    if (p < clients * busy) busyGroups.push(groups.length)
    groups.push(Array.from({ length: Math.min(size, positions - p) }, (_, k) => (p + k) % clients))
  }
  return { groups, busy: busyGroups }
}

export async function runSync (ctx: BenchContext, o: BenchOptions, log: (line: string) => void): Promise<SyncResult> {
  const n = o.syncClients
  const databaseUrl = await ctx.createDatabase('bench_sync')
  const seeder = new Seeder(databaseUrl, ctx.jwtSecret)
  let server: ServerUnderTest | undefined
  const loadgen = startWorker(LOADGEN)
  try {
    const seeding = Date.now()
    const plan = layout(n, o.syncConversations, o.syncBusy)
    log(`sync: seeding ${n} clients in ${o.syncConversations} conversations each (${plan.groups.length} groups, ${plan.busy.length} busy)`)
    const users = await seeder.users(n, 'y')
    const groups = await seeder.groups(users, plan.groups, (i) => `sync ${i}`)
    // As a long-lived table would be: visible to every snapshot, with the planner's statistics.
    await seeder.pool.query('VACUUM ANALYZE memberships, conversations')
    await seeder.pool.query('CHECKPOINT')
    const seedSeconds = (Date.now() - seeding) / 1000

    server = await startSwitchboard(ctx, { databaseUrl, env: { SYNC_RATE_LIMIT_PER_MINUTE: '100000' } })
    const url = server.url
    log(`sync: connecting ${n} clients`)
    await loadgen.call('connect', {
      url,
      users: users.map((u) => ({ id: u.id, token: u.token })),
      groups: groups.map((g) => ({ id: g.id, members: g.memberIndexes })),
      busy: plan.busy
    }, 600_000)
    // Every client coming online at once sends each one's presence to everyone
    // who shares a conversation (about 1,000 contacts each here: a million
    // frames, and a contacts query that reads every membership of each). That
    // is the first connection's cost, not a reconnect's (a client back within
    // the grace period changes no presence): the storms start once it is over.
    const settled = await quiet(() => [...server!.pids(), ...ctx.postgresPids()])
    log(`sync: the clients' coming online settled in ${(settled / 1000).toFixed(1)} s`)
    await loadgen.call('startPosting', { rate: o.syncPostRate })
    // The tables the posts fill, with the planner's statistics, as autovacuum keeps a long-lived database's: the
    // storms start a second after the first post, and without them the first storm's conversation views were
    // planned for an empty messages table (4-6 times the buffers of the later storms', README "Sync", seventh round).
    await sleep(o.syncLiveMs)
    await seeder.pool.query('ANALYZE messages, events')
    // The warm-up storms: the first catch-ups of each flow on this server process (and in the load generator).
    const warmUp: string[] = []
    const k = Math.min(WARM_UP_CLIENTS, n)
    for (const flow of FLOWS) {
      await sleep(o.syncLiveMs)
      await loadgen.call('steady', { rate: o.syncPostRate, timeoutMs: 120_000 }, 180_000)
      log(`sync: warm-up, ${LABEL[flow]}: ${k} clients drop, ${o.syncOutageMs} ms away, reconnect (not measured)`)
      await loadgen.call('drop', { clients: k })
      await sleep(o.syncOutageMs)
      const threadsBefore = server.pids().map(threadCpuSeconds)
      const loadgenBefore = cpuSnapshot([loadgen.pid])
      const r = await loadgen.call<Reconnect>('reconnect', { flow, clients: k }, 1_800_000)
      const threads = threadCpuPerClient(threadsBefore, server.pids().map(threadCpuSeconds), k)
      warmUp.push(`${LABEL[flow]}, ${k} clients: all caught up in ${(r.allMs / 1000).toFixed(2)} s; server CPU per client (ms) ${threads}; ` +
        `load generator ${(cpuSince(loadgenBefore, [loadgen.pid]) * 1000 / k).toFixed(2)} ms per client`)
    }
    const storms: Record<SyncFlow, Reconnect[]> = { sync: [], list: [] }
    const cpu: Record<SyncFlow, Array<{ serverMs: number, dbMs: number, loadgenMs: number }>> = { sync: [], list: [] }
    // With --pg-stats: per storm of the sync flow, the statements it ran.
    const statements: string[] = []
    const serverThreads: string[] = []
    for (let rep = 0; rep < o.reps; rep++) {
      for (const flow of FLOWS) {
        await sleep(o.syncLiveMs)
        // The storm before may have left the server behind the post rate: each starts with posts flowing at the rate.
        const waited = await loadgen.call<number>('steady', { rate: o.syncPostRate, timeoutMs: 120_000 }, 180_000)
        log(`sync: repetition ${rep + 1}/${o.reps}, ${LABEL[flow]}: ${n} clients drop, ${o.syncOutageMs} ms away, reconnect` +
          (waited > 2_500 ? ` (after ${(waited / 1000).toFixed(1)} s for posting to keep up with its rate again)` : ''))
        const watch = await ctx.machine.open({ phase: `${n} clients, ${LABEL[flow]}`, rep: rep + 1, metricsUrl: url })
        await loadgen.call('drop')
        if (o.pgStats && flow === 'sync') await resetStatementStats(seeder.pool)
        await sleep(o.syncOutageMs)
        const serverBefore = cpuSnapshot(server.pids())
        const dbBefore = cpuSnapshot(ctx.postgresPids())
        const loadgenBefore = cpuSnapshot([loadgen.pid])
        const threadsBefore = server.pids().map(threadCpuSeconds)
        const gcBefore = flow === 'sync' ? await collections(url) : undefined
        const r = await loadgen.call<Reconnect>('reconnect', { flow }, 1_800_000)
        // Over the whole catch-up, posting and pushes included, per reconnecting client.
        cpu[flow].push({
          serverMs: cpuSince(serverBefore, server.pids()) * 1000 / n,
          dbMs: cpuSince(dbBefore, ctx.postgresPids()) * 1000 / n,
          loadgenMs: cpuSince(loadgenBefore, [loadgen.pid]) * 1000 / n
        })
        storms[flow].push(r)
        const threads = gcBefore === undefined ? undefined : describeThreads(threadsBefore, server.pids().map(threadCpuSeconds), n, gcBefore, await collections(url))
        if (o.pgStats && flow === 'sync') statements.push(describeStatements(await topStatements(seeder.pool)))
        const { cpu: probe } = await watch.end()
        // The machine's CPU speed beside it: the same work costs every process more when the CPU runs slower.
        if (threads !== undefined) serverThreads.push(`${threads}${probe === undefined ? '' : `; the machine's CPU probe ${probe.medianUs.toFixed(0)} µs (median)`}`)
      }
    }
    await sleep(o.syncLiveMs)
    await loadgen.call('stopPosting', undefined, 300_000)
    await sleep(300)
    const v = await loadgen.call<Verify>('verify', { lastSeqs: await seeder.lastSeqs(groups.map((g) => g.id)), timeoutMs: 30_000 }, 120_000)

    // Nothing changes any more: each client's next catch-up finds nothing.
    log('sync: catch-ups with nothing changed, one at a time')
    await loadgen.call('freshCursors', undefined, 600_000)
    const idle: Record<SyncFlow, Array<{ latency: Latency, requests: number, serverMs: number, dbMs: number }>> = { sync: [], list: [] }
    for (let rep = 0; rep < o.reps; rep++) {
      for (const flow of FLOWS) {
        const watch = await ctx.machine.open({ phase: `nothing changed, ${LABEL[flow]}`, rep: rep + 1 })
        const serverBefore = cpuSnapshot(server.pids())
        const dbBefore = cpuSnapshot(ctx.postgresPids())
        const r = await loadgen.call<{ latencyMs: Latency, count: number, requests: number }>('idle', { flow, durationMs: o.syncIdleWindowMs }, 300_000)
        const serverMs = cpuSince(serverBefore, server.pids()) * 1000 / r.count
        const dbMs = cpuSince(dbBefore, ctx.postgresPids()) * 1000 / r.count
        await watch.end()
        idle[flow].push({ latency: r.latencyMs, requests: r.requests / r.count, serverMs, dbMs })
      }
    }
    const after = await loadgen.call<Verify>('verify', { lastSeqs: await seeder.lastSeqs(groups.map((g) => g.id)), timeoutMs: 5_000 }, 60_000)
    await loadgen.call('close')

    const result = (flow: SyncFlow): SyncFlowResult => {
      const s = storms[flow]
      const c = after.byFlow[flow]
      return {
        flow,
        catchUpMs: figure(s.map((r) => r.allMs)),
        perClientMs: s.map((r) => r.perClientMs),
        readyMs: s.map((r) => r.readyMs),
        presence: s.map((r) => ({ online: r.presenceOnline, offline: r.presenceOffline })),
        socketFailures: s.map((r) => r.socketFailures),
        postsPerSec: s.map((r) => r.postsPerSec),
        requestsMedian: figure(s.map((r) => r.requests.p50)),
        requestsMax: figure(s.map((r) => r.requests.max)),
        requests: s.map((r) => r.requests),
        bytesPerClient: figure(s.map((r) => r.bytesPerClient.p50)),
        serverCpuMsPerClient: figure(cpu[flow].map((x) => x.serverMs)),
        dbCpuMsPerClient: figure(cpu[flow].map((x) => x.dbMs)),
        loadgenCpuMsPerClient: figure(cpu[flow].map((x) => x.loadgenMs)),
        eventsFetched: c.eventsFetched,
        pushesOverlapped: c.pushesOverlapped,
        delivered: c.delivered,
        lost: c.lost,
        duplicates: c.duplicates,
        idle: {
          latencyMs: medianLatency(idle[flow].map((x) => x.latency)),
          requestsPerCatchUp: idle[flow][0]?.requests ?? NaN,
          serverCpuMs: figure(idle[flow].map((x) => x.serverMs)),
          dbCpuMs: figure(idle[flow].map((x) => x.dbMs))
        }
      }
    }
    const lastError = after.lastError
    return {
      clients: n,
      conversationsPerClient: o.syncConversations,
      groupSize: Math.min(GROUP_SIZE, n),
      groups: groups.length,
      busyPerClient: o.syncBusy,
      postRate: o.syncPostRate,
      outageMs: o.syncOutageMs,
      seedSeconds,
      onlineSettleSeconds: settled / 1000,
      flows: { sync: result('sync'), list: result('list') },
      posted: v.posted,
      postFailures: v.postFailures,
      postsSkipped: v.postsSkipped,
      expected: after.expected,
      missing: Math.max(v.missing, after.missing),
      clientsBehind: v.clientsBehind,
      failures: after.failures,
      ...(lastError === '' ? {} : { lastError }),
      ...(statements.length === 0 ? {} : { statements }),
      serverThreads,
      warmUp
    }
  } finally {
    loadgen.kill()
    await server?.stop()
    await seeder.close()
  }
}

/** The server's collections so far by kind (count and seconds), from its /metrics. */
async function collections (url: string): Promise<Map<string, { count: number, seconds: number }>> {
  const text = await scrapeText(url)
  const out = new Map<string, { count: number, seconds: number }>()
  for (const x of samples(text, 'nodejs_gc_duration_seconds_count')) out.set(label(x.labels, 'kind'), { count: x.value, seconds: 0 })
  for (const x of samples(text, 'nodejs_gc_duration_seconds_sum')) { const c = out.get(label(x.labels, 'kind')); if (c !== undefined) c.seconds = x.value }
  return out
}

/** The server's CPU per client by thread (threadCpuPerClient), and the collections of the storm. */
function describeThreads (
  before: Array<Map<string, number>>, after: Array<Map<string, number>>, clients: number,
  gcBefore: Map<string, { count: number, seconds: number }>, gcAfter: Map<string, { count: number, seconds: number }>
): string {
  const gc = [...gcAfter].map(([kind, c]) => ({ kind, count: c.count - (gcBefore.get(kind)?.count ?? 0), ms: (c.seconds - (gcBefore.get(kind)?.seconds ?? 0)) * 1000 }))
    .filter((c) => c.count > 0).map((c) => `${c.kind} ${c.count} (${c.ms.toFixed(0)} ms)`).join(', ')
  return `threads (ms per client): ${threadCpuPerClient(before, after, clients)}; collections: ${gc === '' ? 'none' : gc}`
}

/** Waits (up to 3 minutes) until `pids` use less than 0.2 cores over a second; resolves with the time waited. */
async function quiet (pids: () => number[]): Promise<number> {
  const start = Date.now()
  while (Date.now() - start < 180_000) {
    const before = cpuSnapshot(pids())
    await sleep(1_000)
    if (cpuSince(before, pids()) < 0.2) break
  }
  return Date.now() - start
}
