// The printed table (Markdown, pasted as-is into the README) and the check of
// each result against the issue's targets. Targets are requirements, not
// measurements; every number in the table comes from the results. Each
// figure shows its repetitions beside its median, a target is met only when
// every repetition meets it, and the warnings and machine lines say when the
// machine or the repetitions make the medians unfit to quote (harness/render.ts).
import type { BenchResults } from './bench.js'
import { dec, int, machineLines, renderer, warnings, type Renderer, type TargetCheck } from './harness/render.js'
import { percentileFigure, ratioFigure } from './harness/stats.js'
import type { SystemRun } from './scenarios/fanout.js'
import { scalingReport } from './report-scaling.js'

export type { TargetCheck }

/** `sections`: tables of their own, printed after the main one (the scaling scenario's, N by N). */
export interface Report { table: string, sections: string[], targets: TargetCheck[], notes: string[], machine: string[], warnings: string[], unstable: string[] }

export function report (r: BenchResults): Report {
  const rows: string[][] = []
  const notes: string[] = []
  const sections: string[] = []
  const x = renderer()
  const { check, fig, lat } = x
  const d1 = (n: number) => dec(n, 1)
  const d2 = (n: number) => dec(n)
  const s = r.scenarios

  if (s.fanout !== undefined) {
    const f = s.fanout
    const n = int(f.receivers)
    const perSec = ratioFigure(f.ours.saturation.deliveriesPerSec, f.bare.saturation.deliveriesPerSec)
    rows.push([`1 fan-out, ${n} receivers, ${f.senders} senders: deliveries/s`, fig('fan-out deliveries/s', f.ours.saturation.deliveriesPerSec),
      `bare ws ${fig('fan-out bare ws deliveries/s', f.bare.saturation.deliveriesPerSec)}`, x.ratio(f.ratios.deliveriesPerSec, perSec), '≥ 1.0×',
      check('fan-out deliveries/s ≥ 1.0× bare ws', perSec.reps, (v) => v >= 1, d2, true, dec(f.ratios.deliveriesPerSec))])
    const perCpu = ratioFigure(f.ours.saturation.deliveriesPerCpuSec, f.bare.saturation.deliveriesPerCpuSec)
    rows.push(['1 fan-out: deliveries per server CPU-second', fig('fan-out deliveries per CPU-second', f.ours.saturation.deliveriesPerCpuSec),
      `bare ws ${fig('fan-out bare ws deliveries per CPU-second', f.bare.saturation.deliveriesPerCpuSec)} ` +
      `(encoded once: ${fig('fan-out bare ws (encoded once) deliveries per CPU-second', f.bareEncodeOnce.saturation.deliveriesPerCpuSec)})`,
      x.ratio(f.ratios.deliveriesPerCpuSec, perCpu), '≥ 1.0×',
      check('fan-out deliveries per CPU-second ≥ 1.0× bare ws', perCpu.reps, (v) => v >= 1, d2, true, dec(f.ratios.deliveriesPerCpuSec))])
    const paced = f.ours.paced!
    rows.push([`1 post→push latency p50 / p95 / p99 at ${f.rate} posts/s (ms)`, lat('post→push latency', paced.latencyMs),
      `bare ws ${lat('bare ws post→push latency', f.bare.paced!.latencyMs)}`, '',
      'p99 ≤ 25 ms', check(`post→push p99 ≤ 25 ms at ${f.rate} posts/s, ${n} receivers`, percentileFigure(paced.latencyMs, 'p99').reps, (v) => v <= 25, d1)])
    notes.push(`fan-out frames: ${int(f.ours.saturation.frameBytes)} bytes (Switchboard), ${int(f.bare.saturation.frameBytes)} bytes (bare ws); ` +
      `server CPU while saturated: ${dec(f.ours.saturation.serverCores.median)} cores (Switchboard), ${dec(f.bare.saturation.serverCores.median)} (bare ws); ` +
      `load generator ${dec(f.ours.saturation.loadgenCores.median)} / ${dec(f.bare.saturation.loadgenCores.median)} cores; PostgreSQL ${dec(f.ours.saturation.dbCores.median)} cores`)
    const [m0, m1] = f.metrics
    if (m0 !== undefined && m1 !== undefined) {
      notes.push(`/metrics during fan-out: ws_frames_pushed_total{type="message.created"} ${int(m0.messagePushes)} → ${int(m1.messagePushes)}, ` +
        `ws_connections_open ${int(m1.socketsOpen)}, posts answered ${int(m0.postsAnswered)} → ${int(m1.postsAnswered)}`)
    }
  }
  if (s.fanout !== undefined) {
    const peers = fanoutPeers(s.fanout, x)
    rows.push(...peers.rows)
    notes.push(...peers.notes)
  }

  if (s.posting !== undefined) {
    for (const l of s.posting.levels) {
      const top = l.concurrency === Math.max(...s.posting.levels.map((x) => x.concurrency))
      const perRep = ratioFigure(l.ours.perSec, l.rawInsert.perSec)
      rows.push([`2 posting, ${l.concurrency} concurrent: acks/s; p50 / p99 (ms)`,
        `${fig(`posting ${l.concurrency} acks/s`, l.ours.perSec)}; ${lat(`posting ${l.concurrency} latency`, l.ours.latencyMs, ['p50', 'p99'])}`,
        `raw INSERT ${fig(`raw INSERT ${l.concurrency} rows/s`, l.rawInsert.perSec)}; ${lat(`raw INSERT ${l.concurrency} latency`, l.rawInsert.latencyMs, ['p50', 'p99'])}`,
        x.ratio(l.ratio, perRep), top ? '≥ 1.0×' : '',
        top ? check(`posting at ${l.concurrency} senders ≥ 1.0× raw single-row INSERT`, perRep.reps, (v) => v >= 1, d2, true, dec(l.ratio)) : ''])
    }
  }
  if (s.posting !== undefined) {
    const peers = postingPeers(s.posting, x)
    rows.push(...peers.rows)
    notes.push(...peers.notes)
  }

  if (s.posting !== undefined) {
    notes.push('posting CPU (cores: server / PostgreSQL / load generator): ' + s.posting.levels.map((l) =>
      `${l.concurrency} concurrent: Switchboard ${dec(l.ours.serverCores.median)} / ${dec(l.ours.dbCores.median)} / ${dec(l.ours.loadgenCores.median)}, ` +
      `raw INSERT – / ${dec(l.rawInsert.dbCores.median)} / ${dec(l.rawInsert.loadgenCores.median)}`).join('; '))
  }

  if (s.connections !== undefined) {
    const c = s.connections
    c.ours.forEach((l, i) => {
      const b = c.bare[i]!
      rows.push([`3 idle connections: RSS per connection at ${int(l.attempted)} (KiB)`, fig(`RSS per connection at ${int(l.attempted)}`, l.perConnectionKiB, d1),
        `bare ws ${fig(`bare ws RSS per connection at ${int(l.attempted)}`, b.perConnectionKiB, d1)}`,
        x.ratio(c.ratioPerConnection[i]!, ratioFigure(l.perConnectionKiB, b.perConnectionKiB)), '≤ 10 KiB',
        check(`RSS per idle connection ≤ 10 KiB at ${int(l.attempted)}`, l.perConnectionKiB.reps, (v) => v <= 10, d1)])
    })
    const last = c.ours[c.ours.length - 1]!
    const opened = ratioFigure(c.ours[0]!.openedPerSec, c.bare[0]!.openedPerSec)
    rows.push(['3 connections opened per second', fig('connections opened/s', c.ours[0]!.openedPerSec),
      `bare ws ${fig('bare ws connections opened/s', c.bare[0]!.openedPerSec)}`,
      x.ratio(c.ours[0]!.openedPerSec.median / c.bare[0]!.openedPerSec.median, opened), '', ''])
    const wanted = Math.max(...r.meta.options.connections)
    rows.push(['3 connections held by one process', fig('connections held', last.held), '', '', `${int(wanted)}`,
      check(`${int(wanted)} connections held by one process`, last.held.reps, (v) => v >= wanted, int)])
    if (c.cappedBy !== undefined) notes.push(`connections capped: ${c.cappedBy}`)
  }

  if (s.history !== undefined) {
    const h = s.history
    for (const d of h.depths) {
      rows.push([`4 history page before seq ${int(d.beforeSeq)} of ${int(h.messages)}: p50 / p99 (ms)`,
        lat(`history before seq ${int(d.beforeSeq)}`, d.latencyMs, ['p50', 'p99']), '', '', 'p99 ≤ 5 ms',
        check(`history p99 ≤ 5 ms before seq ${int(d.beforeSeq)}`, percentileFigure(d.latencyMs, 'p99').reps, (v) => v <= 5, d2)])
    }
    const deep = h.depths[0]!.latencyMs
    const shallow = h.depths[h.depths.length - 1]!.latencyMs
    const deepOverShallow = ratioFigure(percentileFigure(deep, 'p50'), percentileFigure(shallow, 'p50'))
    rows.push(['4 history deep / shallow (p50; p99)', `${dec(h.deepOverShallow.p50)}; ${dec(h.deepOverShallow.p99)}`, '',
      x.ratio(h.deepOverShallow.p50, deepOverShallow), '≤ 1.5',
      check('history deep/shallow ≤ 1.5 (p50)', deepOverShallow.reps, (v) => v <= 1.5, d2, true, dec(h.deepOverShallow.p50))])
  }

  if (s.scaleout !== undefined) {
    const so = s.scaleout
    for (const c of so.clusters) {
      // Each repetition against the one-process reference's median (measured in another phase).
      const paced = ratioFigure(c.paced.deliveriesPerCpuSec, so.singleProcess.deliveriesPerCpuSecPaced)
      const saturated = ratioFigure(c.saturation.deliveriesPerCpuSec, so.singleProcess.deliveriesPerCpuSec)
      const alone = ratioFigure(c.oneWorker.paced.deliveriesPerCpuSec, so.singleProcess.deliveriesPerCpuSecPaced)
      rows.push([`5 cluster, ${c.workers} workers, BROKER=${c.broker}: deliveries per CPU-second at ${so.rate} posts/s`,
        fig(`cluster ${c.broker} deliveries per CPU-second at ${so.rate} posts/s`, c.paced.deliveriesPerCpuSec),
        `one process ${int(so.singleProcess.deliveriesPerCpuSecPaced)}`, x.ratio(c.efficiency, paced), '≥ 0.8',
        check(`cluster efficiency ≥ 0.8 at ${so.rate} posts/s (BROKER=${c.broker})`, paced.reps, (v) => v >= 0.8, d2, true, dec(c.efficiency))])
      rows.push([`5 cluster, ${c.workers} workers, BROKER=${c.broker}: deliveries per CPU-second saturated`,
        fig(`cluster ${c.broker} deliveries per CPU-second saturated`, c.saturation.deliveriesPerCpuSec),
        `one process ${int(so.singleProcess.deliveriesPerCpuSec)}`, x.ratio(c.efficiencySaturated, saturated), '≥ 0.8',
        check(`cluster efficiency ≥ 0.8 saturated (BROKER=${c.broker})`, saturated.reps, (v) => v >= 0.8, d2, true, dec(c.efficiencySaturated))])
      rows.push([`5 cluster, BROKER=${c.broker}: post→push p50 / p95 / p99 at ${so.rate} posts/s (ms)`, lat(`cluster ${c.broker} post→push latency`, c.paced.latencyMs), '', '', '', ''])
      rows.push([`5 one worker behind BROKER=${c.broker} (broker overhead per delivery): deliveries per CPU-second at ${so.rate} posts/s`,
        fig(`one worker ${c.broker} deliveries per CPU-second`, c.oneWorker.paced.deliveriesPerCpuSec), `one process ${int(so.singleProcess.deliveriesPerCpuSecPaced)}`,
        x.ratio(c.oneWorker.efficiency, alone), '≥ 0.8',
        check(`broker overhead ≤ 20% per delivery (BROKER=${c.broker})`, alone.reps, (v) => v >= 0.8, d2, true, dec(c.oneWorker.efficiency))])
      notes.push(`cluster BROKER=${c.broker}: ${int(c.saturation.deliveriesPerSec.median)} deliveries/s saturated on ${dec(c.saturation.serverCores.median)} server cores; ` +
        `sockets per worker ${c.socketsPerWorker.join(' / ')}; PostgreSQL${c.broker === 'redis' ? ' + Redis' : ''} ${dec(c.saturation.dbCores.median)} cores`)
    }
  }

  if (s.storm !== undefined) {
    const st = s.storm
    const seconds = (ms: number) => dec(ms / 1000)
    rows.push([`6 reconnect storm, ${int(st.clients)} clients: all caught up (s)`, fig('reconnect storm catch-up', st.catchUpMs, seconds),
      `lost ${st.lost}, duplicates ${st.duplicates} of ${int(st.expected)} events`, '', '≤ 10 s, 0 lost, 0 dup',
      check(`storm of ${int(st.clients)} caught up ≤ 10 s with 0 lost / 0 duplicate`, st.catchUpMs.reps, (v) => v <= 10_000, seconds,
        st.lost === 0 && st.duplicates === 0, `${seconds(st.catchUpMs.median)} s, ${st.lost} lost, ${st.duplicates} dup`)])
  }

  if (s.push !== undefined) {
    const p = s.push
    const ms = (v: number) => int(v)
    rows.push([`7 device push: one message to ${int(p.members)} offline members, all enqueued (ms)`, fig('push enqueued', p.enqueuedMs, ms), '', '', '≤ 1,000 ms',
      check(`push to ${int(p.members)} members enqueued ≤ 1 s`, p.enqueuedMs.reps, (v) => v <= 1_000, ms)])
    rows.push([`7 device push: the same, all handed to the provider (ms)`, fig('push handed over', p.handedMs, ms), '', '', '≤ 5,000 ms',
      check(`push to ${int(p.members)} members handed over ≤ 5 s`, p.handedMs.reps, (v) => v <= 5_000, ms)])
    rows.push([`7 device pushes per second, one process (${int(p.burstMessages)} messages × ${int(p.members)})`, fig('device pushes/s', p.pushesPerSec), '', '', '≥ 2,000/s',
      check('device pushes ≥ 2,000/s from one process', p.pushesPerSec.reps, (v) => v >= 2_000, int)])
    rows.push(['7 device pushes per server CPU-second (what one free core carries)', fig('device pushes per CPU-second', p.pushesPerCpuSec), '', '', '', ''])
    if (p.failed > 0) notes.push(`device push: ${int(p.failed)} deliveries failed`)
  }
  if (s.attachments !== undefined) {
    const a = s.attachments
    const mb = int(a.largeUploadBytes / 1048576)
    rows.push([`8 upload of ${mb} MB (local driver): server RSS growth (MB)`, fig(`${mb} MB upload RSS growth`, a.rssGrowthMb, d1),
      `${fig(`${mb} MB upload seconds`, a.uploadSeconds, d1)} s`, '', '≤ 20 MB',
      check(`${mb} MB upload RSS growth ≤ 20 MB`, a.rssGrowthMb.reps, (v) => v <= 20, d1)])
    rows.push([`8 thumbnail of a ${a.thumbnail.megapixels}-megapixel JPEG: p50 / p95 / p99 (ms)`, lat('thumbnail latency', a.thumbnail.latencyMs), '', '', 'p99 ≤ 500 ms',
      check('thumbnail of a 12-megapixel JPEG p99 ≤ 500 ms', a.thumbnail.latencyMs.reps.map((r) => r.p99), (v) => v <= 500, d1)])
    const p = a.postToPush
    rows.push([`8 post→push at ${p.rate} posts/s with ${p.uploaders} concurrent 1 MB uploads: p50 / p95 / p99 (ms)`, lat('post→push during uploads', p.duringUploads),
      `alone ${lat('post→push without uploads', p.alone)}`, '', 'p99 ≤ 25 ms',
      check(`post→push p99 ≤ 25 ms during ${p.uploaders} concurrent uploads`, p.duringUploads.reps.map((r) => r.p99), (v) => v <= 25, d1)])
    notes.push(`attachments: ${int(p.uploadsCompleted)} uploads of 1 MB completed during the post→push windows (their first uploads spread over a second, the window opened after)`)
    if (p.slowest !== undefined && p.slowest.length > 0) notes.push(`attachments: the slowest posts of each post→push window, by when they were sent (post→push ms, and the answer's): ${p.slowest.join('; ')}`)
    notes.push(`attachments: the server's memory after each large upload, against before it (MB): ${a.memory.join('; ')}`)
  }
  if (s.search !== undefined) {
    const se = s.search
    for (const q of se.queries) {
      rows.push([`9 search, ${q.name}, member of ${int(se.memberOf)} of ${int(se.conversations)} conversations, ${int(se.messages)} messages: p50 / p99 (ms)`,
        lat(`search ${q.name}`, q.latencyMs, ['p50', 'p99']), '', '', 'p99 ≤ 20 ms',
        check(`search p99 ≤ 20 ms, ${q.name}, ${int(se.messages)} messages`, percentileFigure(q.latencyMs, 'p99').reps, (v) => v <= 20, d2)])
    }
    notes.push(`search: ${se.queries.map((q) => `"${q.q}" (${q.name}) answered ${int(q.hits)} hits of at most ${int(se.limit)}, ` +
      `its plan read ${q.plan.indexes.join(', ')}${q.plan.seqScanOfMessages ? ' and SCANNED messages' : ''} (EXPLAIN ANALYZE ${d2(q.plan.executionMs)} ms)`).join('; ')}; ` +
      `seeded in ${d1(se.seedSeconds)} s, of which ${d1(se.indexBuildSeconds)} s building the two search indexes (CREATE INDEX CONCURRENTLY)`)
  }

  if (s.sync !== undefined) {
    const out = syncRows(s.sync, x)
    rows.push(...out.rows)
    notes.push(...out.notes)
  }

  if (s.scaling !== undefined) {
    const out = scalingReport(s.scaling, x, r.meta.machine.cores)
    rows.push(...out.rows)
    notes.push(...out.notes)
    sections.push(out.section)
  }

  const header = ['figure', 'Switchboard', 'baseline', 'ratio', 'target', 'met']
  const table = [header, header.map(() => '---'), ...rows].map((cols) => `| ${cols.join(' | ')} |`).join('\n')
  const cores = r.meta.machine.cores
  return {
    table,
    sections,
    targets: x.targets,
    notes,
    machine: machineLines(r.phases, cores),
    warnings: warnings({ loadAtStart: r.meta.machine.loadAverageBefore[0]!, cores, records: r.phases, unstable: x.unstable }),
    unstable: x.unstable
  }
}

type Rows = { rows: string[][], notes: string[] }

/**
 * Fan-out against the peers users would pick instead: the naive Fastify + Prisma server and Socket.IO. Each
 * repetition is a round over every system, so a ratio's repetition pairs the two systems' windows of one round.
 */
function fanoutPeers (f: NonNullable<BenchResults['scenarios']['fanout']>, x: Renderer): Rows {
  const ours = f.ours.saturation
  const vsNaive = ratioFigure(ours.deliveriesPerSec, f.naive.saturation.deliveriesPerSec)
  const vsSocketio = ratioFigure(ours.deliveriesPerSec, f.socketio.saturation.deliveriesPerSec)
  const rows: string[][] = [
    ['1 fan-out vs the naive server (Fastify + Prisma): deliveries/s', x.fig('fan-out deliveries/s', ours.deliveriesPerSec),
      `naive ${x.fig('fan-out naive server deliveries/s', f.naive.saturation.deliveriesPerSec)}`, x.ratio(f.ratios.deliveriesPerSecVsNaive, vsNaive), '', ''],
    ['1 fan-out vs Socket.IO 4 + Redis adapter: deliveries/s', x.fig('fan-out deliveries/s', ours.deliveriesPerSec),
      `Socket.IO ${x.fig('fan-out Socket.IO deliveries/s', f.socketio.saturation.deliveriesPerSec)}`, x.ratio(f.ratios.deliveriesPerSecVsSocketio, vsSocketio), '≥ 1.5×',
      x.check('fan-out deliveries/s ≥ 1.5× Socket.IO', vsSocketio.reps, (v) => v >= 1.5, (v) => dec(v), true, dec(f.ratios.deliveriesPerSecVsSocketio))],
    [`1 post→push latency of the peers at ${f.rate} posts/s: p50 / p95 / p99 (ms)`, x.lat('post→push latency', f.ours.paced!.latencyMs),
      `naive ${x.lat('naive server post→push latency', f.naive.paced!.latencyMs)}; Socket.IO ${x.lat('Socket.IO post→push latency', f.socketio.paced!.latencyMs)}`, '', '', '']
  ]
  const side = (name: string, r: SystemRun) => `${name} ${int(r.saturation.frameBytes)} bytes, ${dec(r.saturation.serverCores.median)} server cores, ` +
    `${int(r.saturation.deliveriesPerCpuSec.median)} deliveries per server CPU-second, ${int(r.saturation.postsPerSec.median)} posts/s acked` +
    (r.saturation.failures + (r.paced?.failures ?? 0) > 0 ? `, ${int(r.saturation.failures + (r.paced?.failures ?? 0))} posts failed` : '')
  const notes = [
    `fan-out peers while saturated: ${side('Switchboard', f.ours)}; ${side('naive server', f.naive)}, PostgreSQL ${dec(f.naive.saturation.dbCores.median)} cores; ` +
      `${side('Socket.IO', f.socketio)}, PostgreSQL + Redis ${dec(f.socketio.saturation.dbCores.median)} cores, load generator (socket.io-client) ${dec(f.socketio.saturation.loadgenCores.median)} cores`
  ]
  return { rows, notes }
}

/** Posting against the naive Fastify + Prisma server (one interactive transaction per post), repetition by repetition. */
function postingPeers (p: NonNullable<BenchResults['scenarios']['posting']>, x: Renderer): Rows {
  const topConcurrency = Math.max(...p.levels.map((l) => l.concurrency))
  const rows = p.levels.map((l) => {
    const top = l.concurrency === topConcurrency
    const perRep = ratioFigure(l.ours.perSec, l.naive.perSec)
    return [`2 posting, ${l.concurrency} concurrent, vs the naive server (Fastify + Prisma): acks/s; p50 / p99 (ms)`,
      `${x.fig(`posting ${l.concurrency} acks/s`, l.ours.perSec)}; ${x.lat(`posting ${l.concurrency} latency`, l.ours.latencyMs, ['p50', 'p99'])}`,
      `naive ${x.fig(`naive server ${l.concurrency} acks/s`, l.naive.perSec)}; ${x.lat(`naive server ${l.concurrency} latency`, l.naive.latencyMs, ['p50', 'p99'])}`,
      x.ratio(l.ratioVsNaive, perRep), top ? '≥ 3×' : '',
      top ? x.check(`posting at ${l.concurrency} senders ≥ 3× the naive server`, perRep.reps, (v) => v >= 3, (v) => dec(v), true, dec(l.ratioVsNaive)) : '']
  })
  const notes = ['naive server posting CPU (cores: server / PostgreSQL / load generator): ' + p.levels.map((l) =>
    `${l.concurrency} concurrent: ${dec(l.naive.serverCores.median)} / ${dec(l.naive.dbCores.median)} / ${dec(l.naive.loadgenCores.median)}` +
    (l.naive.failed > 0 ? ` (${int(l.naive.failed)} posts failed)` : '')).join('; ')]
  return { rows, notes }
}

/**
 * The sync storm: the sync flow in the Switchboard column, the per-conversation flow (GET /v1/conversations, then
 * /events per moved conversation) in the baseline column, repetitions of the same round side by side.
 */
function syncRows (sy: NonNullable<BenchResults['scenarios']['sync']>, x: Renderer): Rows {
  const { sync, list } = sy.flows
  const seconds = (ms: number) => dec(ms / 1000)
  const d1 = (n: number) => dec(n, 1)
  const kb = (b: number) => `${dec(b / 1024, 1)} KB`
  const lostDup = (f: typeof sync) => `lost ${int(f.lost)}, duplicates ${int(f.duplicates)}`
  const exact = sync.lost === 0 && sync.duplicates === 0 && sy.missing === 0 && sy.clientsBehind === 0
  const requests = (f: typeof sync, name: string) =>
    `max ${x.fig(`sync storm ${name} requests per client (max)`, f.requestsMax)}; median ${x.fig(`sync storm ${name} requests per client (median)`, f.requestsMedian, d1)}`
  const rows: string[][] = [
    [`10 sync storm, ${int(sy.clients)} clients in ${int(sy.conversationsPerClient)} conversations each (${sy.busyPerClient} busy, ${int(sy.postRate)} posts/s): HTTP requests per reconnecting client`,
      `sync: ${requests(sync, 'sync')}`, `per conversation: ${requests(list, 'per-conversation')}`,
      x.ratio(sync.requestsMedian.median / list.requestsMedian.median, ratioFigure(sync.requestsMedian, list.requestsMedian)), '≤ 3 (sync, every client)',
      x.check(`sync storm of ${int(sy.clients)}: ≤ 3 requests per reconnecting client (sync flow, max)`, sync.requestsMax.reps, (v) => v <= 3, int)],
    [`10 sync storm, ${int(sy.clients)} clients: all caught up (s)`,
      `sync: ${x.fig('sync storm catch-up (sync)', sync.catchUpMs, seconds)}; ${lostDup(sync)}`,
      `per conversation: ${x.fig('sync storm catch-up (per conversation)', list.catchUpMs, seconds)}; ${lostDup(list)}`,
      x.ratio(sync.catchUpMs.median / list.catchUpMs.median, ratioFigure(sync.catchUpMs, list.catchUpMs)), '≤ 10 s, 0 lost, 0 dup (sync)',
      x.check(`sync storm of ${int(sy.clients)} caught up ≤ 10 s with 0 lost / 0 duplicate (sync flow)`, sync.catchUpMs.reps, (v) => v <= 10_000, seconds,
        exact, `${seconds(sync.catchUpMs.median)} s, ${sync.lost} lost, ${sync.duplicates} dup`)],
    [`10 catch-up with nothing changed, member of ${int(sy.conversationsPerClient)}, one at a time: p50 / p95 / p99 (ms)`,
      `sync (${d1(sync.idle.requestsPerCatchUp)} request): ${x.lat('idle sync latency', sync.idle.latencyMs)}`,
      `per conversation (${d1(list.idle.requestsPerCatchUp)} requests): ${x.lat('idle per-conversation catch-up latency', list.idle.latencyMs)}`,
      x.ratio(sync.idle.latencyMs.p50 / list.idle.latencyMs.p50, ratioFigure(percentileFigure(sync.idle.latencyMs, 'p50'), percentileFigure(list.idle.latencyMs, 'p50'))), '', '']
  ]
  const both = (f: (r: typeof sync) => string) => `sync ${f(sync)}, per conversation ${f(list)}`
  const notes = [
    `sync storm: ${int(sy.groups)} groups of ${int(sy.groupSize)} (seeded in ${dec(sy.seedSeconds, 1)} s; the clients' first connection, presence included, settled in ${dec(sy.onlineSettleSeconds, 1)} s before the storms), each client in ${int(sy.conversationsPerClient)}, ` +
      `${int(sy.postRate)} posts/s into the busy ones, ${int(sy.outageMs)} ms away; ${int(sy.posted)} posts` +
      (sy.postFailures > 0 ? ` (${int(sy.postFailures)} failed)` : '') +
      (sy.postsSkipped > 0 ? `, ${int(sy.postsSkipped)} not sent (200 unanswered already: the server fell behind the rate)` : '') +
      `; every client's events checked against the database: ${int(sy.expected)} events, ${int(sy.missing)} missing at the end, ${int(sy.clientsBehind)} clients behind; ` +
      `events brought by the catch-ups: ${both((r) => int(r.eventsFetched))}; pushes dropped as already caught up: ${both((r) => int(r.pushesOverlapped))}; ` +
      `catch-up answers per client (median): ${both((r) => kb(r.bytesPerClient.median))}` +
      (sy.failures > 0 ? `; ${int(sy.failures)} requests or sockets failed and were retried (last: ${sy.lastError ?? ''})` : ''),
    `sync storm ready frame after the reconnect, p50 / p95 / max per storm (ms): ${both((r) => r.readyMs.map((l) => `${dec(l.p50, 0)} / ${dec(l.p95, 0)} / ${dec(l.max, 0)}`).join('; '))}; ` +
      `presence frames received during each storm (online / offline): ${both((r) => r.presence.map((v) => `${int(v.online)} / ${int(v.offline)}`).join('; '))}; ` +
      `sockets failed and retried during each storm: ${both((r) => r.socketFailures.map((f) => f.length === 0 ? 'none' : f.join(', ')).join('; '))}`,
    `sync storm posts answered per second during each storm (the rate is ${int(sy.postRate)}/s): ${both((r) => r.postsPerSec.map((v) => dec(v, 0)).join(' / '))}`,
    `sync storm CPU from the reconnect until all caught up, per reconnecting client (posting and pushes included): server ` +
      `${both((r) => `${dec(r.serverCpuMsPerClient.median, 1)} ms (${r.serverCpuMsPerClient.reps.map((v) => dec(v, 1)).join(' / ')})`)}; PostgreSQL ` +
      `${both((r) => `${dec(r.dbCpuMsPerClient.median, 1)} ms (${r.dbCpuMsPerClient.reps.map((v) => dec(v, 1)).join(' / ')})`)}; load generator ` +
      `${both((r) => `${dec(r.loadgenCpuMsPerClient.median, 1)} ms (${r.loadgenCpuMsPerClient.reps.map((v) => dec(v, 1)).join(' / ')})`)}`,
    `catch-up with nothing changed: server CPU per catch-up ${both((r) => `${dec(r.idle.serverCpuMs.median)} ms (${r.idle.serverCpuMs.reps.map((v) => dec(v)).join(' / ')})`)}; ` +
      `PostgreSQL CPU per catch-up ${both((r) => `${dec(r.idle.dbCpuMs.median)} ms (${r.idle.dbCpuMs.reps.map((v) => dec(v)).join(' / ')})`)}; ` +
      `catch-ups measured per repetition: ${both((r) => int(r.idle.latencyMs.count))}`,
    ...(sy.statements ?? []).map((s, i) => `sync storm ${i + 1} (GET /v1/sync), the database's costliest statements (--pg-stats): ${s}`),
    ...(sy.serverThreads ?? []).map((s, i) => `sync storm ${i + 1} (GET /v1/sync), the server's ${s}`),
    ...(sy.warmUp ?? []).map((s) => `sync storm warm-up before the storms (not measured: the flow's first catch-ups on this server process), ${s}`)
  ]
  return { rows, notes }
}
