// Closed-loop load: `n` loops, each issuing its next request when the last
// one is answered (and an open loop at a fixed rate, below). Counts successes and failures and records each request's
// latency; mark() reports what happened since the previous mark.
import { performance } from 'node:perf_hooks'
import { Samples, type Latency } from '../harness/stats.js'

export interface LoopMark { elapsedMs: number, ok: number, failed: number, perSec: number, latency: Latency, error?: string }

export function closedLoops (task: (loop: number, iteration: number) => Promise<boolean>) {
  const latency = new Samples()
  let ok = 0
  let failed = 0
  let lastError: string | undefined
  let running = false
  let loops: Array<Promise<void>> = []
  let markedAt = performance.now()

  async function loop (index: number): Promise<void> {
    for (let i = 0; running; i++) {
      const t = performance.now()
      try {
        if (await task(index, i)) {
          ok++
          latency.push(performance.now() - t)
        } else failed++
      } catch (err) {
        failed++
        lastError = err instanceof Error ? err.message : String(err)
        await new Promise((r) => setTimeout(r, 10))
      }
    }
  }

  return {
    start (n: number): void {
      running = true
      loops = Array.from({ length: n }, (_, i) => loop(i))
    },
    /** Requests answered since the last mark. */
    peek (): number { return ok },
    mark (): LoopMark {
      const now = performance.now()
      const elapsedMs = now - markedAt
      const out: LoopMark = { elapsedMs, ok, failed, perSec: ok / (elapsedMs / 1000), latency: latency.take() }
      if (lastError !== undefined) out.error = lastError
      markedAt = now
      ok = failed = 0
      lastError = undefined
      return out
    },
    async stop (): Promise<void> {
      running = false
      await Promise.all(loops)
    }
  }
}

/**
 * Open loop: calls `fire` `rate` times per second on schedule, whatever the
 * answers take, until `running()` turns false; checks the schedule every `tickMs`.
 */
export async function openLoop (rate: number, running: () => boolean, fire: (n: number) => void, tickMs = 1): Promise<void> {
  const start = performance.now()
  let sent = 0
  while (running()) {
    const due = Math.floor(((performance.now() - start) / 1000) * rate)
    for (; sent < due; sent++) fire(sent)
    await new Promise((r) => setTimeout(r, tickMs))
  }
}

