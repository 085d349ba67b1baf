// Percentiles of latency samples, and medians and spreads over repetitions.

export interface Latency { count: number, p50: number, p95: number, p99: number, max: number }

/** Nearest-rank percentile of an ascending array. */
export function percentile (sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!
}

export function summarize (samples: ArrayLike<number>): Latency {
  const sorted = Float64Array.from(samples).sort()
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!
  }
}

export function median (values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const mid = Math.floor(v.length / 2)
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2
}

/** A figure is unstable when its repetitions span more than this fraction of their median. */
export const UNSTABLE_SPREAD = 0.25

/**
 * (max - min) / median of the finite repetitions: 0 when they agree, 0.31
 * when they span 31 % of their median; Infinity when they differ around a
 * median of 0 (JSON writes it as null).
 */
export function spread (reps: number[]): number {
  const v = reps.filter((x) => Number.isFinite(x))
  if (v.length === 0) return NaN
  const lo = Math.min(...v)
  const hi = Math.max(...v)
  if (hi === lo) return 0
  const m = median(v)
  return m === 0 ? Infinity : (hi - lo) / Math.abs(m)
}

/**
 * A figure measured in several repetitions: the median, every repetition,
 * their spread, and whether that spread makes the median untrustworthy.
 */
export interface Figure { median: number, reps: number[], spread: number, unstable: boolean }

export function figure (reps: number[]): Figure {
  const s = spread(reps)
  return { median: median(reps), reps, spread: s, unstable: s > UNSTABLE_SPREAD }
}

type Percentile = 'p50' | 'p95' | 'p99'

/** One percentile of a latency summary over its repetitions, as a figure. */
export const percentileFigure = (l: { reps: Latency[] }, p: Percentile): Figure => figure(l.reps.map((r) => r[p]))

/**
 * Medians of each field over repetitions of a latency summary, with the
 * spread of each percentile; unstable when any of them is.
 */
/** A latency summary over repetitions: the medians of each field, every repetition, and the spread of each percentile. */
export type LatencyFigure = Latency & { reps: Latency[], spread: Record<Percentile, number>, unstable: boolean }

export function medianLatency (reps: Latency[]): LatencyFigure {
  const of = (p: Percentile) => figure(reps.map((r) => r[p]))
  const [p50, p95, p99] = [of('p50'), of('p95'), of('p99')]
  return {
    count: median(reps.map((r) => r.count)),
    p50: p50.median,
    p95: p95.median,
    p99: p99.median,
    max: median(reps.map((r) => r.max)),
    reps,
    spread: { p50: p50.spread, p95: p95.spread, p99: p99.spread },
    unstable: p50.unstable || p95.unstable || p99.unstable
  }
}

export const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? a / b : NaN)

/**
 * The ratio of each repetition of `a` to the repetition of `b` with the same
 * number (both sides measured alike, in the same order), or to `b`'s median
 * when their counts differ or `b` is a single number.
 */
export function ratioFigure (a: Figure, b: Figure | number): Figure {
  const paired = typeof b !== 'number' && b.reps.length === a.reps.length
  return figure(a.reps.map((x, i) => ratio(x, typeof b === 'number' ? b : paired ? b.reps[i]! : b.median)))
}

/** A growable buffer of samples that survives hundreds of thousands of pushes cheaply. */
export class Samples {
  private data = new Float64Array(1 << 16)
  length = 0

  push (v: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2)
      next.set(this.data)
      this.data = next
    }
    this.data[this.length++] = v
  }

  /** Summarizes and forgets everything pushed so far. */
  take (): Latency {
    const out = summarize(this.data.subarray(0, this.length))
    this.length = 0
    return out
  }
}
