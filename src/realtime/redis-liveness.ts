// A half-open TCP connection (a partition, a middlebox that stops forwarding)
// delivers nothing and reports nothing: a subscriber on one would wait for
// messages forever, and a QUIT sent on it would wait for its answer forever.
// PING is allowed in subscribe mode, so a PING that gets no answer in time
// finds it; the connection is then cut without waiting for the peer.
import type { Redis } from 'ioredis'

/** A subscriber connection is pinged this often; one that does not answer within the same time is cut. */
export const PING_MS = 10_000

/** How long shutdown waits for a connection to answer QUIT before cutting it. */
export const QUIT_MS = 1_000

/**
 * Closes the connection at once. Ending it (ioredis's disconnect) alone
 * would wait for the peer's FIN, which a partitioned peer never sends, so
 * the socket is destroyed too: ioredis sees it close now and reconnects
 * (`reconnect`, and a retryStrategy that allows it) or ends.
 */
export function cut (redis: Redis, reconnect: boolean): void {
  redis.disconnect(reconnect)
  ;(redis.stream as Redis['stream'] | undefined)?.destroy()
}

/**
 * PINGs a ready connection; if no answer comes within `deadlineMs`, calls
 * `silent` and cuts it with a reconnect: its owner's handling of the close
 * (resubscribing, telling sockets to replay) takes over.
 */
export function pingOrCut (redis: Redis, deadlineMs: number, silent: (err: unknown) => void): void {
  if (redis.status !== 'ready') return
  const stream = redis.stream
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer to PING in ${deadlineMs} ms`)), deadlineMs)
  })
  Promise.race([redis.ping(), late]).catch((err: unknown) => {
    // A connection that closed meanwhile is being handled already.
    if (redis.stream !== stream || stream.destroyed) return
    silent(err)
    cut(redis, true)
  }).finally(() => clearTimeout(timer))
}

/** QUIT, but for `ms` at most: a connection that does not answer is cut. */
export async function quitWithin (redis: Redis, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, ms) })
  await Promise.race([redis.quit().catch(() => {}), late])
  clearTimeout(timer)
  if (redis.status !== 'end') cut(redis, false)
}
