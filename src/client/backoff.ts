// Reconnect delays: exponential with jitter, so that a fleet of clients cut
// off together does not come back in lockstep.
export interface BackoffOptions {
  /** First delay (ms). */
  initialMs: number
  /** Largest delay before jitter (ms). */
  maxMs: number
  factor: number
  /** 0.5 spreads each delay over ±50 %. */
  jitter: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5 }

/** The delay before attempt number `attempt` (0-based) of a series of failures. */
export function backoffDelay (attempt: number, options: Partial<BackoffOptions> = {}, random: () => number = Math.random): number {
  const o = { ...DEFAULT_BACKOFF, ...options }
  const base = Math.min(o.maxMs, o.initialMs * o.factor ** Math.max(0, attempt))
  const spread = 1 - o.jitter + 2 * o.jitter * random()
  return Math.max(0, Math.round(base * spread))
}
