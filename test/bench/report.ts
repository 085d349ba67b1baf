// The printed table (Markdown, pasted as-is into the README) and the check of
// each result against the targets. Targets are requirements, not
// measurements; every number in the table comes from the results.
import type { BenchResults } from './bench.js'
import type { Latency } from './harness/stats.js'
import type { SystemRun } from './scenarios/fanout.js'

export interface TargetCheck { target: string, value: string, met: boolean }

const int = (n: number) => Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a'
const dec = (n: number, d = 2) => Number.isFinite(n) ? n.toFixed(d) : 'n/a'
const ms = (l: Latency, keys: Array<'p50' | 'p95' | 'p99'> = ['p50', 'p95', 'p99']) => keys.map((k) => dec(l[k], 1)).join(' / ')
const yes = (b: boolean) => b ? 'yes' : '**no**'

export function report (r: BenchResults): { table: string, targets: TargetCheck[], notes: string[] } {
  const rows: string[][] = []
  const targets: TargetCheck[] = []
  const notes: string[] = []
  const check = (target: string, value: string, met: boolean) => { targets.push({ target, value, met }); return yes(met) }
  const s = r.scenarios

  if (s.fanout !== undefined) {
    const f = s.fanout
    const n = int(f.receivers)
    rows.push([`1 fan-out, ${n} receivers, ${f.senders} senders: deliveries/s`, int(f.ours.saturation.deliveriesPerSec.median),
      `bare ws ${int(f.bare.saturation.deliveriesPerSec.median)}`, dec(f.ratios.deliveriesPerSec), '≥ 1.0×',
      check('fan-out deliveries/s ≥ 1.0× bare ws', dec(f.ratios.deliveriesPerSec), f.ratios.deliveriesPerSec >= 1)])
    rows.push(['1 fan-out: deliveries per server CPU-second', int(f.ours.saturation.deliveriesPerCpuSec.median),
      `bare ws ${int(f.bare.saturation.deliveriesPerCpuSec.median)} (encoded once: ${int(f.bareEncodeOnce.saturation.deliveriesPerCpuSec.median)})`,
      dec(f.ratios.deliveriesPerCpuSec), '≥ 1.0×',
      check('fan-out deliveries per CPU-second ≥ 1.0× bare ws', dec(f.ratios.deliveriesPerCpuSec), f.ratios.deliveriesPerCpuSec >= 1)])
    const paced = f.ours.paced!
    rows.push([`1 post→push latency p50 / p95 / p99 at ${f.rate} posts/s (ms)`, ms(paced.latencyMs), `bare ws ${ms(f.bare.paced!.latencyMs)}`, '',
      'p99 ≤ 25 ms', check(`post→push p99 ≤ 25 ms at ${f.rate} posts/s, ${n} receivers`, dec(paced.latencyMs.p99, 1), paced.latencyMs.p99 <= 25)])
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
    const peers = fanoutPeers(s.fanout, check)
    rows.push(...peers.rows)
    notes.push(...peers.notes)
  }

  if (s.posting !== undefined) {
    for (const l of s.posting.levels) {
      const top = l.concurrency === Math.max(...s.posting.levels.map((x) => x.concurrency))
      rows.push([`2 posting, ${l.concurrency} concurrent: acks/s (p50 / p99 ms)`, `${int(l.ours.perSec.median)} (${ms(l.ours.latencyMs, ['p50', 'p99'])})`,
        `raw INSERT ${int(l.rawInsert.perSec.median)} (${ms(l.rawInsert.latencyMs, ['p50', 'p99'])})`, dec(l.ratio), top ? '≥ 1.0×' : '',
        top ? check(`posting at ${l.concurrency} senders ≥ 1.0× raw single-row INSERT`, dec(l.ratio), l.ratio >= 1) : ''])
    }
  }
  if (s.posting !== undefined) {
    const peers = postingPeers(s.posting, check)
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
      rows.push([`3 idle connections: RSS per connection at ${int(l.attempted)} (KiB)`, dec(l.perConnectionKiB.median, 1),
        `bare ws ${dec(b.perConnectionKiB.median, 1)}`, dec(c.ratioPerConnection[i]!), '≤ 10 KiB',
        check(`RSS per idle connection ≤ 10 KiB at ${int(l.attempted)}`, dec(l.perConnectionKiB.median, 1), l.perConnectionKiB.median <= 10)])
    })
    const last = c.ours[c.ours.length - 1]!
    rows.push(['3 connections opened per second', int(c.ours[0]!.openedPerSec.median), `bare ws ${int(c.bare[0]!.openedPerSec.median)}`,
      dec(c.ours[0]!.openedPerSec.median / c.bare[0]!.openedPerSec.median), '', ''])
    const wanted = Math.max(...r.meta.options.connections)
    rows.push(['3 connections held by one process', int(last.held.median), '', '', `${int(wanted)}`,
      check(`${int(wanted)} connections held by one process`, int(last.held.median), last.held.median >= wanted)])
    if (c.cappedBy !== undefined) notes.push(`connections capped: ${c.cappedBy}`)
  }

  if (s.history !== undefined) {
    const h = s.history
    for (const d of h.depths) {
      rows.push([`4 history page before seq ${int(d.beforeSeq)} of ${int(h.messages)}: p50 / p99 (ms)`, ms(d.latencyMs, ['p50', 'p99']), '', '', 'p99 ≤ 5 ms',
        check(`history p99 ≤ 5 ms before seq ${int(d.beforeSeq)}`, dec(d.latencyMs.p99), d.latencyMs.p99 <= 5)])
    }
    rows.push(['4 history deep / shallow (p50; p99)', `${dec(h.deepOverShallow.p50)}; ${dec(h.deepOverShallow.p99)}`, '', '', '≤ 1.5',
      check('history deep/shallow ≤ 1.5 (p50)', dec(h.deepOverShallow.p50), h.deepOverShallow.p50 <= 1.5)])
  }

  if (s.scaleout !== undefined) {
    const so = s.scaleout
    for (const c of so.clusters) {
      rows.push([`5 cluster, ${c.workers} workers, BROKER=${c.broker}: deliveries per CPU-second at ${so.rate} posts/s`, int(c.paced.deliveriesPerCpuSec.median),
        `one process ${int(so.singleProcess.deliveriesPerCpuSecPaced)}`, dec(c.efficiency), '≥ 0.8',
        check(`cluster efficiency ≥ 0.8 at ${so.rate} posts/s (BROKER=${c.broker})`, dec(c.efficiency), c.efficiency >= 0.8)])
      rows.push([`5 cluster, ${c.workers} workers, BROKER=${c.broker}: deliveries per CPU-second saturated`, int(c.saturation.deliveriesPerCpuSec.median),
        `one process ${int(so.singleProcess.deliveriesPerCpuSec)}`, dec(c.efficiencySaturated), '≥ 0.8',
        check(`cluster efficiency ≥ 0.8 saturated (BROKER=${c.broker})`, dec(c.efficiencySaturated), c.efficiencySaturated >= 0.8)])
      rows.push([`5 cluster, BROKER=${c.broker}: post→push p50 / p95 / p99 at ${so.rate} posts/s (ms)`, ms(c.paced.latencyMs), '', '', '', ''])
      rows.push([`5 one worker behind BROKER=${c.broker} (broker overhead per delivery): deliveries per CPU-second at ${so.rate} posts/s`,
        int(c.oneWorker.paced.deliveriesPerCpuSec.median), `one process ${int(so.singleProcess.deliveriesPerCpuSecPaced)}`, dec(c.oneWorker.efficiency), '≥ 0.8',
        check(`broker overhead ≤ 20% per delivery (BROKER=${c.broker})`, dec(c.oneWorker.efficiency), c.oneWorker.efficiency >= 0.8)])
      notes.push(`cluster BROKER=${c.broker}: ${int(c.saturation.deliveriesPerSec.median)} deliveries/s saturated on ${dec(c.saturation.serverCores.median)} server cores; ` +
        `sockets per worker ${c.socketsPerWorker.join(' / ')}; PostgreSQL${c.broker === 'redis' ? ' + Redis' : ''} ${dec(c.saturation.dbCores.median)} cores`)
    }
  }

  if (s.storm !== undefined) {
    const st = s.storm
    const ok = st.catchUpMs.median <= 10_000 && st.lost === 0 && st.duplicates === 0
    rows.push([`6 reconnect storm, ${int(st.clients)} clients: all caught up (s)`, dec(st.catchUpMs.median / 1000),
      `lost ${st.lost}, duplicates ${st.duplicates} of ${int(st.expected)} events`, '', '≤ 10 s, 0 lost, 0 dup',
      check(`storm of ${int(st.clients)} caught up ≤ 10 s with 0 lost / 0 duplicate`, `${dec(st.catchUpMs.median / 1000)} s, ${st.lost} lost, ${st.duplicates} dup`, ok)])
  }

  const header = ['figure', 'Switchboard', 'baseline', 'ratio', 'target', 'met']
  const table = [header, header.map(() => '---'), ...rows].map((cols) => `| ${cols.join(' | ')} |`).join('\n')
  return { table, targets, notes }
}

type Check = (target: string, value: string, met: boolean) => string
type Rows = { rows: string[][], notes: string[] }

/** Fan-out against the peers users would pick instead: the naive Fastify + Prisma server and Socket.IO. */
function fanoutPeers (f: NonNullable<BenchResults['scenarios']['fanout']>, check: Check): Rows {
  const ours = f.ours.saturation
  const rows: string[][] = [
    ['1 fan-out vs the naive server (Fastify + Prisma): deliveries/s', int(ours.deliveriesPerSec.median),
      `naive ${int(f.naive.saturation.deliveriesPerSec.median)}`, dec(f.ratios.deliveriesPerSecVsNaive), '', ''],
    ['1 fan-out vs Socket.IO 4 + Redis adapter: deliveries/s', int(ours.deliveriesPerSec.median),
      `Socket.IO ${int(f.socketio.saturation.deliveriesPerSec.median)}`, dec(f.ratios.deliveriesPerSecVsSocketio), '≥ 1.5×',
      check('fan-out deliveries/s ≥ 1.5× Socket.IO', dec(f.ratios.deliveriesPerSecVsSocketio), f.ratios.deliveriesPerSecVsSocketio >= 1.5)],
    [`1 post→push latency of the peers at ${f.rate} posts/s: p50 / p95 / p99 (ms)`, ms(f.ours.paced!.latencyMs),
      `naive ${ms(f.naive.paced!.latencyMs)}; Socket.IO ${ms(f.socketio.paced!.latencyMs)}`, '', '', '']
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

/** Posting against the naive Fastify + Prisma server (one interactive transaction per post). */
function postingPeers (p: NonNullable<BenchResults['scenarios']['posting']>, check: Check): Rows {
  const topConcurrency = Math.max(...p.levels.map((x) => x.concurrency))
  const rows = p.levels.map((l) => {
    const top = l.concurrency === topConcurrency
    return [`2 posting, ${l.concurrency} concurrent, vs the naive server (Fastify + Prisma): acks/s (p50 / p99 ms)`,
      `${int(l.ours.perSec.median)} (${ms(l.ours.latencyMs, ['p50', 'p99'])})`,
      `naive ${int(l.naive.perSec.median)} (${ms(l.naive.latencyMs, ['p50', 'p99'])})`, dec(l.ratioVsNaive), top ? '≥ 3×' : '',
      top ? check(`posting at ${l.concurrency} senders ≥ 3× the naive server`, dec(l.ratioVsNaive), l.ratioVsNaive >= 3) : '']
  })
  const notes = ['naive server posting CPU (cores: server / PostgreSQL / load generator): ' + p.levels.map((l) =>
    `${l.concurrency} concurrent: ${dec(l.naive.serverCores.median)} / ${dec(l.naive.dbCores.median)} / ${dec(l.naive.loadgenCores.median)}` +
    (l.naive.failed > 0 ? ` (${int(l.naive.failed)} posts failed)` : '')).join('; ')]
  return { rows, notes }
}
