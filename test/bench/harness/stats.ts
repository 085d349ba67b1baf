// Percentiles of latency samples and medians over repetitions.

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

/** A figure measured in several repetitions: the median and every repetition. */
export interface Figure { median: number, reps: number[] }

export const figure = (reps: number[]): Figure => ({ median: median(reps), reps })

/** Medians of each field over repetitions of a latency summary. */
export function medianLatency (reps: Latency[]): Latency & { reps: Latency[] } {
  return {
    count: median(reps.map((r) => r.count)),
    p50: median(reps.map((r) => r.p50)),
    p95: median(reps.map((r) => r.p95)),
    p99: median(reps.map((r) => r.p99)),
    max: median(reps.map((r) => r.max)),
    reps
  }
}

export const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? a / b : NaN)

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
