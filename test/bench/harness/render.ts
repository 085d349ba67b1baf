// How the report prints figures and checks targets: each figure as its
// median with every repetition beside it, marked when the repetitions spread
// too far to quote the median; each target checked against every
// repetition, naming the ones that missed; and per scenario a line on what
// the machine did meanwhile (harness/machine.ts).
import { CPU_PROBE_EVERY_MS, DISK_STALL_MS, type PhaseRecord } from './machine.js'
import { median, UNSTABLE_SPREAD, type Figure, type LatencyFigure } from './stats.js'

export interface TargetCheck {
  target: string
  /** The median, as printed. */
  value: string
  /** Met only when every repetition meets it. */
  met: boolean
  /** Every repetition's value, as printed, and the numbers (from 1) of those that missed. */
  reps: string[]
  missed: number[]
}

type Format = (n: number) => string

export const int: Format = (n) => Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a'
export const dec = (n: number, d = 2) => Number.isFinite(n) ? n.toFixed(d) : 'n/a'
const pct = (spread: number) => Number.isFinite(spread) ? `${Math.round(spread * 100)}%` : '∞'
const yes = (b: boolean) => b ? 'yes' : '**no**'

export function renderer () {
  const unstable: string[] = []
  const targets: TargetCheck[] = []
  const flag = (name: string, spread: number, isUnstable: boolean) => {
    if (!isUnstable) return ''
    // A figure printed in two rows (Switchboard's beside each peer) is one unstable figure.
    const entry = `${name} (±${pct(spread)})`
    if (!unstable.includes(entry)) unstable.push(entry)
    return ` **unstable** ±${pct(spread)}`
  }
  return {
    unstable,
    targets,
    /** "1.21 (1.10 / 1.21 / 1.30)", and " **unstable** ±31%" when the repetitions spread more than 25 % of the median. */
    fig (name: string, f: Figure, fmt: Format = int): string {
      return `${fmt(f.median)} (${f.reps.map(fmt).join(' / ')})${flag(name, f.spread, f.unstable)}`
    },
    /** "1.9 / 5.7 / 14.1 (p99 6.6 / 14.1 / 20.4)": the medians of the percentiles, and the p99 of each repetition. */
    lat (name: string, l: LatencyFigure, keys: Array<'p50' | 'p95' | 'p99'> = ['p50', 'p95', 'p99']): string {
      const spreadOf = (k: 'p50' | 'p95' | 'p99') => Number.isNaN(l.spread[k]) ? -1 : l.spread[k]
      const worst = [...keys].sort((a, b) => spreadOf(b) - spreadOf(a))[0]!
      const isUnstable = spreadOf(worst) > UNSTABLE_SPREAD
      return `${keys.map((k) => dec(l[k], 1)).join(' / ')} (p99 ${l.reps.map((r) => dec(r.p99, 1)).join(' / ')})` +
        flag(`${name} ${worst}`, l.spread[worst], isUnstable)
    },
    /** A ratio of medians, and in brackets the ratio of each repetition. */
    ratio (value: number, perRep: Figure): string {
      return `${dec(value)} (${perRep.reps.map((x) => dec(x)).join(' / ')})`
    },
    /**
     * Checks a target against every repetition (and `also`, a condition on
     * the whole run); the cell says which repetitions missed.
     */
    check (target: string, reps: number[], meets: (v: number) => boolean, fmt: Format, also = true, value?: string): string {
      const missed = reps.flatMap((v, i) => meets(v) ? [] : [i + 1])
      const met = reps.length > 0 && missed.length === 0 && also
      const printed = reps.map(fmt)
      targets.push({ target, value: value ?? fmt(median(reps)), met, reps: printed, missed })
      if (missed.length === 0) return yes(met)
      return `${yes(false)} (${missed.length === reps.length ? 'every repetition' : `repetition ${missed.map((i) => `${i}: ${printed[i - 1]!}`).join(', ')}`})`
    }
  }
}

export type Renderer = ReturnType<typeof renderer>

/** A measured window as the machine line names it: its phase (or step), and its repetition. */
const windowName = (r: PhaseRecord) => `${r.phase ?? r.step}${r.rep === undefined ? '' : ` rep ${r.rep}`}`

/** A window whose CPU probe took this many times as long as the scenario's fastest window's ran on a slower CPU. */
const SLOW_CPU = 1.3

/** More than this share of the cores taken by other processes during a window makes it a busy one. */
const BUSY_SHARE = 0.25

/**
 * One line per scenario on what the machine did during its measured windows:
 * the range of the load average, other processes' CPU, the wait events of
 * the database's active backends, and the posts per group commit.
 */
export function machineLines (records: PhaseRecord[], cores: number): string[] {
  const byScenario = new Map<string, PhaseRecord[]>()
  for (const r of records) byScenario.set(r.scenario, [...(byScenario.get(r.scenario) ?? []), r])
  const lines: string[] = []
  for (const [scenario, rs] of byScenario) {
    const loads = rs.flatMap((r) => [r.loadAverage.start[0]!, r.loadAverage.end[0]!])
    const others = rs.map((r) => r.otherCores)
    const parts = [
      `load average ${dec(Math.min(...loads))}–${dec(Math.max(...loads))} (1 min, at the start and end of ${rs.length} windows; ${cores} cores)`,
      `other processes ${dec(Math.min(...others))}–${dec(Math.max(...others))} cores`
    ]
    const steal = Math.max(...rs.map((r) => r.stealCores))
    if (steal >= 0.05) parts.push(`stolen by the hypervisor up to ${dec(steal)} cores`)
    const samples = rs.reduce((s, r) => s + r.waits.samples, 0)
    const events = new Map<string, number>()
    for (const r of rs) for (const [e, n] of Object.entries(r.waits.events)) events.set(e, (events.get(e) ?? 0) + n)
    const top = [...events].sort((a, b) => b[1] - a[1]).slice(0, 5)
    parts.push(samples === 0
      ? `PostgreSQL wait events not sampled${rs.find((r) => r.waits.error !== undefined)?.waits.error === undefined ? '' : ` (${rs.find((r) => r.waits.error !== undefined)!.waits.error!})`}`
      : `PostgreSQL active backends per sample (${samples} samples): ${top.length === 0 ? 'none' : top.map(([e, n]) => `${e} ${dec(n / samples)}`).join(', ')}`)
    const probed = rs.filter((r) => r.disk !== undefined)
    if (probed.length > 0) {
      const stalled = probed.filter((r) => r.disk!.stalls > 0)
      parts.push(`disk flushes (a 4 KiB write and fdatasync every 100 ms) slowest ${dec(Math.max(...probed.map((r) => r.disk!.maxMs)), 0)} ms; ` +
        (stalled.length === 0
          ? `no stall of ${DISK_STALL_MS} ms or more`
          : `stalls of ${DISK_STALL_MS} ms or more in ${stalled.length} of ${probed.length} windows (${stalled.map((r) => `${windowName(r)}: ${dec(r.disk!.maxMs, 0)} ms`).join(', ')})`))
    }
    const timed = rs.filter((r) => r.cpu !== undefined)
    if (timed.length > 0) {
      const medians = timed.map((r) => r.cpu!.medianUs)
      const fastest = Math.min(...medians)
      const slow = timed.filter((r) => r.cpu!.medianUs >= SLOW_CPU * fastest)
      parts.push(`CPU probe (64 KiB deflated every ${CPU_PROBE_EVERY_MS} ms, timed on the CPU) median per window ${int(fastest)}–${int(Math.max(...medians))} µs; ` +
        (slow.length === 0
          ? `no window ${SLOW_CPU}× the fastest or slower`
          : `${slow.length} of ${timed.length} windows ${SLOW_CPU}× the fastest or slower (${slow.map((r) => `${windowName(r)}: ${dec(r.cpu!.medianUs / fastest)}×`).join(', ')})`))
    }
    const byPhase = new Map<string, Array<{ calls: number, posts: number, mean: number, maxAtMost: number }>>()
    for (const r of rs) {
      if (r.batches === undefined || 'error' in r.batches || r.batches.calls === 0) continue
      const key = r.phase ?? r.step
      byPhase.set(key, [...(byPhase.get(key) ?? []), r.batches])
    }
    if (byPhase.size > 0) {
      parts.push('posts per post_messages call: ' + [...byPhase].map(([phase, bs]) => {
        const means = bs.map((b) => b.mean)
        const calls = bs.reduce((s, b) => s + b.calls, 0)
        const posts = bs.reduce((s, b) => s + b.posts, 0)
        return `${phase} mean ${dec(posts / calls, 1)} (windows ${dec(Math.min(...means), 1)}–${dec(Math.max(...means), 1)}), largest ≤ ${int(Math.max(...bs.map((b) => b.maxAtMost)))}`
      }).join('; '))
    }
    lines.push(`machine, ${scenario}: ${parts.join('; ')}`)
  }
  return lines
}

/** The warnings above the table: a machine busy at the start or during windows, and unstable figures. */
export function warnings (o: { loadAtStart: number, cores: number, records: PhaseRecord[], unstable: string[] }): string[] {
  const out: string[] = []
  if (o.loadAtStart > o.cores) {
    out.push(`WARNING: busy machine: load average ${dec(o.loadAtStart)} at the start on ${o.cores} cores; the figures include other work's effect`)
  }
  const busy = o.records.filter((r) => r.otherCores > BUSY_SHARE * o.cores)
  if (busy.length > 0) {
    out.push(`WARNING: other processes took more than ${dec(BUSY_SHARE * o.cores)} cores in ${busy.length} of ${o.records.length} measured windows ` +
      `(up to ${dec(Math.max(...busy.map((r) => r.otherCores)))}; scenarios ${[...new Set(busy.map((r) => r.scenario))].join(', ')})`)
  }
  if (o.unstable.length > 0) {
    out.push(`WARNING: ${o.unstable.length} unstable figure${o.unstable.length === 1 ? '' : 's'} (repetitions spread more than ${Math.round(UNSTABLE_SPREAD * 100)}% of their median; ` +
      `quote the repetitions, not the median): ${o.unstable.join('; ')}`)
  }
  return out
}
