// Admission for a burst of one kind of expensive request (the catch-ups of a
// reconnect storm): at most `concurrency` run at once in this process, the
// others wait their turn in arrival order.
//
// Without it, a thousand catch-ups that arrive together all start at once and
// each of their statements queues for a pooled connection behind the others'
// statements: every catch-up ends near the end of the burst (the median
// client waited as long as the last), and statements that waited longer than
// the pool's connect timeout failed with 503 after the work before them was
// done, to be done again on the retry. Admitted in turn, the first clients
// are served in milliseconds, statements rarely queue for a connection, and
// the wait is bounded here instead: a request that finds `maxQueued` waiting,
// or that waited `maxWaitMs` before its turn, answers 503 UNAVAILABLE with a
// Retry-After of about the time the queue takes to drain (with jitter, so that
// refused clients do not come back together). A request whose client went
// away before its turn is dropped without running.
import pLimit from 'p-limit'
import { performance } from 'node:perf_hooks'
import { RetryLaterError } from './errors.js'

export interface AdmissionOptions {
  /** Requests running at once. */
  concurrency: number
  /** Requests waiting at most; one more answers 503 at once. */
  maxQueued: number
  /** A request that waited longer than this for its turn answers 503 instead of running. */
  maxWaitMs: number
  /** What is admitted, for the error's message (say, 'Catch-ups'). */
  what: string
}

export interface Admission {
  /** Runs `task` in its turn; `gone()` true at its turn (the client left) skips it. */
  run: <T>(task: () => Promise<T>, gone?: () => boolean) => Promise<T>
  /** Running and waiting now. */
  readonly active: number
  readonly queued: number
  /** Refused so far (queue full or waited too long), and dropped because the client had left. */
  readonly refused: number
  readonly dropped: number
}

/** Weight of the newest duration in the running mean of how long a request runs. */
const SMOOTHING = 0.05

export function createAdmission (opts: AdmissionOptions): Admission {
  const limit = pLimit(opts.concurrency)
  let meanRunMs = 10
  let refused = 0
  let dropped = 0

  const busy = (): RetryLaterError => {
    // About the time the requests waiting now take to run, from 1 s, times 1-2 (jitter), at most a minute.
    const drainSeconds = (limit.pendingCount + 1) * meanRunMs / opts.concurrency / 1000
    const retryAfter = Math.min(60, Math.ceil(Math.max(1, drainSeconds) * (1 + Math.random())))
    return new RetryLaterError('UNAVAILABLE', `${opts.what} are queued beyond this server's limit; retry in ${retryAfter} s`, retryAfter, 503)
  }

  return {
    async run (task, gone) {
      if (limit.pendingCount >= opts.maxQueued) {
        refused++
        throw busy()
      }
      const queuedAt = performance.now()
      return await limit(async () => {
        if (gone?.() === true) {
          dropped++
          throw busy()
        }
        const started = performance.now()
        if (started - queuedAt > opts.maxWaitMs) {
          refused++
          throw busy()
        }
        try {
          return await task()
        } finally {
          meanRunMs += SMOOTHING * (performance.now() - started - meanRunMs)
        }
      })
    },
    get active () { return limit.activeCount },
    get queued () { return limit.pendingCount },
    get refused () { return refused },
    get dropped () { return dropped }
  }
}
