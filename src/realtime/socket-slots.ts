// WS_MAX_CONNECTIONS_PER_USER across processes (BROKER=redis): each open
// socket holds a slot in a sorted set per user in Redis, scored by when the
// slot lapses. An upgrade takes a slot in one script (drop the lapsed ones,
// count, add) or is refused with 429; a closing socket gives its slot back;
// every process renews the slots of its open sockets well before they lapse,
// so the slots of a process that died lapse by themselves within the TTL.
// Scores come from Redis's own clock (TIME in the scripts), so the processes'
// clocks do not matter. One key per script: it runs on a Redis Cluster.
//
// Without Redis, or while it cannot be reached, each process counts its own
// sockets (as the rate limits skip Redis when it fails: a request is answered,
// not failed, and a limit is not a reason to refuse a user everywhere).
//
// A socket that closes while Redis cannot be reached cannot give its slot
// back then; left in Redis, the slot would count against its user until it
// lapses (WS_SLOT_TTL_MS), and refuse them sockets under their limit once
// Redis is back. So a release that fails is kept and sent again when the
// connection is ready again and with every renewal, until it succeeds or the
// slot has lapsed anyway. (The other way, each renewal replacing all of its
// process's slots, would need every slot tagged with its process and would
// still miss users who have no socket left on it, whom no renewal visits.)
import { Cluster, type Redis } from 'ioredis'

export interface SocketSlots {
  /**
   * Takes a slot for a socket about to open; false when the user has no slot
   * left. `localCount`: the user's sockets open in this process.
   */
  take (userId: string, connectionId: string, localCount: number): Promise<boolean>
  /** The socket of a slot opened: from now on it is one of the `localCount`. */
  opened (userId: string, connectionId: string): void
  /** Gives a closed socket's slot back. */
  release (userId: string, connectionId: string): void
  close (): void
}

/**
 * Each process counts its own sockets: those open, and the upgrades between
 * their slot and their socket (a handshake under way is not open yet, so
 * counting open sockets alone let 30 parallel upgrades of one user all in
 * under a limit of 3). A handshake that never completes holds its slot
 * `pendingMs` at most.
 */
export function localSocketSlots (max: number, pendingMs = 10_000): SocketSlots {
  const pending = new Map<string, Map<string, number>>()
  const drop = (userId: string, connectionId: string) => {
    const mine = pending.get(userId)
    if (mine === undefined) return
    mine.delete(connectionId)
    if (mine.size === 0) pending.delete(userId)
  }
  return {
    take: async (userId, connectionId, localCount) => {
      const now = Date.now()
      const mine = pending.get(userId) ?? new Map<string, number>()
      for (const [id, until] of mine) if (until <= now) mine.delete(id)
      if (localCount + mine.size >= max) {
        if (mine.size === 0) pending.delete(userId)
        return false
      }
      mine.set(connectionId, now + pendingMs)
      pending.set(userId, mine)
      return true
    },
    opened: drop,
    release: drop,
    close: () => pending.clear()
  }
}

// KEYS[1]: the user's set. ARGV: max, ttl (ms), connection id. 1: taken, 0: full.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[3]) == false and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1`

// KEYS[1]: the user's set. ARGV: ttl (ms), then the connection ids of this process to renew.
const RENEW = `
local t = redis.call('TIME')
local until_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], until_ms, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1`

/** Failed releases kept for a retry, at most (past it the oldest are left to lapse by themselves). */
const UNRELEASED_MAX = 10_000

export interface SharedSocketSlotsOptions {
  redis: Redis | Cluster
  /** Prefix of the keys (the broker channel: deployments sharing a Redis do not share slots). */
  prefix: string
  max: number
  ttlMs: number
  /** The open sockets of this process, by user: what a renewal renews. */
  open: () => Map<string, string[]>
  onError: (err: unknown) => void
}

export function sharedSocketSlots (opts: SharedSocketSlotsOptions): SocketSlots {
  const { redis, max, ttlMs } = opts
  redis.defineCommand('sbTakeSocketSlot', { numberOfKeys: 1, lua: TAKE })
  redis.defineCommand('sbRenewSocketSlots', { numberOfKeys: 1, lua: RENEW })
  const call = redis as unknown as {
    sbTakeSocketSlot (key: string, max: number, ttl: number, id: string): Promise<number>
    sbRenewSocketSlots (key: string, ttl: number, ...ids: string[]): Promise<number>
  }
  const key = (userId: string) => `${opts.prefix}:ws-slots:{${userId}}`

  // Failed releases by connection id, oldest first, with when the socket closed.
  const unreleased = new Map<string, { userId: string, closedAt: number }>()
  const release = (userId: string, connectionId: string, closedAt: number, retry: boolean) => {
    redis.zrem(key(userId), connectionId).catch((err: unknown) => {
      // Reported once per socket, not at every retry.
      if (!retry) opts.onError(err)
      unreleased.set(connectionId, { userId, closedAt })
      if (unreleased.size > UNRELEASED_MAX) unreleased.delete(unreleased.keys().next().value!)
    })
  }
  const retryReleases = () => {
    const now = Date.now()
    for (const [connectionId, { userId, closedAt }] of unreleased) {
      unreleased.delete(connectionId)
      // A slot lapses ttlMs after its last renewal at the latest, which came before its socket closed.
      if (now - closedAt < ttlMs) release(userId, connectionId, closedAt, true)
    }
  }
  redis.on('ready', retryReleases)

  let renewing = false
  const timer = setInterval(() => {
    retryReleases()
    if (renewing) return
    renewing = true
    let done: Promise<unknown>
    if (redis instanceof Cluster) {
      // A pipeline on a cluster must keep to one slot: one command per user instead.
      const renewals: Array<Promise<number>> = []
      for (const [userId, ids] of opts.open()) if (ids.length > 0) renewals.push(call.sbRenewSocketSlots(key(userId), ttlMs, ...ids))
      done = Promise.all(renewals)
    } else {
      const pipeline = redis.pipeline()
      let n = 0
      for (const [userId, ids] of opts.open()) {
        if (ids.length === 0) continue
        (pipeline as unknown as typeof call).sbRenewSocketSlots(key(userId), ttlMs, ...ids)
        n++
      }
      done = n === 0 ? Promise.resolve() : pipeline.exec()
    }
    done.catch(opts.onError).finally(() => { renewing = false })
  }, Math.max(100, Math.floor(ttlMs / 3)))
  timer.unref()

  return {
    async take (userId, connectionId, localCount) {
      try {
        return await call.sbTakeSocketSlot(key(userId), max, ttlMs, connectionId) === 1
      } catch (err) {
        opts.onError(err)
        return localCount < max
      }
    },
    // Redis holds the slot from the take: an open socket adds nothing.
    opened () {},
    release (userId, connectionId) {
      release(userId, connectionId, Date.now(), false)
    },
    close () {
      clearInterval(timer)
      redis.off('ready', retryReleases)
    }
  }
}
